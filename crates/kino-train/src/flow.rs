//! The flow-matching objective, in the sampler's convention: a clip `x0` and noise `e` mix as
//! `x_s = (1 - s) x0 + s e` at noise level `s` in (0, 1) and the model sees timestep `1000 s`.
//! Noise levels are logit-normal, then shifted like the sampler's `flow_shift` schedule.
//!
//! kino-mini predicts the clean clip `x0` (diffusers' `prediction_type = "sample"`), not the
//! velocity `e - x0` Wan predicts: in pixel space a 4x4x4 patch holds 192 values, more than
//! the model's width, and a velocity carries the full-rank noise, which a narrower network
//! cannot reproduce, so its samples keep a residue of noise; clean clips lie on a
//! low-dimensional set and pass through ("Back to Basics: Let Denoising Generative Models
//! Denoise", Li and He, 2025). The loss is still measured on the velocity the prediction
//! implies, `v = (x_s - x0) / s`, i.e. `|x0_pred - x0|^2 / s^2`, with `s` floored.

use candle_core::{D, DType, Device, Result, Tensor};
use kino_models::text::WanTokenizer;
use kino_world::Rng;

use crate::autoencoder::{AutoencoderRecipe, ClipAutoencoder};
use crate::caption_parse::ParseTargets;
use crate::model::{MiniModel, gaussian};
use crate::recipe::Recipe;
use crate::token_read::TokenTargets;

/// The sampler's shift of a noise level: `shift s / (1 + (shift - 1) s)`.
pub fn shift_sigma(sigma: f64, shift: f64) -> f64 {
    shift * sigma / (1.0 + (shift - 1.0) * sigma)
}

/// The transformer input's conditioning channels `(B, 1 + C, T, H, W)` for training clips
/// (see [`kino_models::dit::first_frame_condition`]), then the position planes when the
/// recipe has them (as the pipeline builds them). `first` `(B, C, H, W)` is each clip's
/// first frame as the DiT is given it; `first_frames[b]` says whether clip `b` gets it.
pub fn first_frame_condition(
    first: &Tensor,
    first_frames: &[bool],
    frames: usize,
    recipe: &Recipe,
) -> Result<Tensor> {
    kino_models::dit::condition_channels(
        first,
        first_frames,
        frames,
        recipe.first_frame_layout,
        recipe.position_planes,
    )
}

/// One batch as the DiT learns it: in pixel space the clips themselves; for a latent recipe
/// the autoencoder's latents of them.
#[derive(Debug, Clone)]
pub struct DitBatch {
    /// What the DiT denoises, `(B, C, T, H, W)`.
    pub clips: Tensor,
    /// The first-frame condition of each clip `(B, C, H, W)`: its first frame in pixel space,
    /// the latent of the still clip that holds its first frame throughout in latent space.
    pub first: Tensor,
    /// `(B, 1, T, H, W)`: 1 where objects are.
    pub objects: Tensor,
    /// One caption per clip.
    pub captions: Vec<String>,
    /// The scene each caption describes.
    pub specs: Vec<kino_world::SceneSpec>,
    /// Per clip, per frame, each object's exact bounds in pixels (in the spec's order).
    pub boxes: Vec<crate::data::ObjectBoxes>,
    /// Per clip, per frame, each object's pose (in the spec's order).
    pub poses: Vec<crate::data::ObjectPoses>,
    /// For a latent batch, the clips `(B, 3, T, H, W)` and object masks `(B, 1, T, H, W)`
    /// it was encoded from (what the decoded loss compares against).
    pub pixels: Option<(Tensor, Tensor)>,
}

impl DitBatch {
    /// A pixel-space batch: the world's clips as they are.
    pub fn pixels(batch: &crate::data::Batch) -> Result<Self> {
        Ok(Self {
            first: batch.clips.narrow(2, 0, 1)?.squeeze(2)?,
            clips: batch.clips.clone(),
            objects: batch.objects.clone(),
            captions: batch.captions.clone(),
            specs: batch.specs.clone(),
            boxes: batch.boxes.clone(),
            poses: batch.poses.clone(),
            pixels: None,
        })
    }

    /// A latent batch: the autoencoder's latents of the world's clips; the object mask is
    /// 1 on every latent cell an object touches in any frame (folded), or in that latent
    /// frame (time axis). Only the clips `given` a first frame have a first-frame latent: a
    /// folded autoencoder's latent of the still clip that holds it, encoded for them alone,
    /// or a time-axis one's first latent frame (coded from the first frame alone); the
    /// others' `first` is zeros, which the condition multiplies away in any case
    /// ([`first_frame_condition`]).
    pub fn latents(
        batch: &crate::data::Batch,
        autoencoder: &crate::autoencoder::ClipAutoencoder,
        given: &[bool],
    ) -> Result<Self> {
        let clips = &batch.clips;
        let (b, _, t, h, w) = clips.dims5()?;
        if given.len() != b {
            candle_core::bail!(
                "DitBatch::latents: {} first-frame flags for {b} clips",
                given.len()
            );
        }
        let latents = autoencoder.latents(clips)?.detach();
        let zeros = latents.narrow(2, 0, 1)?.squeeze(2)?.zeros_like()?;
        let chosen: Vec<u32> = (0..b as u32).filter(|&i| given[i as usize]).collect();
        let first = if chosen.is_empty() {
            zeros
        } else {
            let index = Tensor::new(chosen.as_slice(), clips.device())?;
            let encoded = if autoencoder.time_axis {
                latents.index_select(&index, 0)?.narrow(2, 0, 1)?
            } else {
                let still = clips
                    .index_select(&index, 0)?
                    .narrow(2, 0, 1)?
                    .repeat((1, 1, t, 1, 1))?;
                autoencoder.latents(&still)?.detach()
            };
            zeros.index_add(&index, &encoded.squeeze(2)?.contiguous()?, 0)?
        };
        let (_, _, lt, lh, lw) = latents.dims5()?;
        // (B, 1, T, H, W) -> (B, lt, H, W): every frame (folded) or each frame (time axis)
        let objects = if lt == 1 {
            batch.objects.max_keepdim(2)?.squeeze(2)?
        } else {
            batch.objects.squeeze(1)?
        };
        let objects = objects.max_pool2d((h / lh, w / lw))?.unsqueeze(1)?;
        Ok(Self {
            clips: latents,
            first,
            objects,
            captions: batch.captions.clone(),
            specs: batch.specs.clone(),
            boxes: batch.boxes.clone(),
            poses: batch.poses.clone(),
            pixels: Some((clips.clone(), batch.objects.clone())),
        })
    }
}

/// Tokenizes captions for training exactly as the pipeline does (lower case, `</s>`, padded).
pub fn tokenize(
    tokenizer: &WanTokenizer,
    captions: &[&str],
    max_len: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let tokens = tokenizer.tokenize(captions, max_len)?;
    Ok((
        tokens.input_ids_tensor(device)?,
        tokens.attention_mask_tensor(device)?,
    ))
}

/// What one training step draws at random for its batch, drawn in this order from the
/// step's noise stream: each clip's noise level (logit-normal, shifted), the noise, whether
/// the clip is given its first frame, whether its caption is dropped. Drawn before the batch
/// is encoded, so a latent batch encodes first frames only for the clips given one.
#[derive(Debug, Clone)]
pub struct StepDraws {
    /// Noise level per clip, in (0, 1).
    pub sigmas: Vec<f64>,
    /// Unit Gaussian noise, `batch x` [`Recipe::latent_channels`] `x` [`Recipe::latent_size`]
    /// values, in the layout of what the DiT denoises.
    pub noise: Vec<f32>,
    /// Whether each clip is given its first frame.
    pub first_frames: Vec<bool>,
    /// Whether each clip's caption is dropped (trained unconditioned).
    pub caption_dropped: Vec<bool>,
    /// Whether this step feeds the model its own estimate ([`Recipe::self_condition`]; drawn
    /// only for recipes that have it, so other recipes' draws are unchanged).
    pub self_condition: bool,
}

impl StepDraws {
    /// The draws for `batch` clips of `recipe`.
    pub fn new(recipe: &Recipe, batch: usize, rng: &mut Rng) -> Self {
        let per_clip = recipe.latent_channels() * recipe.latent_size().iter().product::<usize>();
        let sigmas = (0..batch)
            .map(|_| {
                let logit = gaussian(rng);
                shift_sigma(1.0 / (1.0 + (-logit).exp()), recipe.flow_shift)
            })
            .collect();
        let noise = (0..batch * per_clip)
            .map(|_| gaussian(rng) as f32)
            .collect();
        let first_frames = (0..batch)
            .map(|_| rng.chance(recipe.first_frame_share))
            .collect();
        let caption_dropped = (0..batch)
            .map(|_| rng.chance(recipe.caption_dropout))
            .collect();
        let self_condition = recipe.self_condition && rng.chance(0.5);
        Self {
            sigmas,
            noise,
            first_frames,
            caption_dropped,
            self_condition,
        }
    }
}

/// The DiT's clean-latent estimate of one batch under `draws` (noise levels, noise,
/// first-frame conditioning, caption dropout), with what the loss's heads read from the same
/// pass.
pub struct CleanPrediction {
    /// The clean clips (or latents) the transformer predicts, shaped like the batch's.
    pub predicted: Tensor,
    /// The tokens the token-read head reads, when the recipe trains it.
    tokens: Option<Tensor>,
    /// The text encoder's output for the (possibly dropped) captions.
    text: Tensor,
    /// Their token mask.
    mask: Tensor,
}

/// The transformer's clean estimate of `batch` under `draws`: the noisy input, every
/// conditioning channel and the captions as [`loss`] trains on them.
pub fn clean_prediction(
    model: &MiniModel,
    tokenizer: &WanTokenizer,
    batch: &DitBatch,
    recipe: &Recipe,
    draws: &StepDraws,
) -> Result<CleanPrediction> {
    let clips = &batch.clips;
    let (b, c, t, h, w) = clips.dims5()?;
    let device = clips.device();
    if draws.sigmas.len() != b || draws.noise.len() != b * c * t * h * w {
        candle_core::bail!(
            "flow: draws for {} clips of {} values, a batch of {b} clips of {}",
            draws.sigmas.len(),
            draws.noise.len() / draws.sigmas.len().max(1),
            c * t * h * w
        );
    }
    let sigmas = &draws.sigmas;
    let first_frames = &draws.first_frames;
    let noise = Tensor::from_vec(draws.noise.clone(), clips.shape(), device)?;
    let captions: Vec<&str> = batch
        .captions
        .iter()
        .zip(&draws.caption_dropped)
        .map(|(caption, &dropped)| if dropped { "" } else { caption.as_str() })
        .collect();

    let s = Tensor::from_vec(
        sigmas.iter().map(|&s| s as f32).collect::<Vec<_>>(),
        (b, 1, 1, 1, 1),
        device,
    )?;
    // x_s = x0 + s (e - x0)
    let noisy = (clips + (&noise - clips)?.broadcast_mul(&s)?)?;
    let condition = first_frame_condition(&batch.first, first_frames, t, recipe)?;
    let condition = if recipe.layout_planes {
        let planes =
            crate::layout::truth_planes(recipe, &batch.specs, &batch.poses, [t, h, w], device)?;
        Tensor::cat(&[&condition, &planes.to_dtype(condition.dtype())?], 1)?
    } else {
        condition
    };
    let timesteps = Tensor::from_vec(
        sigmas
            .iter()
            .map(|&s| (s * 1000.0) as f32)
            .collect::<Vec<_>>(),
        b,
        device,
    )?;
    let (ids, mask) = tokenize(tokenizer, &captions, recipe.max_sequence_length, device)?;
    let text = model.encode_text(&ids, &mask)?;
    let tap = model
        .token_read
        .as_ref()
        .filter(|_| recipe.token_read_weight > 0.0)
        .map(|_| recipe.token_read_block);
    // The clean-clip estimate of one pass of the transformer over `estimate` channels, and
    // the tokens the token-read head reads.
    let clean_estimate = |estimate: Option<&Tensor>| -> Result<(Tensor, Option<Tensor>)> {
        let input = match estimate {
            Some(estimate) => Tensor::cat(&[&noisy, &condition, estimate], 1)?,
            None => Tensor::cat(&[&noisy, &condition], 1)?,
        };
        let (predicted, tokens) = model.dit.forward_tapped(&input, &timesteps, &text, tap)?;
        debug_assert_eq!(predicted.dims()[1], recipe.latent_channels());
        match recipe.skip_detail_std {
            Some(detail_std) => {
                let preconditioning = kino_sampling::SkipPreconditioning { detail_std };
                let (skip, out): (Vec<f32>, Vec<f32>) = sigmas
                    .iter()
                    .map(|&s| {
                        let (skip, out) = preconditioning.coefficients(s);
                        (skip as f32, out as f32)
                    })
                    .unzip();
                let skip = Tensor::from_vec(skip, (b, 1, 1, 1, 1), device)?;
                let out = Tensor::from_vec(out, (b, 1, 1, 1, 1), device)?;
                Ok((
                    (noisy.broadcast_mul(&skip)? + predicted.broadcast_mul(&out)?)?,
                    tokens,
                ))
            }
            None => Ok((predicted, tokens)),
        }
    };
    let (predicted, tokens) = if recipe.self_condition {
        let zeros = noisy.zeros_like()?;
        let estimate = if draws.self_condition {
            // The model's own estimate, as sampling will feed it; no gradient flows back
            // through the first pass.
            clean_estimate(Some(&zeros))?.0.detach()
        } else {
            zeros
        };
        clean_estimate(Some(&estimate))?
    } else {
        clean_estimate(None)?
    };
    Ok(CleanPrediction {
        predicted,
        tokens,
        text,
        mask,
    })
}

/// The flow-matching loss of one batch under `draws` (noise levels, noise, first-frame
/// conditioning, caption dropout). Object pixels of a clip at noise level `s` weigh
/// `1 + foreground_weight (1 - s)` times as much as background ones. With `autoencoder`
/// (the frozen one a latent batch was encoded by) and a positive
/// [`Recipe::decoded_weight`], the decoded loss is added.
pub fn loss(
    model: &MiniModel,
    tokenizer: &WanTokenizer,
    batch: &DitBatch,
    recipe: &Recipe,
    foreground_weight: f64,
    draws: &StepDraws,
    autoencoder: Option<&ClipAutoencoder>,
) -> Result<Tensor> {
    let clips = &batch.clips;
    let (b, _, _, _, _) = clips.dims5()?;
    let device = clips.device();
    let sigmas = &draws.sigmas;
    let CleanPrediction {
        predicted,
        tokens,
        text,
        mask,
    } = clean_prediction(model, tokenizer, batch, recipe, draws)?;
    let weights = Tensor::from_vec(
        sigmas
            .iter()
            .map(|&s| (1.0 / s.max(recipe.loss_sigma_floor).powi(2)) as f32)
            .collect::<Vec<_>>(),
        b,
        device,
    )?;
    let decoded = match (autoencoder, &recipe.autoencoder, &batch.pixels) {
        (Some(frozen), Some(ae), Some((pixels, objects))) if recipe.decoded_weight > 0.0 => {
            decoded_loss(frozen, ae, recipe, &predicted, pixels, objects, sigmas)?
        }
        _ => None,
    };
    let mut squared = (predicted - clips)?.sqr()?;
    if foreground_weight > 0.0 {
        let per_clip = Tensor::from_vec(
            sigmas
                .iter()
                .map(|&s| (foreground_weight * (1.0 - s)) as f32)
                .collect::<Vec<_>>(),
            (b, 1, 1, 1, 1),
            device,
        )?;
        let pixel_weights = (batch.objects.broadcast_mul(&per_clip)? + 1.0)?;
        squared = squared.broadcast_mul(&pixel_weights)?;
    }
    let latent = squared
        .flatten_from(1)?
        .mean(D::Minus1)?
        .mul(&weights)?
        .mean_all()?;
    let total = match decoded {
        Some(decoded) => (latent + (decoded * recipe.decoded_weight)?)?,
        None => latent,
    };
    let total = match &model.caption_parse {
        Some(head) if recipe.caption_parse_weight > 0.0 => {
            let targets: Vec<ParseTargets> = batch.specs.iter().map(ParseTargets::of).collect();
            let keep: Vec<bool> = draws.caption_dropped.iter().map(|&d| !d).collect();
            let parse = head.loss(&text, &mask, &targets, &keep)?;
            (total + (parse * recipe.caption_parse_weight)?)?
        }
        _ => total,
    };
    let total = match (&model.token_read, tokens) {
        (Some(head), Some(tokens)) => {
            let (_, _, _, lh, lw) = clips.dims5()?;
            let grid = (lh / recipe.patch[1], lw / recipe.patch[2]);
            let targets: Vec<TokenTargets> = batch
                .specs
                .iter()
                .zip(&batch.boxes)
                .map(|(spec, boxes)| {
                    TokenTargets::of(spec, boxes, grid, (recipe.width, recipe.height))
                })
                .collect();
            let read = head.loss(&tokens, &targets)?;
            (total + (read * recipe.token_read_weight)?)?
        }
        _ => total,
    };
    total.to_dtype(DType::F32)
}

/// The decoded loss ([`Recipe::decoded_weight`], unweighted) of the clean latents
/// `predicted` for the first [`Recipe::decoded_clips`] clips whose noise level is below
/// [`Recipe::decoded_max_sigma`]; `None` when no clip is.
fn decoded_loss(
    frozen: &ClipAutoencoder,
    ae: &AutoencoderRecipe,
    recipe: &Recipe,
    predicted: &Tensor,
    pixels: &Tensor,
    objects: &Tensor,
    sigmas: &[f64],
) -> Result<Option<Tensor>> {
    let chosen: Vec<u32> = (0..sigmas.len() as u32)
        .filter(|&i| sigmas[i as usize] < recipe.decoded_max_sigma)
        .take(recipe.decoded_clips)
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    let index = Tensor::new(chosen.as_slice(), predicted.device())?;
    let pick = |t: &Tensor| t.index_select(&index, 0);
    frozen
        .decoded_error(&pick(predicted)?, &pick(pixels)?, &pick(objects)?, ae)
        .map(Some)
}
