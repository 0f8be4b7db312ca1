//! The clip autoencoder of latent recipes: a small `AutoencoderKLWan` (the Wan VAE code, a
//! small config) that codes a whole clip as one picture, its frames folded into channels
//! (`kino_models::vae::fold_frames`), so time is compressed entirely and the decoder draws
//! the motion. The DiT then makes one latent picture per clip, where a moving object is a
//! code at one place, like its colour, rather than content it must carry from frame to frame.
//! A recipe may instead keep the keyframes as a time axis ([`AutoencoderRecipe::time_axis`]):
//! the Wan VAE's own video form without temporal compression, one latent frame per keyframe.
//!
//! Trained first, alone (reconstruction plus a small KL term, objects weighted up), then
//! frozen while the DiT learns its latents. Its run lives in `<out>/autoencoder/`, with
//! checkpoints that resume like the DiT's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::WanVaeConfig;
use kino_models::vae::{AutoencoderKlWan, fold_frames};
use kino_world::Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError, CheckpointInfo};
use crate::model::{gaussian, sorted_vars};
use crate::optim::AdamW;
use crate::prefetch::Prefetch;
use crate::recipe::{RGB, Recipe};
use crate::train::{TrainError, TrainProgress, learning_rate};
use crate::{curve, data};

/// The VAE's prefix in a model directory (and its folder).
pub const VAE: &str = "vae";

/// The autoencoder part of a latent recipe (`Recipe::autoencoder`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderRecipe {
    /// Channels of the first stage (`base_dim`).
    pub base_dim: usize,
    /// Latent channels (`z_dim`).
    pub z_dim: usize,
    /// Width multiplier per stage (`dim_mult`); `2^(len - 1)` is the spatial compression.
    pub dim_mult: Vec<usize>,
    /// Residual blocks per stage (`num_res_blocks`).
    pub num_res_blocks: usize,
    /// Optimiser steps: the length of the learning-rate schedule.
    pub steps: usize,
    /// Where training stops within that schedule (`None`: at its end), as `--stop-at` does
    /// for the DiT; the shipped autoencoder is step 1,200 of a 2,500-step schedule.
    #[serde(default)]
    pub stop_at: Option<usize>,
    /// Clips per step.
    pub batch: usize,
    /// Peak learning rate (warm-up and cosine decay as the DiT's).
    pub learning_rate: f64,
    /// Weight of the KL term (its mean over latent values) against the squared error (its
    /// mean over pixels): small, so the latents stay a smooth, bounded space to denoise in
    /// without costing detail.
    pub kl_weight: f64,
    /// Extra weight of object pixels in the reconstruction (objects are about 5% of a frame,
    /// and everything the prompt asks lives there).
    pub object_weight: f64,
    /// Weight of the error in frame-to-frame changes (`y[t+1] - y[t]` against the clip's),
    /// object pixels weighted up as above. A clip coded as its time average (each moving
    /// object a still streak along its path) is the easy first fit of the plain
    /// reconstruction loss, and it changes nothing from frame to frame: this term charges
    /// for that directly. A first 1,000-step run without it coded exactly that (motion judged
    /// right in 4 of 56 reconstructed objects).
    #[serde(default)]
    pub motion_weight: f64,
    /// Extra Gaussian noise on the latent the decoder sees in training, in units of each
    /// latent channel's standard deviation over the batch (0: none), so the decoder learns to
    /// map a neighbourhood of each code to the clip (the DiT's samples land near the encoder's
    /// latents, not on them). Measured at 0.2 (`recipes/latent-noise.json`): the round trip
    /// loses 9 points and the DiT gains nothing; the model card has the numbers.
    #[serde(default)]
    pub latent_noise: f64,
    /// Whiten the latents ([`crate::whiten`]): after training, the channels' correlations and
    /// spreads, measured on held clips, are taken out by a linear map folded into the VAE's
    /// `quant_conv` and `post_quant_conv`, so the DiT's noise meets every latent direction at
    /// the same signal-to-noise ratio. Measured (`recipes/latent-whiten.json`, the shipped
    /// recipe with this on): colour 53.6% and motion 26.8% against the shipped 67.9% and
    /// 25.9%. The colour directions lose the margin they had, and motion gains none; the
    /// model card has the numbers.
    #[serde(default)]
    pub whiten: bool,
    /// How widely the layouts of the autoencoder's training clips vary (as the recipe's
    /// `layout_spread`, which is the DiT's): 1, the world's full variety, unless set. The
    /// autoencoder codes whatever the DiT draws and whatever clip it is given, so a DiT
    /// trained on narrow layouts still gets one that has seen every layout.
    #[serde(default = "full_layout_spread")]
    pub layout_spread: f64,
    /// Keep the keyframes as a time axis (`false`: fold them into channels). With it the
    /// VAE is the Wan VAE's usual video form, RGB in and out, causal in time and without
    /// temporal compression: a clip of `T` keyframes becomes `T` latent frames, the first
    /// coded from the first keyframe alone (so it is also the image-to-video condition), and
    /// a moving object is a code that moves from latent frame to latent frame instead of a
    /// pattern across one cell's channels. Each frame costs the encoder and decoder about as
    /// much as a whole folded clip. Measured (`recipes/latent-time.json`, 2x spatial, 4
    /// channels): the round trip keeps 91 of 112 colours and 83 motions (folded: 104, 93),
    /// and at step 1,500 the DiT drew 39 of 112 colours and 9 motions, behind folded runs at
    /// that step: it does not carry objects from latent frame to latent frame in this
    /// budget. The model card has the numbers.
    #[serde(default)]
    pub time_axis: bool,
}

/// The world's full layout variety: what autoencoders learnt before the field existed.
fn full_layout_spread() -> f64 {
    1.0
}

impl Default for AutoencoderRecipe {
    fn default() -> Self {
        Self {
            base_dim: 32,
            z_dim: 8,
            dim_mult: vec![1, 2, 2],
            num_res_blocks: 1,
            steps: 1500,
            batch: 16,
            learning_rate: 1e-3,
            kl_weight: 1e-3,
            object_weight: 8.0,
            motion_weight: 4.0,
            stop_at: None,
            latent_noise: 0.0,
            whiten: false,
            layout_spread: full_layout_spread(),
            time_axis: false,
        }
    }
}

impl AutoencoderRecipe {
    /// The step training ends at: `stop_at` within the schedule, else its end.
    pub fn last_step(&self) -> usize {
        self.stop_at.unwrap_or(self.steps).min(self.steps)
    }
}

impl AutoencoderRecipe {
    /// The VAE config of this recipe for clips of `frames` frames, with the latent
    /// statistics it was measured to have (`latents_mean`, `latents_std`; zeros and ones
    /// before they are known).
    pub fn vae_config(&self, frames: usize, mean: Vec<f64>, std: Vec<f64>) -> WanVaeConfig {
        // A folded VAE takes the whole clip as one picture; a time-axis one a frame at a time.
        let (channels, temporal) = if self.time_axis {
            (RGB, 1)
        } else {
            (RGB * frames, frames)
        };
        WanVaeConfig {
            class_name: Some("AutoencoderKLWan".into()),
            base_dim: self.base_dim,
            decoder_base_dim: None,
            z_dim: self.z_dim,
            dim_mult: self.dim_mult.clone(),
            num_res_blocks: self.num_res_blocks,
            attn_scales: vec![],
            temperal_downsample: vec![false; self.dim_mult.len().saturating_sub(1)],
            dropout: 0.0,
            latents_mean: mean,
            latents_std: std,
            is_residual: false,
            in_channels: channels,
            out_channels: channels,
            patch_size: None,
            scale_factor_temporal: Some(temporal),
            scale_factor_spatial: Some(1 << self.dim_mult.len().saturating_sub(1)),
        }
    }

    /// The config before the latent statistics are measured.
    pub fn untrained_config(&self, frames: usize) -> WanVaeConfig {
        self.vae_config(frames, vec![0.0; self.z_dim], vec![1.0; self.z_dim])
    }

    /// Clips `(B, 3, T, H, W)` as the VAE takes them: folded into channels
    /// (`(B, 3 T, 1, H, W)`), or as they are for a time-axis VAE.
    pub fn vae_input(&self, clips: &Tensor) -> Result<Tensor> {
        vae_input(clips, self.time_axis)
    }

    /// The VAE's output as clips `(B, 3, frames, H, W)`: the inverse of [`Self::vae_input`].
    pub fn vae_output(&self, decoded: &Tensor, frames: usize) -> Result<Tensor> {
        vae_output(decoded, frames, self.time_axis)
    }
}

/// [`AutoencoderRecipe::vae_input`] for a VAE with or without a time axis.
fn vae_input(clips: &Tensor, time_axis: bool) -> Result<Tensor> {
    if time_axis {
        Ok(clips.clone())
    } else {
        fold_frames(clips)
    }
}

/// [`AutoencoderRecipe::vae_output`] for a VAE with or without a time axis.
fn vae_output(decoded: &Tensor, frames: usize, time_axis: bool) -> Result<Tensor> {
    if time_axis {
        Ok(decoded.clone())
    } else {
        kino_models::vae::unfold_frames(decoded, frames)
    }
}

/// The `vae/config.json` document of a config (diffusers' field names).
pub fn config_json(config: &WanVaeConfig) -> serde_json::Value {
    serde_json::json!({
        "_class_name": "AutoencoderKLWan",
        "_diffusers_version": "0.42.1",
        "base_dim": config.base_dim,
        "z_dim": config.z_dim,
        "dim_mult": config.dim_mult,
        "num_res_blocks": config.num_res_blocks,
        "attn_scales": config.attn_scales,
        "temperal_downsample": config.temperal_downsample,
        "dropout": 0.0,
        "latents_mean": config.latents_mean,
        "latents_std": config.latents_std,
        "in_channels": config.in_channels,
        "out_channels": config.out_channels,
        "scale_factor_temporal": config.scale_factor_temporal,
        "scale_factor_spatial": config.scale_factor_spatial,
        "clip_output": true
    })
}

/// A trained, frozen clip autoencoder with its measured latent statistics.
#[derive(Debug, Clone)]
pub struct ClipAutoencoder {
    /// The network.
    pub vae: AutoencoderKlWan,
    /// Its config, `latents_mean` and `latents_std` measured.
    pub config: WanVaeConfig,
    /// Its weights by reference name (without the `vae.` prefix).
    pub weights: Vec<(String, Tensor)>,
    /// Frames per clip.
    pub frames: usize,
    /// Whether the keyframes are a time axis of the latent ([`AutoencoderRecipe::time_axis`]).
    pub time_axis: bool,
}

impl ClipAutoencoder {
    /// The autoencoder of `config` on detached copies of `vars`' current values: frozen, so
    /// neither encoding batches nor a loss through the decoder records their gradients.
    pub(crate) fn frozen(
        config: WanVaeConfig,
        vars: &[(String, candle_core::Var)],
        frames: usize,
        time_axis: bool,
    ) -> Result<Self> {
        let weights: Vec<(String, Tensor)> = vars
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
            .collect();
        let device = vars
            .first()
            .map_or(Device::Cpu, |(_, var)| var.as_tensor().device().clone());
        let tensors = weights.iter().cloned().collect();
        Ok(Self {
            vae: AutoencoderKlWan::new(
                &config,
                VarBuilder::from_tensors(tensors, DType::F32, &device),
            )?,
            config,
            weights,
            frames,
            time_axis,
        })
    }

    /// The normalised latents of clips `(B, 3, T, H, W)`: `(B, z_dim, 1, h, w)` folded,
    /// `(B, z_dim, T, h, w)` with a time axis; the posterior mean, as the pipelines encode.
    pub fn latents(&self, clips: &Tensor) -> Result<Tensor> {
        let mu = self.vae.encode(&vae_input(clips, self.time_axis)?)?;
        kino_models::vae::normalize_latents(&self.config, &mu)
    }

    /// Clips `(B, 3, T, H, W)` in `[-1, 1]` from normalised latents.
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        vae_output(&self.decode_raw(latents)?, self.frames, self.time_axis)
    }

    /// The decoder's output (frames folded into channels, or the clip itself with a time
    /// axis) for normalised latents.
    fn decode_raw(&self, latents: &Tensor) -> Result<Tensor> {
        let z = kino_models::vae::denormalize_latents(&self.config, latents)?;
        self.vae.decode(&z)
    }

    /// How far the clips decoded from `latents` are from `clips` `(B, 3, T, H, W)`, whose
    /// object pixels `objects` `(B, 1, T, H, W)` marks: the autoencoder's own reconstruction
    /// error (`ae`'s object and motion weights), differentiable in `latents`.
    pub fn decoded_error(
        &self,
        latents: &Tensor,
        clips: &Tensor,
        objects: &Tensor,
        ae: &AutoencoderRecipe,
    ) -> Result<Tensor> {
        clip_error(&self.decode_raw(latents)?, clips, objects, ae)
    }
}

/// The log-variance the posterior starts at: narrow (a standard deviation of 0.05), so the
/// decoder sees the code and not noise from the first step; the KL term widens it as far as
/// it can afford.
const INITIAL_LOGVAR: f32 = -6.0;

/// Seeded initial weights: norm gains 1, biases 0, the second convolution of every residual
/// block and the attention output 0 (each block starts as the identity), the posterior's
/// log-variance a constant [`INITIAL_LOGVAR`], every other convolution N(0, 1/fan_in).
fn initialise(varmap: &VarMap, seed: u64) -> Result<()> {
    let mut rng = Rng::new(kino_world::mix64(seed ^ 0x7661_6569)); // "vaei"
    for (name, var) in sorted_vars(varmap) {
        let dims = var.as_tensor().dims().to_vec();
        let n: usize = dims.iter().product();
        // quant_conv maps to (mean, log-variance), z channels each.
        let half = n / 2;
        let values: Vec<f32> = if name == "quant_conv.bias" {
            (0..n)
                .map(|i| if i < half { 0.0 } else { INITIAL_LOGVAR })
                .collect()
        } else if name == "quant_conv.weight" {
            let fan_in: usize = dims.iter().skip(1).product();
            let std = (1.0 / fan_in.max(1) as f64).sqrt();
            (0..n)
                .map(|i| {
                    let value = gaussian(&mut rng) * std;
                    if i < half { value as f32 } else { 0.0 }
                })
                .collect()
        } else if name.ends_with("gamma") {
            vec![1.0; n]
        } else if name.ends_with("bias")
            || name.ends_with("conv2.weight")
            || name.ends_with("proj.weight")
        {
            vec![0.0; n]
        } else {
            let fan_in: usize = dims.iter().skip(1).product();
            let std = (1.0 / fan_in.max(1) as f64).sqrt();
            (0..n).map(|_| (gaussian(&mut rng) * std) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, dims, var.as_tensor().device())?)?;
    }
    Ok(())
}

/// Builds the network on `varmap`'s current values. The Wan code reshapes its convolution
/// weights when it loads them, so the network is rebuilt after every optimiser step.
pub(crate) fn build(
    config: &WanVaeConfig,
    varmap: &VarMap,
    device: &Device,
) -> Result<AutoencoderKlWan> {
    AutoencoderKlWan::new(config, VarBuilder::from_varmap(varmap, DType::F32, device))
}

/// The loss of one batch: object-weighted squared error of the reconstruction from a sampled
/// latent and `motion_weight` times that of its frame-to-frame changes, plus `kl_weight`
/// times the mean KL divergence from a unit Gaussian. Returns the total and the
/// reconstruction part (the first two terms).
fn loss(
    vae: &AutoencoderKlWan,
    batch: &data::Batch,
    ae: &AutoencoderRecipe,
    rng: &mut Rng,
) -> Result<(Tensor, Tensor)> {
    let x = ae.vae_input(&batch.clips)?;
    let (mu, logvar) = vae.encode_moments(&x)?;
    let eps = unit_noise(&mu, rng)?;
    let mut z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
    if ae.latent_noise > 0.0 {
        z = (&z + (channel_std(&mu)? * ae.latent_noise)?.broadcast_mul(&unit_noise(&mu, rng)?)?)?;
    }
    let reconstruction = clip_error(&vae.decode(&z)?, &batch.clips, &batch.objects, ae)?;
    let kl = ((mu.sqr()? + logvar.exp()?)? - 1.0)?
        .sub(&logvar)?
        .affine(0.5, 0.0)?
        .flatten_from(1)?
        .mean(D::Minus1)?
        .mean_all()?;
    let total = (&reconstruction + (kl * ae.kl_weight)?)?;
    Ok((total, reconstruction))
}

/// How far a decoded clip is from the clip it should be: the object-weighted squared error
/// of `decoded` (the decoder's output, frames folded into channels unless `ae` keeps a time
/// axis) against `clips` `(B, 3,
/// T, H, W)` in `[-1, 1]`, plus `motion_weight` times that of its frame-to-frame changes
/// (object pixels of either frame weighted up). `objects` `(B, 1, T, H, W)` marks object
/// pixels. The autoencoder's reconstruction loss, and the DiT's decoded loss
/// ([`Recipe::decoded_weight`]).
pub(crate) fn clip_error(
    decoded: &Tensor,
    clips: &Tensor,
    objects: &Tensor,
    ae: &AutoencoderRecipe,
) -> Result<Tensor> {
    let frames = clips.dim(2)?;
    let y = ae.vae_output(decoded, frames)?;
    let objects = objects.repeat((1, RGB, 1, 1, 1))?;
    let pixel_weights = (&objects * ae.object_weight)? + 1.0;
    let mut error = ((&y - clips)?.sqr()? * pixel_weights)?.mean_all()?;
    if ae.motion_weight > 0.0 && frames > 1 {
        let change = |v: &Tensor| -> Result<Tensor> {
            v.narrow(2, 1, frames - 1)? - v.narrow(2, 0, frames - 1)?
        };
        let moved =
            objects
                .narrow(2, 1, frames - 1)?
                .maximum(&objects.narrow(2, 0, frames - 1)?)?;
        let weights = ((moved * ae.object_weight)? + 1.0)?;
        let motion = ((change(&y)? - change(clips)?)?.sqr()? * weights)?.mean_all()?;
        error = (error + (motion * ae.motion_weight)?)?;
    }
    Ok(error)
}

/// Standard-normal noise of `like`'s shape.
pub(crate) fn unit_noise(like: &Tensor, rng: &mut Rng) -> Result<Tensor> {
    let values: Vec<f32> = (0..like.elem_count())
        .map(|_| gaussian(rng) as f32)
        .collect();
    Tensor::from_vec(values, like.shape(), like.device())
}

/// Each channel's standard deviation over batch and positions of latents `(B, C, T, H, W)`,
/// shaped `(1, C, 1, 1, 1)` and detached (a noise scale, not something to train).
fn channel_std(latents: &Tensor) -> Result<Tensor> {
    let x = latents.detach();
    let moment = |v: &Tensor| -> Result<Tensor> {
        v.mean_keepdim(0)?
            .mean_keepdim(2)?
            .mean_keepdim(3)?
            .mean_keepdim(4)
    };
    let mean = moment(&x)?;
    let variance = (moment(&x.sqr()?)? - mean.sqr()?)?.relu()?;
    variance.sqrt()
}

/// The step offset of the autoencoder's batches in the data stream, so they are not the
/// DiT's.
const DATA_OFFSET: usize = 10_000_000;

/// Where a run keeps its autoencoder.
pub fn run_dir(out: &Path) -> PathBuf {
    out.join("autoencoder")
}

/// Trains the recipe's autoencoder in `<out>/autoencoder/` (resuming its checkpoint, or
/// returning it at once when it is complete), then measures its latent statistics on a
/// held batch of training clips. Reports steps to `progress`. With `from`, a model folder,
/// its `vae/` weights are taken instead ([`import_weights`]) and saved as the run's
/// checkpoint at the autoencoder's last step.
pub fn train_autoencoder(
    recipe: &Recipe,
    ae: &AutoencoderRecipe,
    out: &Path,
    from: Option<&Path>,
    progress: &mut dyn TrainProgress,
) -> std::result::Result<ClipAutoencoder, TrainError> {
    let device = Device::Cpu;
    let dir = run_dir(out);
    checkpoint::create_dir(&dir)?;
    let config = ae.untrained_config(recipe.frames);
    let varmap = VarMap::new();
    build(&config, &varmap, &device)?;
    initialise(&varmap, recipe.seed)?;
    let vars = sorted_vars(&varmap);
    let mut optimiser = AdamW::new(vars.clone())?;
    let mut info = CheckpointInfo::new(recipe.clone());
    if let Some(saved) = checkpoint::latest(&dir) {
        let (tensors, saved_info) = checkpoint::load(&saved, &device)?;
        checkpoint::restore_weights(&tensors, &vars, "the autoencoder")?;
        optimiser.restore(&tensors, saved_info.step)?;
        if let Some(from) = from {
            return Err(TrainError::Invalid(format!(
                "--autoencoder-from {}: {} already holds an autoencoder (step {}); drop the flag to keep it, or choose another --out",
                from.display(),
                dir.display(),
                saved_info.step
            )));
        }
        info = saved_info;
    } else if let Some(from) = from {
        import_weights(from, &vars)?;
        info.step = ae.last_step();
        let tensors = checkpoint::weights_and_moments(&optimiser, &vars);
        checkpoint::save(&dir, &tensors, &info)?;
    }
    // The recipe as this stage sees it: its own learning-rate schedule and clip layouts.
    let stage = Recipe {
        learning_rate: ae.learning_rate,
        warmup_steps: 100.min(ae.steps / 10),
        layout_spread: ae.layout_spread,
        region_spread: None,
        one_object_share: kino_world::ONE_OBJECT_SHARE,
        ..recipe.clone()
    };
    let stop = ae.last_step();
    progress.begin(
        info.step,
        stop,
        varmap.all_vars().iter().map(|v| v.elem_count()).sum(),
    );
    let started = Instant::now();
    let seconds_before = info.seconds;
    // The clips of the next step are rendered while this one trains.
    let mut prefetch = Prefetch::new(stop, {
        let (stage, batch, device) = (stage.clone(), ae.batch, device.clone());
        move |step| data::world_batch(&stage, DATA_OFFSET + step, batch, &device)
    });
    while info.step < stop {
        let step = info.step;
        let vae = build(&config, &varmap, &device)?;
        let batch = prefetch.take(step)?;
        let mut rng = data::step_rng(recipe, DATA_OFFSET + step, 0x6e6f_6973);
        let (total, reconstruction) = loss(&vae, &batch, ae, &mut rng)?;
        let grads = total.backward()?;
        optimiser.step(&grads, learning_rate(&stage, step, ae.steps), 0.0)?;
        info.step += 1;
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        let step = StageStep {
            dir: &dir,
            stop,
            seconds,
            what: "the autoencoder's",
            remedy: "its learning rate",
        };
        step.record(
            &mut info,
            reconstruction.to_scalar::<f32>()?,
            &optimiser,
            &vars,
            progress,
        )?;
    }
    let mut vae = build(&config, &varmap, &device)?;
    if ae.whiten {
        let whitening =
            crate::whiten::Whitening::measure(&held_latents(&vae, recipe, ae, &device)?)?;
        fold_whitening(&varmap, &whitening)?;
    }
    // The DiT trains on the autoencoder the export will ship, and that an import of it would
    // give: the weights rounded to the export's dtype. A run that trains its autoencoder and
    // one that imports it then train the same DiT.
    round_to_dtype(&vars, recipe.export_dtype.dtype())?;
    vae = build(&config, &varmap, &device)?;
    let (mean, std) = latent_statistics(&vae, recipe, ae, &device)?;
    let config = ae.vae_config(recipe.frames, mean, std);
    Ok(ClipAutoencoder::frozen(
        config,
        &vars,
        recipe.frames,
        ae.time_axis,
    )?)
}

/// One optimiser step of a stage that trains beside the DiT (the autoencoder's, the
/// decoder's), as [`StageStep::record`] records it.
pub(crate) struct StageStep<'a> {
    /// The stage's checkpoint folder.
    pub dir: &'a Path,
    /// The step the stage stops at.
    pub stop: usize,
    /// Seconds the stage has trained, all runs together.
    pub seconds: f64,
    /// Whose loss it is, for the error ("the autoencoder's").
    pub what: &'a str,
    /// What to lower when the loss is not finite.
    pub remedy: &'a str,
}

impl StageStep<'_> {
    /// Records the loss `value` of the step `info.step` has just counted (refused when it is
    /// not finite), reports it, and every 100 steps and at the stop checkpoints `vars` with
    /// their moments and draws the loss curve.
    pub fn record(
        &self,
        info: &mut CheckpointInfo,
        value: f32,
        optimiser: &AdamW,
        vars: &[(String, candle_core::Var)],
        progress: &mut dyn TrainProgress,
    ) -> std::result::Result<(), TrainError> {
        if !value.is_finite() {
            return Err(TrainError::Invalid(format!(
                "{} loss became {value} at step {}: lower {}",
                self.what, info.step, self.remedy
            )));
        }
        info.losses.push(value);
        progress.step(info.step, value);
        if info.step.is_multiple_of(100) || info.step == self.stop {
            info.seconds = self.seconds;
            let tensors = checkpoint::weights_and_moments(optimiser, vars);
            checkpoint::save(self.dir, &tensors, info)?;
            curve::write_loss_curve(&self.dir.join("loss.png"), &info.losses)?;
        }
        Ok(())
    }
}

/// Sets `vars` (the autoencoder's, by reference name) to the weights in `model/vae/`'s
/// safetensors, cast to f32. Every variable must be there with its shape, and nothing else
/// may be: a different config is an error naming the tensor.
pub fn import_weights(
    model: &Path,
    vars: &[(String, candle_core::Var)],
) -> std::result::Result<(), TrainError> {
    let path = model.join(VAE).join("diffusion_pytorch_model.safetensors");
    let invalid = |message: String| {
        TrainError::Checkpoint(CheckpointError::Invalid {
            path: path.clone(),
            message,
        })
    };
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| invalid(format!("cannot read the autoencoder weights: {e}")))?;
    for (name, var) in vars {
        let tensor = tensors
            .remove(name)
            .ok_or_else(|| invalid(format!("no tensor {name}: not this recipe's autoencoder")))?;
        if tensor.dims() != var.as_tensor().dims() {
            return Err(invalid(format!(
                "tensor {name} is {:?}, this recipe's autoencoder has {:?}",
                tensor.dims(),
                var.as_tensor().dims()
            )));
        }
        var.set(&tensor.to_dtype(DType::F32)?)?;
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(invalid(format!(
            "tensor {extra} is not in this recipe's autoencoder"
        )));
    }
    Ok(())
}

/// Sets each of `vars` to its value rounded to `dtype` (held as f32): what exporting the
/// weights in `dtype` and importing them back gives.
fn round_to_dtype(vars: &[(String, candle_core::Var)], dtype: DType) -> Result<()> {
    if dtype == DType::F32 {
        return Ok(());
    }
    for (_, var) in vars {
        var.set(&var.as_tensor().to_dtype(dtype)?.to_dtype(DType::F32)?)?;
    }
    Ok(())
}

/// Sets the autoencoder's `quant_conv` and `post_quant_conv` to `whitening` folded into them
/// ([`crate::whiten::Whitening::fold`]).
fn fold_whitening(
    varmap: &VarMap,
    whitening: &crate::whiten::Whitening,
) -> std::result::Result<(), TrainError> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Invalid("the autoencoder's weights are poisoned".into()))?;
    let mut vars = Vec::new();
    for name in [
        "quant_conv.weight",
        "quant_conv.bias",
        "post_quant_conv.weight",
        "post_quant_conv.bias",
    ] {
        let var = data.get(name).ok_or_else(|| {
            TrainError::Invalid(format!("the autoencoder has no {name} to whiten"))
        })?;
        vars.push(var);
    }
    let folded = whitening.fold(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
        vars[3].as_tensor(),
    )?;
    for (var, value) in vars.iter().zip(&folded) {
        var.set(value)?;
    }
    Ok(())
}

/// The posterior means `(128, z, t, h, w)` of 128 training clips held for measuring the
/// latents (the same clips on every call).
fn held_latents(
    vae: &AutoencoderKlWan,
    recipe: &Recipe,
    ae: &AutoencoderRecipe,
    device: &Device,
) -> Result<Tensor> {
    let mut all = Vec::new();
    for i in 0..8 {
        let batch = data::world_batch(recipe, 2 * DATA_OFFSET + i, 16, device)?;
        all.push(vae.encode(&ae.vae_input(&batch.clips)?)?.detach());
    }
    Tensor::cat(&all, 0)
}

/// Per-channel mean and standard deviation of the posterior means of the held clips.
fn latent_statistics(
    vae: &AutoencoderKlWan,
    recipe: &Recipe,
    ae: &AutoencoderRecipe,
    device: &Device,
) -> Result<(Vec<f64>, Vec<f64>)> {
    // (B, z, t, h, w) -> (z, B t h w)
    let values = held_latents(vae, recipe, ae, device)?
        .transpose(0, 1)?
        .flatten_from(1)?;
    let mean = values.mean(1)?;
    let std = values
        .broadcast_sub(&mean.unsqueeze(1)?)?
        .sqr()?
        .mean(1)?
        .sqrt()?;
    let to_f64 = |t: Tensor| -> Result<Vec<f64>> {
        Ok(t.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
    };
    let std = to_f64(std)?.into_iter().map(|s| s.max(1e-3)).collect();
    Ok((to_f64(mean)?, std))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

    use super::*;

    #[test]
    fn channel_std_is_each_channels_spread_over_batch_and_positions() {
        // Channel 0 holds 1 and 3 (std 1), channel 1 is constant 5 (std 0), across two
        // clips and two positions.
        let values: Vec<f32> = vec![1.0, 3.0, 5.0, 5.0, 3.0, 1.0, 5.0, 5.0];
        let latents = Tensor::from_vec(values, (2, 2, 1, 1, 2), &Device::Cpu).unwrap();
        let std = channel_std(&latents).unwrap();
        assert_eq!(std.dims(), &[1, 2, 1, 1, 1]);
        let std = std.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            (std[0] - 1.0).abs() < 1e-6 && std[1].abs() < 1e-6,
            "{std:?}"
        );
    }

    #[test]
    fn latent_noise_enters_only_the_decoders_input() {
        // The same batch and seed with and without decoder noise: the KL term (the encoder's
        // alone) is the same, the reconstruction is not.
        let recipe = Recipe::tiny();
        let ae = AutoencoderRecipe {
            base_dim: 8,
            z_dim: 4,
            dim_mult: vec![1, 2],
            ..AutoencoderRecipe::default()
        };
        let config = ae.untrained_config(recipe.frames);
        let varmap = VarMap::new();
        build(&config, &varmap, &Device::Cpu).unwrap();
        initialise(&varmap, 1).unwrap();
        let vae = build(&config, &varmap, &Device::Cpu).unwrap();
        let batch = data::world_batch(&recipe, 5, 2, &Device::Cpu).unwrap();
        let run = |noise: f64| {
            let ae = AutoencoderRecipe {
                latent_noise: noise,
                ..ae.clone()
            };
            let (total, reconstruction) = loss(&vae, &batch, &ae, &mut Rng::new(9)).unwrap();
            let (total, reconstruction) = (
                total.to_scalar::<f32>().unwrap(),
                reconstruction.to_scalar::<f32>().unwrap(),
            );
            (total - reconstruction, reconstruction)
        };
        let (kl_plain, plain) = run(0.0);
        let (kl_noisy, noisy) = run(1.0);
        assert!(
            (kl_plain - kl_noisy).abs() < 1e-6,
            "{kl_plain} vs {kl_noisy}"
        );
        assert!(
            (plain - noisy).abs() > 1e-6,
            "noise changed nothing: {plain}"
        );
    }
}
