//! The next training step's batch, prepared on a thread of its own while the current step
//! trains. A step's batch (the world's clips, the autoencoder's latents of them, the noise
//! draws) depends only on the recipe's seed and the step, so preparing it early changes no
//! result; it fills the time one core waits on the other during a step's less parallel
//! stretches (on a 2-core machine, rendering and encoding are a fifth of a DiT step).

use std::sync::Arc;
use std::thread::JoinHandle;

use candle_core::{Device, Result};

use crate::autoencoder::ClipAutoencoder;
use crate::recipe::Recipe;
use crate::{data, flow};

/// What one step trains on.
#[derive(Debug)]
pub struct StepBatch {
    /// The clips (or their latents), captions and ground truth.
    pub batch: flow::DitBatch,
    /// The step's noise levels, noise, first-frame and caption-dropout draws.
    pub draws: flow::StepDraws,
}

/// Makes step `step`'s batch: `batch` clips rendered by the world, encoded by `autoencoder`
/// for a latent recipe.
pub fn step_batch(
    recipe: &Recipe,
    autoencoder: Option<&ClipAutoencoder>,
    step: usize,
    device: &Device,
) -> Result<StepBatch> {
    let clips = data::world_batch(recipe, step, recipe.batch, device)?;
    let mut rng = data::step_rng(recipe, step, 0x6e6f_6973); // "nois"
    let draws = flow::StepDraws::new(recipe, recipe.batch, &mut rng);
    let batch = match autoencoder {
        Some(ae) => flow::DitBatch::latents(&clips, ae, &draws.first_frames)?,
        None => flow::DitBatch::pixels(&clips)?,
    };
    Ok(StepBatch { batch, draws })
}

/// Makes what a step needs one step ahead, on a background thread.
pub struct Prefetch<T> {
    /// Makes step `step`'s input.
    make: Arc<dyn Fn(usize) -> Result<T> + Send + Sync>,
    /// The step the run stops at: nothing is prepared for it or beyond.
    stop: usize,
    /// The step being prepared and its thread.
    pending: Option<(usize, JoinHandle<Result<T>>)>,
}

impl<T: Send + 'static> Prefetch<T> {
    /// A prefetcher of `make(step)`, which must depend on nothing but `step`, for a run that
    /// stops at step `stop`.
    pub fn new(stop: usize, make: impl Fn(usize) -> Result<T> + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(make),
            stop,
            pending: None,
        }
    }

    /// Step `step`'s input (the one prepared in the background if it was, else made now),
    /// after starting to prepare step `step + 1` when the run goes on to it.
    pub fn take(&mut self, step: usize) -> Result<T> {
        let ready = match self.pending.take() {
            Some((pending, thread)) if pending == step => thread.join().map_err(|_| {
                candle_core::Error::Msg(format!(
                    "the thread preparing step {step}'s batch panicked"
                ))
            })?,
            _ => (self.make)(step),
        };
        let next = step + 1;
        if next < self.stop {
            let make = Arc::clone(&self.make);
            let thread = std::thread::Builder::new()
                .name("kino-batch".into())
                .spawn(move || make(next))
                .map_err(|e| candle_core::Error::Msg(format!("starting the batch thread: {e}")))?;
            self.pending = Some((next, thread));
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prefetched batches are the batches made on the spot, step for step.
    #[test]
    fn prefetched_batches_equal_batches_made_on_the_spot() {
        let recipe = Recipe {
            batch: 3,
            ..Recipe::default()
        };
        let device = Device::Cpu;
        let mut prefetch = Prefetch::new(4, {
            let (recipe, device) = (recipe.clone(), device.clone());
            move |step| step_batch(&recipe, None, step, &device)
        });
        for step in 0..3 {
            let early = prefetch.take(step).unwrap();
            let now = step_batch(&recipe, None, step, &device).unwrap();
            let diff = (&early.batch.clips - &now.batch.clips)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(diff, 0.0, "step {step}");
            assert_eq!(early.batch.captions, now.batch.captions);
            assert_eq!(early.draws.sigmas, now.draws.sigmas);
            assert_eq!(early.draws.noise, now.draws.noise);
        }
    }
}
