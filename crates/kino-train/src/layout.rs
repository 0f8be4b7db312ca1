//! The layout stage in training ([`Recipe::layout_planes`]): its sizes for a recipe, the
//! world's truth as plans (what the DiT is given while it learns), and the path generator's
//! own stage, trained before the DiT on the world's scenes.
//!
//! The stage's reader is the caption-parse head ([`crate::caption_parse`]), trained with the
//! text encoder; the generator learns the world's paths given the classes a caption names
//! (one-hot here; the reader's probabilities at generation time), by flow matching on
//! batches of poses the world's renderer plans without painting a pixel.

use candle_core::{DType, Device, Result, Tensor};
use kino_models::layout::{POSE_VALUES, SceneLayout, SceneLayoutConfig, layout_planes};
use kino_world::{Background, Colour, Motion, Rng, SceneSpec, Shape, Split};

use crate::caption_parse::{OBJECT_SLOTS, ParseTargets};
use crate::data::ObjectPoses;
use crate::model::gaussian;
use crate::recipe::Recipe;

/// The path generator's prefix in the model's `VarMap` (exported as `layout/generator.*`).
pub const LAYOUT_GENERATOR: &str = "layout_generator";
/// Scenes per step of the generator's stage.
pub const GENERATOR_BATCH: usize = 256;
/// The generator stage's peak learning rate (AdamW, cosine decay, no weight decay).
pub const GENERATOR_LEARNING_RATE: f64 = 2e-3;
/// Width of the generator's hidden layers.
const GENERATOR_HIDDEN: usize = 256;
/// Euler steps a plan is sampled with.
const GENERATOR_SAMPLE_STEPS: usize = 32;

/// The layout stage's sizes for `recipe`: the world's vocabulary, the recipe's keyframes, text
/// width and frame size.
pub fn layout_config(recipe: &Recipe) -> SceneLayoutConfig {
    let r0 = kino_world::BASE_RADIUS * recipe.width.min(recipe.height) as f32;
    SceneLayoutConfig {
        slots: OBJECT_SLOTS,
        keyframes: recipe.frames,
        colours: Colour::ALL.len(),
        shapes: Shape::ALL.len(),
        motions: Motion::ALL.len(),
        backgrounds: Background::ALL.len(),
        text_dim: recipe.text_dim,
        hidden: GENERATOR_HIDDEN,
        sample_steps: GENERATOR_SAMPLE_STEPS,
        radius: [
            2.0 * r0 / recipe.width as f32,
            2.0 * r0 / recipe.height as f32,
        ],
        palette: Colour::ALL.iter().map(|c| c.rgb()).collect(),
    }
}

/// A pose in the plan's units ([`POSE_VALUES`]) for a `recipe`-sized frame.
pub fn pose_values(pose: &kino_world::Pose, recipe: &Recipe) -> [f32; POSE_VALUES] {
    [
        pose.cx / recipe.width as f32 * 2.0 - 1.0,
        pose.cy / recipe.height as f32 * 2.0 - 1.0,
        pose.scale - 1.0,
        pose.angle.cos(),
        pose.angle.sin(),
    ]
}

/// The generator's condition for `spec`: every slot's classes one-hot, as the reader's
/// probabilities lay them out (colour, shape, motion, each with "no object").
pub fn truth_condition(config: &SceneLayoutConfig, spec: &SceneSpec) -> Vec<f32> {
    let targets = ParseTargets::of(spec);
    let mut values = vec![0f32; config.condition_values()];
    for (slot, classes) in targets.objects.iter().enumerate().take(config.slots) {
        let base = slot * config.reads();
        let offsets = [0, config.colours + 1, config.colours + config.shapes + 2];
        for (offset, &class) in offsets.iter().zip(classes) {
            values[base + offset + class as usize] = 1.0;
        }
    }
    values
}

/// The plan of a clip whose objects stand as `poses` (per frame, per object): every slot's
/// pose at every keyframe, zeros for an empty slot.
pub fn truth_plan(config: &SceneLayoutConfig, poses: &ObjectPoses, recipe: &Recipe) -> Vec<f32> {
    let mut values = vec![0f32; config.plan_values()];
    for (k, frame) in poses.iter().enumerate().take(config.keyframes) {
        for (slot, pose) in frame.iter().enumerate().take(config.slots) {
            let at = (slot * config.keyframes + k) * POSE_VALUES;
            values[at..at + POSE_VALUES].copy_from_slice(&pose_values(pose, recipe));
        }
    }
    values
}

/// The true plan of a training clip: its scene's classes and its objects' poses.
pub fn truth_layout(
    config: &SceneLayoutConfig,
    spec: &SceneSpec,
    poses: &ObjectPoses,
    recipe: &Recipe,
) -> SceneLayout {
    kino_models::layout::layout_from_values(
        config,
        &truth_condition(config, spec),
        &truth_plan(config, poses, recipe),
    )
}

/// The layout planes of a training batch `(B, channels, T, H, W)` for a latent of
/// `latent_frames` frames of `height x width` cells, from the world's truth.
pub fn truth_planes(
    recipe: &Recipe,
    specs: &[SceneSpec],
    poses: &[ObjectPoses],
    [latent_frames, height, width]: [usize; 3],
    device: &Device,
) -> Result<Tensor> {
    let config = layout_config(recipe);
    let layouts: Vec<SceneLayout> = specs
        .iter()
        .zip(poses)
        .map(|(spec, poses)| truth_layout(&config, spec, poses, recipe))
        .collect();
    layout_planes(&config, &layouts, latent_frames, height, width, device)
}

/// `n` training-split scenes as the generator learns them: conditions `(n, condition_values)`
/// and plans `(n, plan_values)`, drawn like the DiT's clips (the recipe's mix of one- and
/// two-object scenes, layout spread, window offsets).
pub fn generator_examples(
    recipe: &Recipe,
    split: Split,
    n: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let config = layout_config(recipe);
    let mut conditions = Vec::with_capacity(n * config.condition_values());
    let mut plans = Vec::with_capacity(n * config.plan_values());
    for _ in 0..n {
        let (spec, _, seed, offset) = crate::data::draw_clip(recipe, split, rng);
        let poses = crate::data::window_poses(&spec, recipe, seed, offset)?;
        conditions.extend(truth_condition(&config, &spec));
        plans.extend(truth_plan(&config, &poses, recipe));
    }
    Ok((
        Tensor::from_vec(conditions, (n, config.condition_values()), device)?,
        Tensor::from_vec(plans, (n, config.plan_values()), device)?,
    ))
}

/// The generator's flow-matching loss on `plans` under `conditions`, with flow times and
/// noise drawn from `rng`: the mean squared error of the predicted velocity `noise - plan`.
pub fn generator_loss(
    generator: &kino_models::layout::PathGenerator,
    conditions: &Tensor,
    plans: &Tensor,
    rng: &mut Rng,
) -> Result<Tensor> {
    let (n, values) = plans.dims2()?;
    let device = plans.device();
    let times: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
    let noise: Vec<f32> = (0..n * values).map(|_| gaussian(rng) as f32).collect();
    let t = Tensor::from_vec(times, n, device)?;
    let noise = Tensor::from_vec(noise, (n, values), device)?;
    // x_t = x0 + t (e - x0)
    let target = (&noise - plans)?;
    let x = (plans + target.broadcast_mul(&t.unsqueeze(1)?)?)?;
    let predicted = generator.velocity(&x, &t, conditions)?;
    (predicted - target)?
        .sqr()?
        .mean_all()?
        .to_dtype(DType::F32)
}

/// Trains `model`'s path generator alone for [`Recipe::layout_generator_steps`] steps of
/// [`GENERATOR_BATCH`] training-split scenes, before the DiT's first step; returns the mean
/// loss of the last tenth of the steps. Seeded by the recipe; nothing else is touched.
pub fn train_generator(model: &crate::MiniModel, recipe: &Recipe) -> Result<f32> {
    let Some(generator) = &model.layout_generator else {
        candle_core::bail!("the recipe has no layout stage (`layout_planes`)");
    };
    let vars: Vec<_> = model
        .named_vars()
        .into_iter()
        .filter(|(name, _)| name.starts_with(&format!("{LAYOUT_GENERATOR}.")))
        .collect();
    let device = Device::Cpu;
    let mut optimiser = crate::optim::AdamW::new(vars)?;
    let mut data = Rng::new(kino_world::mix64(recipe.seed ^ 0x6c61_796f)); // "layo"
    let mut noise = Rng::new(kino_world::mix64(recipe.seed ^ 0x666c_6f77)); // "flow"
    let steps = recipe.layout_generator_steps;
    let tail = (steps / 10).max(1);
    let mut recent = Vec::with_capacity(tail);
    for step in 0..steps {
        let (conditions, plans) =
            generator_examples(recipe, Split::Train, GENERATOR_BATCH, &mut data, &device)?;
        let loss = generator_loss(generator, &conditions, &plans, &mut noise)?;
        let progress = step as f64 / steps as f64;
        let lr = GENERATOR_LEARNING_RATE * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        optimiser.step(&loss.backward()?, lr, 0.0)?;
        if step + tail >= steps {
            recent.push(loss.to_scalar::<f32>()?);
        }
    }
    Ok(recent.iter().sum::<f32>() / recent.len().max(1) as f32)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use kino_world::Object;

    #[test]
    fn the_truth_condition_marks_each_slots_classes_and_an_empty_second_slot() {
        let recipe = Recipe::default();
        let config = layout_config(&recipe);
        let spec = SceneSpec::new(
            vec![Object::new(Colour::Blue, Shape::Star, Motion::Left)],
            Background::Sea,
        );
        let c = truth_condition(&config, &spec);
        assert_eq!(c.len(), 2 * config.reads());
        let slot0 = &c[..config.reads()];
        let blue = Colour::ALL.iter().position(|&v| v == Colour::Blue).unwrap();
        let star = Shape::ALL.iter().position(|&v| v == Shape::Star).unwrap();
        let left = Motion::ALL.iter().position(|&v| v == Motion::Left).unwrap();
        assert_eq!(slot0.iter().sum::<f32>(), 3.0);
        assert_eq!(slot0[blue], 1.0, "blue");
        assert_eq!(slot0[config.colours + 1 + star], 1.0, "star");
        assert_eq!(
            slot0[config.colours + config.shapes + 2 + left],
            1.0,
            "left"
        );
        let slot1 = &c[config.reads()..];
        assert_eq!(slot1[config.colours], 1.0, "no second object");
        let layout = truth_layout(&config, &spec, &vec![vec![]; recipe.frames], &recipe);
        assert_eq!(layout.presence, vec![1.0, 0.0]);
        assert_eq!(layout.colours[0][blue], 1.0);
    }

    #[test]
    fn truth_plans_follow_the_rendered_objects() {
        let recipe = Recipe::default();
        let config = layout_config(&recipe);
        let mut rng = Rng::new(7);
        let (conditions, plans) =
            generator_examples(&recipe, Split::Train, 16, &mut rng, &Device::Cpu).unwrap();
        assert_eq!(conditions.dims(), &[16, config.condition_values()]);
        assert_eq!(plans.dims(), &[16, config.plan_values()]);
        // Every centre lies in the frame's span and every turn is a unit vector.
        for row in plans.to_vec2::<f32>().unwrap() {
            for pose in row.chunks(POSE_VALUES) {
                if pose.iter().all(|&v| v == 0.0) {
                    continue; // an empty slot
                }
                assert!(pose[0].abs() <= 1.0 && pose[1].abs() <= 1.0, "{pose:?}");
                assert!((pose[3].hypot(pose[4]) - 1.0).abs() < 1e-4, "{pose:?}");
            }
        }
    }
}
