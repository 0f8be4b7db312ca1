//! `WanRMS_norm`: L2 normalisation over channels, times `sqrt(C)` and a learned gain.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// diffusers' `WanRMS_norm` with `channel_first = True` and no bias (how every Wan VAE layer
/// uses it): `F.normalize(x, dim=1) * sqrt(C) * gamma`, where `F.normalize` divides by
/// `max(||x||_2, 1e-12)` over the channel axis. Computed in f32 whatever the input dtype.
#[derive(Debug, Clone)]
pub struct WanRmsNorm {
    /// `(C)`.
    gamma: Tensor,
    scale: f64,
}

impl WanRmsNorm {
    /// Loads `gamma`, stored `(dim, 1, 1, 1)` for video layers (`images = False`) or
    /// `(dim, 1, 1)` for per-frame image layers (`images = True`).
    pub fn new(dim: usize, images: bool, vb: VarBuilder) -> Result<Self> {
        let gamma = if images {
            vb.get((dim, 1, 1), "gamma")?
        } else {
            vb.get((dim, 1, 1, 1), "gamma")?
        };
        Ok(Self {
            gamma: gamma.flatten_all()?.to_dtype(DType::F32)?,
            scale: (dim as f64).sqrt(),
        })
    }

    /// `x` `(B, C, ...)` -> the same shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::channel_norm(x, &self.gamma, self.scale)
    }
}
