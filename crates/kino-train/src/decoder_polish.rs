//! The last stage of a latent recipe ([`Recipe::decoder_polish`]): the autoencoder's decoder
//! trained on alone, its encoder frozen, with object pixels weighted further up than the
//! autoencoder's own stage weighs them.
//!
//! The encoder is untouched, so the latents the DiT learnt mean what they meant: the stage can
//! follow a finished DiT (a resumed run gets it with `--change decoder_polish=...`) and changes
//! only how the model folder's `vae/` draws its latents. It runs once the DiT has finished
//! its schedule; the DiT trains (and takes its decoded loss) on the autoencoder as its own
//! stage left it, so a run from nothing and a run resumed to add the stage make the same
//! weights. Its run lives in
//! `<out>/decoder/`, with checkpoints that resume like the other stages'.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use candle_nn::VarMap;
use kino_models::text::WanTokenizer;
use kino_models::vae::AutoencoderKlWan;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{
    AutoencoderRecipe, ClipAutoencoder, StageStep, build, clip_error, unit_noise,
};
use crate::checkpoint::{self, CheckpointInfo};
use crate::data;
use crate::model::{MiniModel, sorted_vars};
use crate::optim::AdamW;
use crate::prefetch::{Prefetch, StepBatch, step_batch};
use crate::recipe::Recipe;
use crate::train::{TrainError, TrainProgress, learning_rate};

/// `decoder_polish` of a recipe: the decoder-only stage's schedule and loss weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderPolish {
    /// Optimiser steps (warm-up and cosine decay, as the other stages).
    pub steps: usize,
    /// Clips per step.
    pub batch: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Extra weight of object pixels in the reconstruction (the autoencoder's own stage uses
    /// its `object_weight`, 8 in the shipped recipe).
    pub object_weight: f64,
    /// Weight of the error in frame-to-frame changes, object pixels weighted up as above.
    pub motion_weight: f64,
    /// Decode the DiT's clean-latent predictions instead of the encoder's latents: training
    /// clips are noised as the DiT's own steps noise them, the finished DiT (its EMA weights)
    /// predicts each clean latent, and the decoder learns to draw the clip from the
    /// predictions of clips noised below this level. What a sampler hands the decoder is
    /// such a prediction, not an encoder's latent. `None`: the encoder's posterior samples.
    #[serde(default)]
    pub from_dit_below: Option<f64>,
}

impl DecoderPolish {
    /// Why the stage cannot run as given, if it cannot.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.steps == 0 || self.batch == 0 {
            return Err(
                "recipe field `decoder_polish`: `steps` and `batch` must be at least 1".into(),
            );
        }
        let learning_rate_ok = self.learning_rate > 0.0;
        let weights_ok = self.object_weight >= 0.0 && self.motion_weight >= 0.0;
        let below_ok = self.from_dit_below.is_none_or(|s| s > 0.0 && s <= 1.0);
        if !(learning_rate_ok && weights_ok && below_ok) {
            return Err(
                "recipe field `decoder_polish`: `learning_rate` must be above 0, the weights at \
                 least 0 and `from_dit_below` in (0, 1]"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The step offset of the stage's batches in the data stream, so they are neither the
/// autoencoder stage's nor the DiT's.
const DATA_OFFSET: usize = 20_000_000;

/// Where a run keeps its polished decoder.
pub fn run_dir(out: &Path) -> PathBuf {
    out.join("decoder")
}

/// Whether a variable of the Wan VAE belongs to the decoding half (the latent's
/// `post_quant_conv` and the decoder), the half this stage trains.
fn is_decoder(name: &str) -> bool {
    name.starts_with("decoder.") || name.starts_with("post_quant_conv.")
}

/// The finished DiT a [`DecoderPolish::from_dit_below`] stage decodes the predictions of: the
/// networks (holding the weights that are exported) and the training tokenizer.
#[derive(Clone, Copy)]
pub struct FinishedDit<'a> {
    /// The networks.
    pub model: &'a MiniModel,
    /// The training tokenizer.
    pub tokenizer: &'a WanTokenizer,
}

/// One step's input: the autoencoder stage's clips, or a DiT step's batch and draws.
enum PolishBatch {
    Clips(data::Batch),
    Dit(StepBatch),
}

/// Trains `autoencoder`'s decoder for `polish.steps` steps in `<out>/decoder/` (resuming its
/// checkpoint, or returning at once when it is complete) and returns the autoencoder with the
/// polished decoder; the encoder and the latent statistics are kept. `dit` is needed when the
/// stage decodes the DiT's predictions. Reports steps to `progress`.
pub fn polish_decoder(
    recipe: &Recipe,
    ae: &AutoencoderRecipe,
    polish: &DecoderPolish,
    autoencoder: &ClipAutoencoder,
    dit: Option<FinishedDit<'_>>,
    out: &Path,
    progress: &mut dyn TrainProgress,
) -> std::result::Result<ClipAutoencoder, TrainError> {
    polish.check().map_err(TrainError::Invalid)?;
    let dit = match (polish.from_dit_below, dit) {
        (Some(below), Some(dit)) => Some((below, dit)),
        (Some(_), None) => {
            return Err(TrainError::Invalid(
                "recipe field `decoder_polish.from_dit_below` needs the finished DiT".into(),
            ));
        }
        (None, _) => None,
    };
    let device = Device::Cpu;
    let dir = run_dir(out);
    checkpoint::create_dir(&dir)?;
    let varmap = VarMap::new();
    build(&autoencoder.config, &varmap, &device)?;
    let start: std::collections::HashMap<&str, &Tensor> = autoencoder
        .weights
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor))
        .collect();
    let vars = sorted_vars(&varmap);
    for (name, var) in &vars {
        let tensor = start.get(name.as_str()).ok_or_else(|| {
            TrainError::Invalid(format!("the autoencoder has no tensor {name} to polish"))
        })?;
        var.set(tensor)?;
    }
    let trained: Vec<_> = vars
        .iter()
        .filter(|(name, _)| is_decoder(name))
        .cloned()
        .collect();
    let mut optimiser = AdamW::new(trained.clone())?;
    // The stage's checkpoint records the stage it trains.
    let mut info = CheckpointInfo::new(Recipe {
        decoder_polish: Some(polish.clone()),
        ..recipe.clone()
    });
    if let Some(saved) = checkpoint::latest(&dir) {
        let (tensors, saved_info) = checkpoint::load(&saved, &device)?;
        // Only its length may differ: other weights or sources would be another stage.
        let recorded = saved_info
            .recipe
            .decoder_polish
            .as_ref()
            .map(|p| DecoderPolish {
                steps: polish.steps,
                ..p.clone()
            });
        if recorded.as_ref() != Some(polish) {
            return Err(TrainError::Invalid(format!(
                "{} holds a decoder stage trained with another `decoder_polish` ({}); remove \
                 the folder to train this one",
                dir.display(),
                serde_json::to_string(&saved_info.recipe.decoder_polish).unwrap_or_default()
            )));
        }
        checkpoint::restore_weights(&tensors, &trained, "the polished decoder")?;
        optimiser.restore(&tensors, saved_info.step)?;
        info = saved_info;
    }
    // The stage's own schedule and clips: the autoencoder stage's mix of layouts.
    let stage = Recipe {
        learning_rate: polish.learning_rate,
        warmup_steps: 50.min(polish.steps / 10),
        layout_spread: ae.layout_spread,
        region_spread: None,
        one_object_share: kino_world::ONE_OBJECT_SHARE,
        ..recipe.clone()
    };
    let weights = AutoencoderRecipe {
        object_weight: polish.object_weight,
        motion_weight: polish.motion_weight,
        ..ae.clone()
    };
    let stop = polish.steps;
    progress.begin(
        info.step,
        stop,
        trained.iter().map(|(_, v)| v.elem_count()).sum(),
    );
    let started = Instant::now();
    let seconds_before = info.seconds;
    let mut prefetch = Prefetch::new(stop, {
        let (stage, batch, device) = (stage.clone(), polish.batch, device.clone());
        // The DiT's predictions are of clips drawn as its own steps draw them.
        let (dit_recipe, frozen, from_dit) = (recipe.clone(), autoencoder.clone(), dit.is_some());
        move |step| {
            Ok(if from_dit {
                PolishBatch::Dit(step_batch(
                    &dit_recipe,
                    Some(&frozen),
                    DATA_OFFSET + step,
                    &device,
                )?)
            } else {
                PolishBatch::Clips(data::world_batch(
                    &stage,
                    DATA_OFFSET + step,
                    batch,
                    &device,
                )?)
            })
        }
    });
    while info.step < stop {
        let step = info.step;
        let vae = build(&autoencoder.config, &varmap, &device)?;
        let loss = match (prefetch.take(step)?, dit) {
            (PolishBatch::Dit(step_batch), Some((below, dit))) => {
                let picked = dit_predictions(dit, recipe, &step_batch, below, polish.batch)?;
                let (latents, pixels, objects) = picked;
                let z = kino_models::vae::denormalize_latents(&autoencoder.config, &latents)?;
                clip_error(&vae.decode(&z)?, &pixels, &objects, &weights)?
            }
            (PolishBatch::Clips(batch), _) => {
                let mut rng = data::step_rng(recipe, DATA_OFFSET + step, 0x6e6f_6973);
                decoder_loss(&vae, &batch, &weights, &mut rng)?
            }
            (PolishBatch::Dit(_), None) => unreachable!("DiT batches are made only with a DiT"),
        };
        optimiser.step(
            &loss.backward()?,
            learning_rate(&stage, step, polish.steps),
            0.0,
        )?;
        info.step += 1;
        let record = StageStep {
            dir: &dir,
            stop,
            seconds: seconds_before + started.elapsed().as_secs_f64(),
            what: "the decoder's",
            remedy: "`decoder_polish.learning_rate`",
        };
        record.record(
            &mut info,
            loss.to_scalar::<f32>()?,
            &optimiser,
            &trained,
            progress,
        )?;
    }
    Ok(ClipAutoencoder::frozen(
        autoencoder.config.clone(),
        &vars,
        autoencoder.frames,
        autoencoder.time_axis,
    )?)
}

/// The DiT's clean-latent predictions (no gradient) of the clips of `step_batch` noised below
/// `below`, at most `most` of them, lowest noise first (the least noised one when none is
/// below), with the clips' pixels and object masks.
fn dit_predictions(
    dit: FinishedDit<'_>,
    recipe: &Recipe,
    step_batch: &StepBatch,
    below: f64,
    most: usize,
) -> Result<(Tensor, Tensor, Tensor)> {
    let StepBatch { batch, draws } = step_batch;
    let Some((pixels, objects)) = &batch.pixels else {
        candle_core::bail!("a latent batch without its clips' pixels");
    };
    let mut order: Vec<usize> = (0..draws.sigmas.len()).collect();
    order.sort_by(|&a, &b| draws.sigmas[a].total_cmp(&draws.sigmas[b]));
    let mut chosen: Vec<u32> = order
        .iter()
        .filter(|&&i| draws.sigmas[i] < below)
        .take(most.max(1))
        .map(|&i| i as u32)
        .collect();
    if chosen.is_empty() {
        chosen.push(order[0] as u32);
    }
    let predicted = crate::flow::clean_prediction(dit.model, dit.tokenizer, batch, recipe, draws)?
        .predicted
        .detach();
    let index = Tensor::new(chosen.as_slice(), predicted.device())?;
    Ok((
        predicted.index_select(&index, 0)?,
        pixels.index_select(&index, 0)?,
        objects.index_select(&index, 0)?,
    ))
}

/// The loss of one batch: the reconstruction error ([`clip_error`] with `weights`' object and
/// motion weights) of the clips decoded from a latent sampled from the frozen encoder's
/// posterior, as the autoencoder's stage samples it. No gradient reaches the encoder.
fn decoder_loss(
    vae: &AutoencoderKlWan,
    batch: &data::Batch,
    weights: &AutoencoderRecipe,
    rng: &mut kino_world::Rng,
) -> Result<Tensor> {
    let (mu, logvar) = vae.encode_moments(&weights.vae_input(&batch.clips)?)?;
    let (mu, logvar) = (mu.detach(), logvar.detach());
    let eps = unit_noise(&mu, rng)?;
    let z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
    clip_error(&vae.decode(&z)?, &batch.clips, &batch.objects, weights)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    #[test]
    fn only_the_decoding_half_is_trained() {
        assert!(is_decoder("decoder.conv_in.weight"));
        assert!(is_decoder("post_quant_conv.bias"));
        assert!(!is_decoder("encoder.conv_in.weight"));
        assert!(!is_decoder("quant_conv.weight"));
    }

    #[test]
    fn a_stage_without_steps_or_with_a_negative_weight_is_refused() {
        let polish = DecoderPolish {
            steps: 10,
            batch: 4,
            learning_rate: 3e-4,
            object_weight: 24.0,
            motion_weight: 2.0,
            from_dit_below: None,
        };
        assert!(polish.check().is_ok());
        let no_steps = DecoderPolish {
            steps: 0,
            ..polish.clone()
        };
        assert!(no_steps.check().unwrap_err().contains("decoder_polish"));
        let negative = DecoderPolish {
            object_weight: -1.0,
            ..polish.clone()
        };
        assert!(negative.check().unwrap_err().contains("decoder_polish"));
        let noisy = DecoderPolish {
            from_dit_below: Some(1.5),
            ..polish
        };
        assert!(noisy.check().unwrap_err().contains("from_dit_below"));
    }
}
