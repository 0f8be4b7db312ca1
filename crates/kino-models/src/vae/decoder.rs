//! `WanDecoder3d` and its `WanUpBlock`s: latent -> video, one latent frame at a time.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention_block::WanMidBlock;
use super::cache::FeatCache;
use super::causal_conv3d::WanCausalConv3d;
use super::resample::{ResampleMode, WanResample};
use super::residual_block::WanResidualBlock;
use super::rms_norm::WanRmsNorm;
use crate::WanVaeConfig;

/// diffusers' `WanUpBlock`: `num_res_blocks + 1` residual blocks, then an optional upsample
/// (`upsamplers.0`) that halves the channels.
#[derive(Debug, Clone)]
pub struct WanUpBlock {
    resnets: Vec<WanResidualBlock>,
    upsampler: Option<WanResample>,
}

impl WanUpBlock {
    /// Loads `resnets.{0..=num_res_blocks}` and, with `mode`, `upsamplers.0`.
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        num_res_blocks: usize,
        mode: Option<ResampleMode>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mut resnets = Vec::with_capacity(num_res_blocks + 1);
        let mut dim = in_dim;
        for j in 0..=num_res_blocks {
            resnets.push(WanResidualBlock::new(dim, out_dim, vb.pp("resnets").pp(j))?);
            dim = out_dim;
        }
        let upsampler = match mode {
            Some(mode) => Some(WanResample::new(out_dim, mode, vb.pp("upsamplers").pp(0))?),
            None => None,
        };
        Ok(Self { resnets, upsampler })
    }

    /// One chunk `(B, in, T, H, W)` -> `(B, out, T, H, W)`, or after an upsample
    /// `(B, out / 2, T', 2H, 2W)`.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let mut x = x.clone();
        for block in &self.resnets {
            x = block.forward(&x, cache)?;
        }
        match &self.upsampler {
            Some(up) => up.forward(&x, cache),
            None => Ok(x),
        }
    }
}

/// diffusers' `WanDecoder3d` (the Wan 2.1 layout, `is_residual = False`): `conv_in`, the mid
/// block, one `WanUpBlock` per stage (widest first; each but the last upsamples, in time too
/// where `temperal_downsample`, reversed, says so), `norm_out`, SiLU, `conv_out`. The
/// reference's `attn_scales` has no effect on it.
#[derive(Debug, Clone)]
pub struct WanDecoder3d {
    conv_in: WanCausalConv3d,
    mid_block: WanMidBlock,
    up_blocks: Vec<WanUpBlock>,
    norm_out: WanRmsNorm,
    conv_out: WanCausalConv3d,
}

impl WanDecoder3d {
    /// Builds the decoder of `cfg` from the `decoder.*` tensors in `vb`.
    pub fn new(cfg: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let base = cfg.decoder_base_dim();
        let stages = cfg.dim_mult.len();
        // dims = base * [dim_mult[-1], dim_mult reversed...]
        let last = cfg.dim_mult[stages - 1];
        let dims: Vec<usize> = std::iter::once(last)
            .chain(cfg.dim_mult.iter().rev().copied())
            .map(|m| base * m)
            .collect();
        let temperal_upsample: Vec<bool> = cfg.temperal_downsample.iter().rev().copied().collect();
        let conv3 = |i, o, vb| WanCausalConv3d::new(i, o, (3, 3), (1, 1), (1, 1), vb);
        let mut up_blocks = Vec::with_capacity(stages);
        for i in 0..stages {
            // After the first stage, the previous upsample has halved the channels.
            let in_dim = if i > 0 { dims[i] / 2 } else { dims[i] };
            let mode = (i + 1 != stages).then(|| {
                if temperal_upsample[i] {
                    ResampleMode::Upsample3d
                } else {
                    ResampleMode::Upsample2d
                }
            });
            up_blocks.push(WanUpBlock::new(
                in_dim,
                dims[i + 1],
                cfg.num_res_blocks,
                mode,
                vb.pp("up_blocks").pp(i),
            )?);
        }
        let out_dim = dims[stages];
        Ok(Self {
            conv_in: conv3(cfg.z_dim, dims[0], vb.pp("conv_in"))?,
            mid_block: WanMidBlock::new(dims[0], vb.pp("mid_block"))?,
            up_blocks,
            norm_out: WanRmsNorm::new(out_dim, false, vb.pp("norm_out"))?,
            conv_out: conv3(out_dim, cfg.out_channels, vb.pp("conv_out"))?,
        })
    }

    /// One latent chunk `(B, z_dim, T, h, w)` -> `(B, out_channels, T', H, W)`, reading and
    /// updating `cache`.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = cache.conv(&self.conv_in, x)?;
        let mut x = self.mid_block.forward(&x, cache)?;
        for block in &self.up_blocks {
            x = block.forward(&x, cache)?;
        }
        let x = self.norm_out.forward(&x)?.silu()?;
        cache.conv(&self.conv_out, &x)
    }
}
