//! The layout stage ([`Recipe::layout_planes`]): the path generator learns the world's paths,
//! and a run with the stage exports a model folder whose `layout/` the pipeline plans with.
#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use candle_core::{Device, Tensor};
use kino_models::layout::{POSE_VALUES, SceneLayoutConfig};
use kino_pipeline::{GenerateRequest, LoadOptions, NoProgress, Pipeline};
use kino_train::layout::{generator_examples, layout_config, train_generator};
use kino_train::{MiniModel, Quiet, Recipe, TrainOptions, train, vocabulary};
use kino_world::{Motion, Rng, Split};

mod common;
use common::latent_recipe;

/// One slot's poses at every keyframe, from a plan row.
fn slot_poses(config: &SceneLayoutConfig, plan: &[f32], slot: usize) -> Vec<[f32; POSE_VALUES]> {
    (0..config.keyframes)
        .map(|k| {
            let at = (slot * config.keyframes + k) * POSE_VALUES;
            std::array::from_fn(|v| plan[at + v])
        })
        .collect()
}

/// The change of a pose value from the first keyframe to the last.
fn change(poses: &[[f32; POSE_VALUES]], value: usize) -> f32 {
    poses[poses.len() - 1][value] - poses[0][value]
}

/// How far a path turns from its first keyframe at most: the largest angle between the first
/// turn vector and a later one, in radians (a whole turn comes back to where it started).
fn turn(poses: &[[f32; POSE_VALUES]]) -> f32 {
    let a = poses[0];
    poses
        .iter()
        .map(|b| {
            let norm = (a[3].hypot(a[4]) * b[3].hypot(b[4])).max(1e-6);
            ((a[3] * b[3] + a[4] * b[4]) / norm).clamp(-1.0, 1.0).acos()
        })
        .fold(0.0, f32::max)
}

/// Whether a path moves as `motion` says, by the world's own definitions: left and right
/// change the centre's x, up and down its y (down is +y), growing and shrinking the size,
/// spinning the turn; still changes nothing; bouncing comes back down where it rose.
fn moves_as(motion: Motion, poses: &[[f32; POSE_VALUES]]) -> bool {
    let (dx, dy, ds) = (change(poses, 0), change(poses, 1), change(poses, 2));
    let rise = poses.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min) - poses[0][1];
    match motion {
        Motion::Left => dx < -0.2,
        Motion::Right => dx > 0.2,
        Motion::Up => dy < -0.2,
        Motion::Down => dy > 0.2,
        Motion::Growing => ds > 0.2,
        Motion::Shrinking => ds < -0.2,
        Motion::Spinning => turn(poses) > 0.5 && dx.abs() < 0.15 && dy.abs() < 0.15,
        Motion::Still => dx.abs() < 0.15 && dy.abs() < 0.15 && ds.abs() < 0.1,
        Motion::Bouncing => rise < -0.2,
    }
}

/// Trained alone on the training split (1,500 of the shipped recipe's steps), the generator's samples for held-out scenes move as
/// each object's motion says, and two objects start apart (the world gives them separate
/// halves of the frame).
#[test]
fn the_trained_path_generator_moves_each_object_as_its_motion_says() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/latent-plan.json");
    let recipe = Recipe {
        layout_generator_steps: 1500,
        ..Recipe::with_overrides(
            &serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap(),
        )
        .unwrap()
    };
    let config = layout_config(&recipe);
    let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &Device::Cpu).unwrap();
    let loss = train_generator(&model, &recipe).unwrap();
    assert!(loss < 0.25, "final generator loss {loss}");
    let generator = model.layout_generator.as_ref().unwrap();

    let mut rng = Rng::new(11);
    let n = 256;
    let (conditions, truth) =
        generator_examples(&recipe, Split::HeldOut, n, &mut rng, &Device::Cpu).unwrap();
    let noise = Tensor::randn(0f32, 1.0, (n, config.plan_values()), &Device::Cpu).unwrap();
    let plans = generator
        .sample(&conditions, &noise)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let truth = truth.to_vec2::<f32>().unwrap();
    let conditions = conditions.to_vec2::<f32>().unwrap();
    let motion_offset = config.colours + config.shapes + 2;
    let (mut objects, mut right, mut truth_right, mut pairs, mut apart) = (0, 0, 0, 0, 0);
    for ((plan, truth), condition) in plans.iter().zip(&truth).zip(&conditions) {
        let mut present = Vec::new();
        for slot in 0..config.slots {
            let read = &condition[slot * config.reads()..(slot + 1) * config.reads()];
            let Some(motion) = Motion::ALL
                .iter()
                .enumerate()
                .find(|&(m, _)| read[motion_offset + m] == 1.0)
                .map(|(_, &m)| m)
            else {
                continue; // no object in this slot
            };
            objects += 1;
            let poses = slot_poses(&config, plan, slot);
            right += usize::from(moves_as(motion, &poses));
            truth_right += usize::from(moves_as(motion, &slot_poses(&config, truth, slot)));
            present.push(poses);
        }
        if let [a, b] = present.as_slice() {
            pairs += 1;
            let gap = (a[0][0] - b[0][0]).hypot(a[0][1] - b[0][1]);
            apart += usize::from(gap > config.radius[0]);
        }
    }
    // The world's own paths pass the check (it is a fair one), and the samples nearly as often.
    assert!(
        truth_right * 100 >= objects * 95,
        "truth {truth_right} of {objects}"
    );
    assert!(
        right * 100 >= objects * 85,
        "sampled {right} of {objects} move as asked"
    );
    assert!(
        pairs > 20 && apart * 100 >= pairs * 85,
        "{apart} of {pairs} pairs start apart"
    );
}

/// A latent run with the layout stage exports `layout/` (its config and weights), the
/// transformer takes the plan's planes after its other conditions, and the pipeline plans
/// and generates from text and from a first frame, deterministically for a seed.
#[test]
fn a_run_with_layout_planes_exports_a_stage_the_pipeline_plans_with() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Recipe {
        layout_planes: true,
        caption_parse_weight: 0.5,
        layout_generator_steps: 20,
        ..latent_recipe()
    };
    let run = TrainOptions {
        out: dir.path().to_path_buf(),
        recipe: recipe.clone(),
        steps: Some(2),
        stop_at: None,
        resume: false,
        checkpoint_every: 2,
        samples: false,
        export: None,
        autoencoder_from: None,
        changes: Vec::new(),
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let model_dir = &summary.model_dir;
    let config = SceneLayoutConfig::from_file(&model_dir.join("layout/config.json")).unwrap();
    assert_eq!(config, layout_config(&recipe));
    let transformer: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(model_dir.join("transformer/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        transformer["in_channels"],
        4 + 1 + 4 + config.planes_per_keyframe() * recipe.frames
    );
    let weights = candle_core::safetensors::load(
        model_dir.join("layout/diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(weights.contains_key("reader.queries"));
    assert!(weights.contains_key("generator.layers.3.weight"));

    let pipeline = Pipeline::load(model_dir, &LoadOptions::default()).unwrap();
    assert!(pipeline.takes_first_frame());
    let request = GenerateRequest {
        seed: 3,
        output_size: None,
        ..pipeline
            .defaults()
            .request("a red ball moving left on the sea")
    };
    let clip = pipeline.generate(&request, &mut NoProgress).unwrap();
    let again = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(
        kino_testkit::max_abs_diff(&clip.frames, &again.frames),
        0.0,
        "the same seed plans and draws the same clip"
    );
    let given = GenerateRequest {
        first_frame: Some(clip.frames.get(0).unwrap()),
        keyframe_first: false,
        ..request
    };
    let continued = pipeline.generate(&given, &mut NoProgress).unwrap();
    assert_eq!(continued.dims().unwrap(), clip.dims().unwrap());
}
