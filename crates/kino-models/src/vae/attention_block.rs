//! `WanAttentionBlock` (single-head self-attention within each frame) and `WanMidBlock`.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::conv2d::Conv2d;

use super::cache::FeatCache;
use super::residual_block::WanResidualBlock;
use super::rms_norm::WanRmsNorm;

/// diffusers' `WanAttentionBlock`: per frame, RMS norm, a 1x1 conv to q, k, v, one-head
/// attention over the `H * W` positions, a 1x1 output projection, plus the input.
#[derive(Debug, Clone)]
pub struct WanAttentionBlock {
    norm: WanRmsNorm,
    to_qkv: Conv2d,
    proj: Conv2d,
}

impl WanAttentionBlock {
    /// Loads `norm.gamma` `(dim, 1, 1)`, `to_qkv` `(3 dim, dim, 1, 1)` and `proj`.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: WanRmsNorm::new(dim, true, vb.pp("norm"))?,
            to_qkv: Conv2d::new(dim, 3 * dim, 1, 0, 1, vb.pp("to_qkv"))?,
            proj: Conv2d::new(dim, dim, 1, 0, 1, vb.pp("proj"))?,
        })
    }

    /// `x` `(B, C, T, H, W)` -> the same shape. Frames are independent: no cache.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, t, h, w) = x.dims5()?;
        // (B, C, T, H, W) -> (B * T, C, H, W)
        let frames = x.permute((0, 2, 1, 3, 4))?.reshape((b * t, c, h, w))?;
        let qkv = self.to_qkv.forward(&self.norm.forward(&frames)?)?;
        // (B * T, 3C, H, W) -> (B * T, H * W, 3C): q, k, v are consecutive blocks of C channels
        let qkv = qkv.reshape((b * t, 3 * c, h * w))?.transpose(1, 2)?;
        let q = qkv.narrow(2, 0, c)?.contiguous()?;
        let k = qkv.narrow(2, c, c)?.contiguous()?;
        let v = qkv.narrow(2, 2 * c, c)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? / (c as f64).sqrt())?;
        let attn = candle_nn::ops::softmax_last_dim(&scores)?;
        // (B * T, H * W, C) -> (B * T, C, H, W)
        let y = attn
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b * t, c, h, w))?;
        let y = self.proj.forward(&y)?;
        // (B * T, C, H, W) -> (B, C, T, H, W)
        let y = y.reshape((b, t, c, h, w))?.permute((0, 2, 1, 3, 4))?;
        y + x
    }
}

/// diffusers' `WanMidBlock` with its one layer: residual block, attention, residual block.
#[derive(Debug, Clone)]
pub struct WanMidBlock {
    resnets: [WanResidualBlock; 2],
    attention: WanAttentionBlock,
}

impl WanMidBlock {
    /// Loads `resnets.0`, `attentions.0`, `resnets.1`.
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let r = vb.pp("resnets");
        Ok(Self {
            resnets: [
                WanResidualBlock::new(dim, dim, r.pp(0))?,
                WanResidualBlock::new(dim, dim, r.pp(1))?,
            ],
            attention: WanAttentionBlock::new(dim, vb.pp("attentions").pp(0))?,
        })
    }

    /// `x` `(B, C, T, H, W)`, one chunk -> the same shape.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = self.resnets[0].forward(x, cache)?;
        let x = self.attention.forward(&x)?;
        self.resnets[1].forward(&x, cache)
    }
}
