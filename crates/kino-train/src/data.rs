//! Training clips, drawn on the fly from the procedural world's training split (held-out
//! combinations are never rendered here), fixed by the run's seed and the step number so a
//! resumed run sees exactly the batches an uninterrupted one would.

use candle_core::{Device, Result, Tensor};
use kino_world::{RenderSettings, Renderer, Rng, Split, mix64, sample_from_with};

use crate::recipe::{RGB, Recipe};

/// One batch of clips and their captions.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, 3, T, H, W)` in `[-1, 1]`.
    pub clips: Tensor,
    /// One caption per clip, lower case as the tokenizer sees it.
    pub captions: Vec<String>,
    /// `(B, 1, T, H, W)`: 1 on object pixels (inside an object's box grown by one pixel), 0
    /// on background, from the renderer's ground truth.
    pub objects: Tensor,
    /// The scene each clip was rendered from (what its caption says, as the world knows it).
    pub specs: Vec<kino_world::SceneSpec>,
    /// Per clip, per frame, each object's exact bounds in the spec's order.
    pub boxes: Vec<ObjectBoxes>,
    /// Per clip, per frame, each object's pose (centre, size, turn) in the spec's order.
    pub poses: Vec<ObjectPoses>,
}

/// Where a clip's objects are: per frame, each object's exact bounds in the spec's order.
pub type ObjectBoxes = Vec<Vec<kino_world::BBox>>;

/// How a clip's objects stand: per frame, each object's pose in the spec's order.
pub type ObjectPoses = Vec<Vec<kino_world::Pose>>;

/// One rendered clip: its pixels and where its objects are.
#[derive(Debug, Clone)]
pub struct RenderedClip {
    /// `(3, T, H, W)` values in `[-1, 1]`, channel-major.
    pub pixels: Vec<f32>,
    /// `(T, H, W)`: 1 on object pixels, 0 elsewhere.
    pub objects: Vec<f32>,
    /// Per frame, each object's exact bounds in the spec's order.
    pub boxes: ObjectBoxes,
    /// Per frame, each object's pose in the spec's order.
    pub poses: ObjectPoses,
}

/// The random stream of step `step` for purpose `stream`.
pub fn step_rng(recipe: &Recipe, step: usize, stream: u64) -> Rng {
    Rng::new(mix64(recipe.seed ^ mix64(step as u64) ^ stream))
}

/// Renders one clip with the recipe's layout spread: `(3, T, H, W)` f32 values in
/// `[-1, 1]`, channel-major, and its object mask.
pub fn render_clip(
    spec: &kino_world::SceneSpec,
    recipe: &Recipe,
    seed: u64,
) -> Result<RenderedClip> {
    render_window(spec, recipe, seed, 0)
}

/// Renders `recipe.frames` frames from frame `offset` on of the world clip the recipe's
/// windows are taken from (`recipe.world_frames`, or the clip itself).
pub fn render_window(
    spec: &kino_world::SceneSpec,
    recipe: &Recipe,
    seed: u64,
    offset: usize,
) -> Result<RenderedClip> {
    let world_frames = recipe.world_frames.unwrap_or(recipe.frames);
    if offset + recipe.frames > world_frames {
        return Err(candle_core::Error::Msg(format!(
            "a window of {} frames at frame {offset} does not fit a {world_frames}-frame clip",
            recipe.frames
        )));
    }
    let renderer = renderer(spec, recipe, seed)?;
    let plane = recipe.height * recipe.width;
    let mut pixels = vec![0f32; RGB * recipe.frames * plane];
    let mut objects = vec![0f32; recipe.frames * plane];
    let mut boxes = Vec::with_capacity(recipe.frames);
    let mut poses = Vec::with_capacity(recipe.frames);
    for t in 0..recipe.frames {
        let (rgb, truth) = renderer.frame((offset + t) as u32);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..RGB {
                pixels[(c * recipe.frames + t) * plane + i] = f32::from(px[c]) / 127.5 - 1.0;
            }
        }
        let mask = &mut objects[t * plane..(t + 1) * plane];
        for object in &truth {
            mark_box(mask, recipe.width, recipe.height, &object.bbox);
        }
        boxes.push(truth.iter().map(|object| object.bbox).collect());
        poses.push(renderer.poses((offset + t) as u32));
    }
    Ok(RenderedClip {
        pixels,
        objects,
        boxes,
        poses,
    })
}

/// The render settings of the world clip the recipe's windows are taken from
/// (`recipe.world_frames` frames, or the clip's own).
fn world_settings(recipe: &Recipe, seed: u64) -> RenderSettings {
    RenderSettings {
        width: recipe.width as u32,
        height: recipe.height as u32,
        fps: recipe.fps,
        frames: recipe.world_frames.unwrap_or(recipe.frames) as u32,
        seed,
    }
}

/// The renderer of the world clip the recipe's windows are taken from, laid out with the
/// recipe's spread.
fn renderer(spec: &kino_world::SceneSpec, recipe: &Recipe, seed: u64) -> Result<Renderer> {
    Ok(
        Renderer::with_layout(spec, &world_settings(recipe, seed), recipe.layout())
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?
            .with_spin_turns(recipe.spin_turns as f32),
    )
}

/// The poses of the window of `recipe.frames` frames from frame `offset` on of the world
/// clip [`render_window`] renders, without rendering it.
pub fn window_poses(
    spec: &kino_world::SceneSpec,
    recipe: &Recipe,
    seed: u64,
    offset: usize,
) -> Result<ObjectPoses> {
    let frames = offset as u32..(offset + recipe.frames) as u32;
    kino_world::scene_poses(
        spec,
        &world_settings(recipe, seed),
        recipe.layout(),
        recipe.spin_turns as f32,
        frames,
    )
    .map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Sets to 1 the pixels of a `width` x `height` mask whose centre lies in `bbox` grown by one
/// pixel on every side (clipped to the frame).
fn mark_box(mask: &mut [f32], width: usize, height: usize, bbox: &kino_world::BBox) {
    let span = |lo: f32, hi: f32, size: usize| {
        let first = (lo - 1.5).ceil().max(0.0) as usize;
        let end = (((hi + 0.5).floor() + 1.0).max(0.0) as usize).min(size);
        first..end
    };
    for y in span(bbox.y0, bbox.y1, height) {
        for x in span(bbox.x0, bbox.x1, width) {
            mask[y * width + x] = 1.0;
        }
    }
}

/// Batch `step` of `batch` training clips.
pub fn world_batch(recipe: &Recipe, step: usize, batch: usize, device: &Device) -> Result<Batch> {
    let mut rng = step_rng(recipe, step, 0x6461_7461); // "data"
    split_batch(recipe, Split::Train, batch, &mut rng, device)
}

/// One training clip's draws from `rng`, in this order: its scene and caption (the recipe's
/// mix of one- and two-object scenes), the seed that lays it out and textures it, and for a
/// windowed recipe the window's first frame (0 otherwise).
pub fn draw_clip(
    recipe: &Recipe,
    split: Split,
    rng: &mut Rng,
) -> (kino_world::SceneSpec, String, u64, usize) {
    let (spec, caption) = sample_from_with(rng, split, recipe.one_object_share);
    let seed = rng.next_u64();
    // Whole-clip recipes draw nothing more, so their batches are as they always were.
    let offset = match recipe.world_frames {
        Some(n) if n > recipe.frames => rng.below(n - recipe.frames + 1),
        _ => 0,
    };
    (spec, caption, seed, offset)
}

/// `batch` clips of `split`'s scenes drawn from `rng`, rendered as training renders them.
pub fn split_batch(
    recipe: &Recipe,
    split: Split,
    batch: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Batch> {
    let plane = recipe.frames * recipe.height * recipe.width;
    let mut values = Vec::with_capacity(batch * RGB * plane);
    let mut objects = Vec::with_capacity(batch * plane);
    let mut captions = Vec::with_capacity(batch);
    let mut specs = Vec::with_capacity(batch);
    let mut boxes = Vec::with_capacity(batch);
    let mut poses = Vec::with_capacity(batch);
    for _ in 0..batch {
        let (spec, caption, seed, offset) = draw_clip(recipe, split, rng);
        let clip = render_window(&spec, recipe, seed, offset)?;
        values.extend(clip.pixels);
        objects.extend(clip.objects);
        boxes.push(clip.boxes);
        poses.push(clip.poses);
        captions.push(caption.to_lowercase());
        specs.push(spec);
    }
    let (t, h, w) = (recipe.frames, recipe.height, recipe.width);
    let clips = Tensor::from_vec(values, (batch, RGB, t, h, w), device)?;
    let objects = Tensor::from_vec(objects, (batch, 1, t, h, w), device)?;
    Ok(Batch {
        clips,
        captions,
        objects,
        specs,
        boxes,
        poses,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use kino_world::{Background, Colour, Motion, Object, SceneSpec, Shape};

    #[test]
    fn object_mask_covers_the_object_and_little_else() {
        let recipe = Recipe::default();
        let spec = SceneSpec::new(
            vec![Object::new(Colour::Red, Shape::Square, Motion::Left)],
            Background::Grass,
        );
        let clip = render_clip(&spec, &recipe, 7).unwrap();
        let plane = recipe.height * recipe.width;
        let red = Colour::Red;
        for t in 0..recipe.frames {
            let mask = &clip.objects[t * plane..(t + 1) * plane];
            let share = mask.iter().sum::<f32>() / plane as f32;
            assert!(
                share > 0.01 && share < 0.25,
                "frame {t}: mask share {share}"
            );
            // Every clearly red pixel is inside the mask.
            for (i, &inside) in mask.iter().enumerate() {
                let rgb: Vec<u8> = (0..RGB)
                    .map(|c| {
                        let v = clip.pixels[(c * recipe.frames + t) * plane + i];
                        ((v + 1.0) * 127.5).round() as u8
                    })
                    .collect();
                if Colour::classify([rgb[0], rgb[1], rgb[2]]) == Some(red) {
                    assert_eq!(inside, 1.0, "frame {t}: red pixel {i} outside the mask");
                }
            }
        }
    }

    #[test]
    fn a_window_is_a_stretch_of_the_world_clip() {
        let spec = SceneSpec::new(
            vec![Object::new(Colour::Yellow, Shape::Star, Motion::Right)],
            Background::Desert,
        );
        let whole = Recipe {
            frames: 16,
            world_frames: None,
            ..Recipe::default()
        };
        let windows = Recipe {
            frames: 4,
            world_frames: Some(16),
            ..whole.clone()
        };
        let clip = render_clip(&spec, &whole, 9).unwrap();
        let plane = whole.height * whole.width;
        for offset in [0, 5, 12] {
            let window = render_window(&spec, &windows, 9, offset).unwrap();
            for t in 0..4 {
                assert_eq!(
                    window.objects[t * plane..(t + 1) * plane],
                    clip.objects[(offset + t) * plane..(offset + t + 1) * plane]
                );
                for c in 0..RGB {
                    let w0 = (c * 4 + t) * plane;
                    let c0 = (c * 16 + offset + t) * plane;
                    assert_eq!(window.pixels[w0..w0 + plane], clip.pixels[c0..c0 + plane]);
                }
            }
        }
        assert!(render_window(&spec, &windows, 9, 13).is_err());
        // The poses planned without rendering are the rendered window's.
        for offset in [0, 5, 12] {
            let window = render_window(&spec, &windows, 9, offset).unwrap();
            assert_eq!(
                window_poses(&spec, &windows, 9, offset).unwrap(),
                window.poses
            );
            assert_eq!(window.poses.len(), 4);
        }
        // Batches take windows at several offsets: the object is not always where it starts.
        let batch = world_batch(&windows, 0, 8, &Device::Cpu).unwrap();
        assert_eq!(batch.clips.dims(), &[8, 3, 4, 32, 32]);
    }

    #[test]
    fn the_recipes_one_object_share_sets_how_many_captions_name_two_objects() {
        let objects_named = |one_object_share: f64| {
            let recipe = Recipe {
                one_object_share,
                ..Recipe::default()
            };
            let batch = world_batch(&recipe, 3, 6, &Device::Cpu).unwrap();
            batch
                .captions
                .iter()
                .map(|c| kino_world::parse(c).unwrap().spec.objects.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(objects_named(0.0), vec![2; 6]);
        assert_eq!(objects_named(1.0), vec![1; 6]);
    }

    #[test]
    fn training_layouts_vary_only_a_little_with_the_seed() {
        let spec = SceneSpec::new(
            vec![Object::new(Colour::Blue, Shape::Ball, Motion::Right)],
            Background::Sky,
        );
        let overlap = |recipe: &Recipe, a: u64, b: u64| {
            let (a, b) = (
                render_clip(&spec, recipe, a).unwrap().objects,
                render_clip(&spec, recipe, b).unwrap().objects,
            );
            let both = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| **x > 0.0 && **y > 0.0)
                .count();
            let either = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| **x > 0.0 || **y > 0.0)
                .count();
            both as f64 / either as f64
        };
        let narrow = Recipe {
            layout_spread: 0.25,
            ..Recipe::default()
        };
        let full = Recipe::default();
        let seeds = 1..12u64;
        let least = |recipe: &Recipe| {
            seeds
                .clone()
                .map(|s| overlap(recipe, 0, s))
                .fold(f64::MAX, f64::min)
        };
        assert!(least(&narrow) > 0.3, "narrow spread: {}", least(&narrow));
        assert!(least(&full) < 0.1, "full spread: {}", least(&full));
    }
}
