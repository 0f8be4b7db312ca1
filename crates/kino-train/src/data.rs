//! Training clips, drawn on the fly from the procedural world's training split (held-out
//! combinations are never rendered here), fixed by the run's seed and the step number so a
//! resumed run sees exactly the batches an uninterrupted one would.

use candle_core::{Device, Result, Tensor};
use kino_world::{RenderSettings, Renderer, Rng, Split, mix64, sample_from};

use crate::recipe::{RGB, Recipe};

/// One batch of clips and their captions.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, 3, T, H, W)` in `[-1, 1]`.
    pub clips: Tensor,
    /// One caption per clip, lower case as the tokenizer sees it.
    pub captions: Vec<String>,
}

/// The random stream of step `step` for purpose `stream`.
pub fn step_rng(recipe: &Recipe, step: usize, stream: u64) -> Rng {
    Rng::new(mix64(recipe.seed ^ mix64(step as u64) ^ stream))
}

/// Renders one clip `(3, T, H, W)` as f32 values in `[-1, 1]`, channel-major.
pub fn render_clip(spec: &kino_world::SceneSpec, recipe: &Recipe, seed: u64) -> Result<Vec<f32>> {
    let settings = RenderSettings {
        width: recipe.width as u32,
        height: recipe.height as u32,
        fps: recipe.fps,
        frames: recipe.frames as u32,
        seed,
    };
    let renderer =
        Renderer::new(spec, &settings).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let plane = recipe.height * recipe.width;
    let mut out = vec![0f32; RGB * recipe.frames * plane];
    for t in 0..recipe.frames {
        let (rgb, _) = renderer.frame(t as u32);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..RGB {
                out[(c * recipe.frames + t) * plane + i] = f32::from(px[c]) / 127.5 - 1.0;
            }
        }
    }
    Ok(out)
}

/// Batch `step` of `batch` training clips.
pub fn world_batch(recipe: &Recipe, step: usize, batch: usize, device: &Device) -> Result<Batch> {
    let mut rng = step_rng(recipe, step, 0x6461_7461); // "data"
    let mut values = Vec::with_capacity(batch * RGB * recipe.frames * recipe.height * recipe.width);
    let mut captions = Vec::with_capacity(batch);
    for _ in 0..batch {
        let (spec, caption) = sample_from(&mut rng, Split::Train);
        values.extend(render_clip(&spec, recipe, rng.next_u64())?);
        captions.push(caption.to_lowercase());
    }
    let clips = Tensor::from_vec(
        values,
        (batch, RGB, recipe.frames, recipe.height, recipe.width),
        device,
    )?;
    Ok(Batch { clips, captions })
}
