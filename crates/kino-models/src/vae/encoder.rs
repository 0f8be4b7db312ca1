//! `WanEncoder3d`: video `(B, 3, T, H, W)` -> latent moments, one time chunk at a time.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention_block::WanMidBlock;
use super::cache::FeatCache;
use super::causal_conv3d::WanCausalConv3d;
use super::resample::{ResampleMode, WanResample};
use super::residual_block::WanResidualBlock;
use super::rms_norm::WanRmsNorm;
use crate::WanVaeConfig;

/// One entry of the encoder's flat `down_blocks` list.
#[derive(Debug, Clone)]
enum DownLayer {
    Residual(WanResidualBlock),
    Resample(WanResample),
}

/// diffusers' `WanEncoder3d` (the Wan 2.1 layout, `is_residual = False`, no attention in the
/// down path): `conv_in`, per stage `num_res_blocks` residual blocks then (except after the
/// last stage) a 2D or 3D downsample, the mid block, `norm_out`, SiLU, `conv_out` to
/// `2 * z_dim` channels (mean and log-variance).
#[derive(Debug, Clone)]
pub struct WanEncoder3d {
    conv_in: WanCausalConv3d,
    down_blocks: Vec<DownLayer>,
    mid_block: WanMidBlock,
    norm_out: WanRmsNorm,
    conv_out: WanCausalConv3d,
}

impl WanEncoder3d {
    /// Builds the encoder of `cfg` from the `encoder.*` tensors in `vb`.
    pub fn new(cfg: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let base = cfg.base_dim;
        // dims = base * [1, dim_mult...]
        let dims: Vec<usize> = std::iter::once(1)
            .chain(cfg.dim_mult.iter().copied())
            .map(|m| base * m)
            .collect();
        let conv3 = |i, o, vb| WanCausalConv3d::new(i, o, (3, 3), (1, 1), (1, 1), vb);
        let conv_in = conv3(cfg.in_channels, dims[0], vb.pp("conv_in"))?;
        let vb_down = vb.pp("down_blocks");
        let mut down_blocks = Vec::new();
        let stages = cfg.dim_mult.len();
        for i in 0..stages {
            let mut in_dim = dims[i];
            let out_dim = dims[i + 1];
            for _ in 0..cfg.num_res_blocks {
                let vb = vb_down.pp(down_blocks.len());
                down_blocks.push(DownLayer::Residual(WanResidualBlock::new(
                    in_dim, out_dim, vb,
                )?));
                in_dim = out_dim;
            }
            if i + 1 != stages {
                let mode = if cfg.temperal_downsample[i] {
                    ResampleMode::Downsample3d
                } else {
                    ResampleMode::Downsample2d
                };
                let vb = vb_down.pp(down_blocks.len());
                down_blocks.push(DownLayer::Resample(WanResample::new(out_dim, mode, vb)?));
            }
        }
        let top = dims[stages];
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block: WanMidBlock::new(top, vb.pp("mid_block"))?,
            norm_out: WanRmsNorm::new(top, false, vb.pp("norm_out"))?,
            conv_out: conv3(top, 2 * cfg.z_dim, vb.pp("conv_out"))?,
        })
    }

    /// One chunk `(B, in_channels, T, H, W)` -> `(B, 2 z_dim, T', H', W')`, reading and
    /// updating `cache` (the chunk's first layer must see `cache.start_chunk()` first).
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let mut x = cache.conv(&self.conv_in, x)?;
        for layer in &self.down_blocks {
            x = match layer {
                DownLayer::Residual(block) => block.forward(&x, cache)?,
                DownLayer::Resample(resample) => resample.forward(&x, cache)?,
            };
        }
        let x = self.mid_block.forward(&x, cache)?;
        let x = self.norm_out.forward(&x)?.silu()?;
        cache.conv(&self.conv_out, &x)
    }
}
