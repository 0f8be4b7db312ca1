//! `WanResidualBlock`: norm, SiLU, causal conv, twice, plus a shortcut.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::cache::FeatCache;
use super::causal_conv3d::WanCausalConv3d;
use super::rms_norm::WanRmsNorm;

/// diffusers' `WanResidualBlock`: `conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x)`,
/// with 3x3x3 causal convolutions and a 1x1x1 `conv_shortcut` when the width changes.
/// Dropout is the identity at inference.
#[derive(Debug, Clone)]
pub struct WanResidualBlock {
    norm1: WanRmsNorm,
    conv1: WanCausalConv3d,
    norm2: WanRmsNorm,
    conv2: WanCausalConv3d,
    conv_shortcut: Option<WanCausalConv3d>,
}

impl WanResidualBlock {
    /// Loads `norm1`, `conv1`, `norm2`, `conv2` and (when `in_dim != out_dim`) `conv_shortcut`.
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let conv = |i, o, name| WanCausalConv3d::new(i, o, (3, 3), (1, 1), (1, 1), vb.pp(name));
        let conv_shortcut = if in_dim != out_dim {
            Some(WanCausalConv3d::new(
                in_dim,
                out_dim,
                (1, 1),
                (1, 1),
                (0, 0),
                vb.pp("conv_shortcut"),
            )?)
        } else {
            None
        };
        Ok(Self {
            norm1: WanRmsNorm::new(in_dim, false, vb.pp("norm1"))?,
            conv1: conv(in_dim, out_dim, "conv1")?,
            norm2: WanRmsNorm::new(out_dim, false, vb.pp("norm2"))?,
            conv2: conv(out_dim, out_dim, "conv2")?,
            conv_shortcut,
        })
    }

    /// `x` `(B, in, T, H, W)`, one chunk -> `(B, out, T, H, W)`; uses two cache slots.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let h = match &self.conv_shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        let x = self.norm1.forward(x)?.silu()?;
        let x = cache.conv(&self.conv1, &x)?;
        let x = self.norm2.forward(&x)?.silu()?;
        let x = cache.conv(&self.conv2, &x)?;
        x + h
    }
}
