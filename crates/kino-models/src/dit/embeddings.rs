//! The DiT's input embeddings: the 3D patch embedding of the latent, and the timestep and text
//! embeddings of diffusers' `WanTimeTextImageEmbedding` (text-to-video part).

use candle_core::{DType, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::linear::{Linear, linear};

use crate::WanTransformerConfig;

/// diffusers' `patch_embedding`, an `nn.Conv3d` whose kernel equals its stride (the patch
/// size), computed as what it is: cut the latent into non-overlapping patches, flatten each
/// patch in (channel, t, h, w) order (the order of the conv weight's last four axes) and
/// multiply by the weight flattened to `(dim, C * pt * ph * pw)`.
#[derive(Debug, Clone)]
pub struct PatchEmbedding {
    proj: Linear,
    patch: [usize; 3],
    in_channels: usize,
}

impl PatchEmbedding {
    /// Loads `weight` `(dim, C, pt, ph, pw)` and `bias` `(dim,)`.
    pub fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let [pt, ph, pw] = cfg.patch();
        let (dim, c) = (cfg.inner_dim(), cfg.in_channels);
        let weight = vb.get((dim, c, pt, ph, pw), "weight")?;
        let bias = vb.get(dim, "bias")?;
        Ok(Self {
            proj: Linear::new(weight.reshape((dim, c * pt * ph * pw))?, Some(bias)),
            patch: [pt, ph, pw],
            in_channels: c,
        })
    }

    /// `(B, C, T, H, W)` -> `(B, T/pt * H/ph * W/pw, dim)`, tokens in (frame, row, column)
    /// order. T, H and W must be multiples of the patch size (the reference's convolution
    /// silently drops a remainder; we refuse it).
    pub fn forward(&self, latents: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = latents.dims5()?;
        let [pt, ph, pw] = self.patch;
        if c != self.in_channels || t % pt != 0 || h % ph != 0 || w % pw != 0 {
            candle_core::bail!(
                "patch embedding: latent (B, C, T, H, W) = {:?} needs C = {} and T, H, W \
                 multiples of the patch size {:?}",
                latents.dims(),
                self.in_channels,
                self.patch
            );
        }
        let (gt, gh, gw) = (t / pt, h / ph, w / pw);
        // (B, C, T, H, W) -> (B, C, T', pt, H', ph, W', pw) -> (B, T', H', W', C, pt, ph, pw)
        let patches = latents
            .reshape(vec![b, c, gt, pt, gh, ph, gw, pw])?
            .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])?
            .contiguous()?
            .reshape((b, gt * gh * gw, c * pt * ph * pw))?;
        self.proj.forward(&patches)
    }
}

/// Sinusoidal timestep embedding as diffusers' `Timesteps(dim, flip_sin_to_cos=True,
/// downscale_freq_shift=0)`: `[cos(t f_i), sin(t f_i)]` with `f_i = exp(-ln(10000) i / (dim/2))`,
/// computed in f32 like the reference. `timestep` `(B,)` -> `(B, dim)` f32.
pub fn timestep_embedding(timestep: &Tensor, dim: usize) -> Result<Tensor> {
    let ts = timestep.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| ((-(10000f64.ln() as f32) * i as f32) / half as f32).exp())
        .collect();
    let mut out = Vec::with_capacity(ts.len() * dim);
    for t in &ts {
        out.extend(freqs.iter().map(|f| (t * f).cos()));
        out.extend(freqs.iter().map(|f| (t * f).sin()));
        // An odd width is zero-padded, as in the reference.
        out.extend(std::iter::repeat_n(0.0, dim - 2 * half));
    }
    Tensor::from_vec(out, (ts.len(), dim), timestep.device())
}

/// diffusers' `TimestepEmbedding` (SiLU): `linear_2(silu(linear_1(x)))`.
#[derive(Debug, Clone)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

impl TimestepEmbedding {
    /// Loads `linear_1` `(dim, in_dim)` and `linear_2` `(dim, dim)`.
    pub fn new(in_dim: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(in_dim, dim, vb.pp("linear_1"))?,
            linear_2: linear(dim, dim, vb.pp("linear_2"))?,
        })
    }

    /// `(.., in_dim)` -> `(.., dim)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear_2.forward(&self.linear_1.forward(x)?.silu()?)
    }
}

/// diffusers' `PixArtAlphaTextProjection` with `act_fn="gelu_tanh"`:
/// `linear_2(gelu_tanh(linear_1(x)))`.
#[derive(Debug, Clone)]
pub struct PixArtAlphaTextProjection {
    linear_1: Linear,
    linear_2: Linear,
}

impl PixArtAlphaTextProjection {
    /// Loads `linear_1` `(dim, in_dim)` and `linear_2` `(dim, dim)`.
    pub fn new(in_dim: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear_1: linear(in_dim, dim, vb.pp("linear_1"))?,
            linear_2: linear(dim, dim, vb.pp("linear_2"))?,
        })
    }

    /// `(.., in_dim)` -> `(.., dim)`; candle's `gelu` is the tanh approximation.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear_2
            .forward(&crate::ops::gelu_tanh(&self.linear_1.forward(x)?)?)
    }
}

/// The conditions of one forward pass, as `WanTimeTextImageEmbedding` returns them.
#[derive(Debug, Clone)]
pub struct Conditions {
    /// `temb` `(B, dim)`: the timestep embedding, used by the output head.
    pub temb: Tensor,
    /// `timestep_proj` `(B, 6, dim)`: `time_proj(silu(temb))`, the blocks' modulation.
    pub timestep_proj: Tensor,
    /// The text projected to the model width, `(B, L, dim)`.
    pub text: Tensor,
}

/// diffusers' `WanTimeTextImageEmbedding` without its image branch (text-to-video):
/// `timesteps_proj` -> `time_embedder` -> `temb`; `time_proj(silu(temb))` -> the six modulation
/// vectors of every block; `text_embedder` projects the text encoder's output.
#[derive(Debug, Clone)]
pub struct WanTimeTextEmbedding {
    freq_dim: usize,
    dtype: DType,
    time_embedder: TimestepEmbedding,
    time_proj: Linear,
    text_embedder: PixArtAlphaTextProjection,
}

impl WanTimeTextEmbedding {
    /// Loads `time_embedder`, `time_proj` `(6 dim, dim)` and `text_embedder` under
    /// `condition_embedder`. `time_embedder` is kept in f32 whatever the model's dtype, as
    /// diffusers keeps it (`_keep_in_fp32_modules`).
    pub fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        Ok(Self {
            freq_dim: cfg.freq_dim,
            dtype: vb.dtype(),
            time_embedder: TimestepEmbedding::new(
                cfg.freq_dim,
                dim,
                vb.pp("time_embedder").to_dtype(DType::F32),
            )?,
            time_proj: linear(dim, 6 * dim, vb.pp("time_proj"))?,
            text_embedder: PixArtAlphaTextProjection::new(
                cfg.text_dim,
                dim,
                vb.pp("text_embedder"),
            )?,
        })
    }

    /// `timestep` `(B,)` and `text` `(B, L, text_dim)` -> the [`Conditions`], in the model's
    /// dtype (`temb` is computed in f32 and then cast, as in the reference).
    pub fn forward(&self, timestep: &Tensor, text: &Tensor) -> Result<Conditions> {
        let b = timestep.dim(0)?;
        let sinusoid = timestep_embedding(timestep, self.freq_dim)?;
        let temb = self
            .time_embedder
            .forward(&sinusoid)?
            .to_dtype(self.dtype)?;
        // (B, 6*dim) -> (B, 6, dim)
        let timestep_proj = self.time_proj.forward(&temb.silu()?)?.reshape((b, 6, ()))?;
        Ok(Conditions {
            temb,
            timestep_proj,
            text: self.text_embedder.forward(text)?,
        })
    }
}
