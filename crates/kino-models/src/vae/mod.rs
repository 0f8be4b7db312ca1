//! The Wan 2.1 video VAE: diffusers' `AutoencoderKLWan` (autoencoder_kl_wan.py, diffusers
//! 0.42.1), decode and encode, with the reference's chunked causal processing.
//!
//! The VAE compresses video `(B, 3, 1 + 4k, 8h, 8w)` in `[-1, 1]` to latents
//! `(B, z_dim, 1 + k, h, w)` (Wan 2.1's factors; other configs follow their `dim_mult` and
//! `temperal_downsample`). Every convolution is causal in time, so the first frame is coded
//! alone, like an image, and each later latent frame stands for the next 4 video frames.
//! Decoding runs one latent frame at a time and encoding one chunk of 4 frames at a time
//! (after the first frame alone), each causal convolution keeping its input's last frames in a
//! feature cache between chunks. That bounds memory by the chunk, not the clip; the cache lives
//! only for one `decode`/`encode` call.
//!
//! Compute runs in the var builder's dtype (the norms in f32). On CPU that means f32 or f16:
//! candle 0.11 has no bf16 matmul there.
//!
//! The Wan 2.2 VAE (`is_residual`, `patch_size`: `AvgDown3D`/`DupUp3D` blocks) is not
//! supported: [`WanVaeConfig::validate`] rejects it, and [`AutoencoderKlWan::new`] says so.
//!
//! ```no_run
//! use kino_models::{ModelDir, Weights, vae::AutoencoderKlWan};
//! use candle_core::{DType, Device, Tensor};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = ModelDir::open("./Wan2.1-T2V-1.3B-Diffusers")?;
//! let cfg = model.vae_config()?;
//! let vb = model.weights("vae")?.into_var_builder(DType::F32, &Device::Cpu);
//! let vae = AutoencoderKlWan::new(&cfg, vb)?;
//! let latents = Tensor::zeros((1, 16, 21, 60, 104), DType::F32, &Device::Cpu)?; // from the DiT
//! let z = kino_models::vae::denormalize_latents(&cfg, &latents)?;
//! let video = vae.decode(&z)?; // (1, 3, 81, 480, 832) in [-1, 1]
//! # Ok(()) }
//! ```

mod attention_block;
mod cache;
mod causal_conv3d;
mod conv2d;
mod decoder;
mod encoder;
mod resample;
mod residual_block;
mod rms_norm;

use candle_core::{Module, Result, Tensor, bail};
use candle_nn::VarBuilder;

pub use attention_block::{WanAttentionBlock, WanMidBlock};
pub use cache::FeatCache;
pub use causal_conv3d::WanCausalConv3d;
pub use decoder::{WanDecoder3d, WanUpBlock};
pub use encoder::WanEncoder3d;
pub use resample::{ResampleMode, WanResample};
pub use residual_block::WanResidualBlock;
pub use rms_norm::WanRmsNorm;

use crate::WanVaeConfig;

/// Video frames per encoder chunk after the first frame (hard-coded in the reference's
/// `_encode`).
pub const ENCODE_CHUNK_FRAMES: usize = 4;

/// diffusers' `AutoencoderKLWan` (Wan 2.1): `encoder`, `quant_conv`, `post_quant_conv`,
/// `decoder`, loaded by the reference's tensor names.
#[derive(Debug, Clone)]
pub struct AutoencoderKlWan {
    config: WanVaeConfig,
    encoder: WanEncoder3d,
    quant_conv: WanCausalConv3d,
    post_quant_conv: WanCausalConv3d,
    decoder: WanDecoder3d,
}

impl AutoencoderKlWan {
    /// Builds the VAE of `config` from `vb` (a component's weights, e.g.
    /// `Weights::open(".../vae")?.into_var_builder(dtype, device)`); the compute dtype is the
    /// var builder's. Fails on configs this crate cannot run (Wan 2.2, or a non-empty
    /// `attn_scales`, with which the reference's own encoder raises a `TypeError`) and on any
    /// missing or misshapen tensor.
    pub fn new(config: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        if let Err(issue) = config.validate() {
            bail!("unsupported AutoencoderKLWan config: {issue}");
        }
        if !config.attn_scales.is_empty() {
            bail!(
                "unsupported AutoencoderKLWan config: field `attn_scales` is {:?}, expected []: \
                 the reference puts attention blocks in the encoder that its encode cannot call",
                config.attn_scales
            );
        }
        let z2 = 2 * config.z_dim;
        let conv1 = |c, vb| WanCausalConv3d::new(c, c, (1, 1), (1, 1), (0, 0), vb);
        Ok(Self {
            config: config.clone(),
            encoder: WanEncoder3d::new(config, vb.pp("encoder"))?,
            quant_conv: conv1(z2, vb.pp("quant_conv"))?,
            post_quant_conv: conv1(config.z_dim, vb.pp("post_quant_conv"))?,
            decoder: WanDecoder3d::new(config, vb.pp("decoder"))?,
        })
    }

    /// The config the VAE was built from.
    pub fn config(&self) -> &WanVaeConfig {
        &self.config
    }

    /// Decodes latents `z` `(B, z_dim, T', h, w)` (already un-normalised: see
    /// [`denormalize_latents`]) into video `(B, out_channels, 1 + r (T' - 1), s h, s w)` clamped
    /// to `[-1, 1]`, where `r` is the temporal and `s` the spatial compression. As the
    /// reference's `_decode`: `post_quant_conv`, then the decoder on one latent frame at a
    /// time, carrying the feature cache.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let (_, c, t, _, _) = z.dims5()?;
        if c != self.config.z_dim || t == 0 {
            bail!(
                "AutoencoderKlWan::decode: latents of shape {:?}, expected (B, {}, T' >= 1, h, w)",
                z.dims(),
                self.config.z_dim
            );
        }
        let x = self.post_quant_conv.forward(z)?;
        let mut cache = FeatCache::default();
        let mut frames = Vec::with_capacity(t);
        for i in 0..t {
            cache.start_chunk();
            frames.push(self.decoder.forward(&x.narrow(2, i, 1)?, &mut cache)?);
        }
        Tensor::cat(&frames, 2)?.clamp(-1f32, 1f32)
    }

    /// Encodes video `x` `(B, in_channels, T, H, W)` in `[-1, 1]` to the posterior's mean and
    /// log-variance, each `(B, z_dim, T', h, w)`; the log-variance is clamped to `[-30, 20]` as
    /// in diffusers' `DiagonalGaussianDistribution`. `T` must be `1 + 4k` (the reference would
    /// silently drop other trailing frames). As the reference's `_encode`: the first frame
    /// alone, then chunks of 4 frames, carrying the feature cache, then `quant_conv`.
    pub fn encode_moments(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (_, c, t, _, _) = x.dims5()?;
        if c != self.config.in_channels || t == 0 || (t - 1) % ENCODE_CHUNK_FRAMES != 0 {
            bail!(
                "AutoencoderKlWan::encode: video of shape {:?}, expected (B, {}, 1 + {}k frames, H, W)",
                x.dims(),
                self.config.in_channels,
                ENCODE_CHUNK_FRAMES
            );
        }
        let mut cache = FeatCache::default();
        let mut chunks = Vec::with_capacity(1 + (t - 1) / ENCODE_CHUNK_FRAMES);
        cache.start_chunk();
        chunks.push(self.encoder.forward(&x.narrow(2, 0, 1)?, &mut cache)?);
        for start in (1..t).step_by(ENCODE_CHUNK_FRAMES) {
            cache.start_chunk();
            let chunk = x.narrow(2, start, ENCODE_CHUNK_FRAMES)?;
            chunks.push(self.encoder.forward(&chunk, &mut cache)?);
        }
        let moments = self.quant_conv.forward(&Tensor::cat(&chunks, 2)?)?;
        let z = self.config.z_dim;
        let mean = moments.narrow(1, 0, z)?;
        let logvar = moments.narrow(1, z, z)?.clamp(-30f32, 20f32)?;
        Ok((mean, logvar))
    }

    /// Encodes video `x` (see [`encode_moments`](Self::encode_moments)) to the posterior's
    /// mode (its mean), `(B, z_dim, T', h, w)`, not yet normalised (see
    /// [`normalize_latents`]).
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.encode_moments(x)?.0)
    }
}

/// `(1, z_dim, 1, 1, 1)` tensors of `latents_mean` and of `1 / latents_std`, as the pipelines
/// build them (f32, then the reciprocal in f32).
fn latent_stats(cfg: &WanVaeConfig, z: &Tensor) -> Result<(Tensor, Tensor)> {
    let n = cfg.z_dim;
    let c = z.dim(1)?;
    if z.rank() != 5 || c != n {
        bail!(
            "latents of shape {:?}, expected (B, {n}, T, h, w) for a VAE with z_dim {n}",
            z.dims()
        );
    }
    let mean: Vec<f32> = cfg.latents_mean.iter().map(|&m| m as f32).collect();
    let inv_std: Vec<f32> = cfg.latents_std.iter().map(|&s| 1.0 / (s as f32)).collect();
    let shape = (1, n, 1, 1, 1);
    let mean = Tensor::from_vec(mean, shape, z.device())?.to_dtype(z.dtype())?;
    let inv_std = Tensor::from_vec(inv_std, shape, z.device())?.to_dtype(z.dtype())?;
    Ok((mean, inv_std))
}

/// Un-normalises the DiT's latents for [`AutoencoderKlWan::decode`], as pipeline_wan.py does
/// before decoding: `z / (1 / latents_std) + latents_mean`, per channel.
pub fn denormalize_latents(cfg: &WanVaeConfig, z: &Tensor) -> Result<Tensor> {
    let (mean, inv_std) = latent_stats(cfg, z)?;
    z.broadcast_div(&inv_std)?.broadcast_add(&mean)
}

/// Normalises encoded latents for the DiT, the inverse of [`denormalize_latents`], as
/// pipeline_wan_i2v.py does to its condition: `(mu - latents_mean) * (1 / latents_std)`.
pub fn normalize_latents(cfg: &WanVaeConfig, mu: &Tensor) -> Result<Tensor> {
    let (mean, inv_std) = latent_stats(cfg, mu)?;
    mu.broadcast_sub(&mean)?.broadcast_mul(&inv_std)
}

/// Folds a clip's frames into its channels, `(B, C, T, H, W)` -> `(B, C * T, 1, H, W)`
/// (channel `c * T + t` is channel `c` of frame `t`): how a VAE whose `in_channels` is
/// `3 * T` codes a whole `T`-frame clip as one picture, compressing time entirely (kino-mini's
/// clip autoencoder).
pub fn fold_frames(x: &Tensor) -> Result<Tensor> {
    let (b, c, t, h, w) = x.dims5()?;
    x.contiguous()?.reshape((b, c * t, 1, h, w))
}

/// The inverse of [`fold_frames`]: `(B, C * frames, 1, H, W)` -> `(B, C, frames, H, W)`.
pub fn unfold_frames(x: &Tensor, frames: usize) -> Result<Tensor> {
    let (b, ct, one, h, w) = x.dims5()?;
    if one != 1 || frames == 0 || ct % frames != 0 {
        bail!(
            "unfold_frames: a tensor of shape {:?} does not hold {frames} frames folded into its channels",
            x.dims()
        );
    }
    x.contiguous()?.reshape((b, ct / frames, frames, h, w))
}
