//! `WanResample`: spatial (and temporal) up- and down-sampling.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use super::cache::{FeatCache, Slot, keep_frames};
use super::causal_conv3d::{WanCausalConv3d, last_frames};
use super::conv2d::Conv2d;

/// Which resampling a [`WanResample`] does (the reference's `mode` string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleMode {
    /// `upsample2d`: nearest 2x in space, then a 3x3 conv halving the channels.
    Upsample2d,
    /// `upsample3d`: as `Upsample2d`, after a causal time conv that doubles the frames (except
    /// on the first chunk).
    Upsample3d,
    /// `downsample2d`: zero-pad right and bottom by 1, then a 3x3 conv of stride 2.
    Downsample2d,
    /// `downsample3d`: as `Downsample2d`, then a time conv of stride 2 over the previous
    /// chunk's last frame and this chunk (except on the first chunk).
    Downsample3d,
}

/// diffusers' `WanResample` (modes other than `none`).
#[derive(Debug, Clone)]
pub struct WanResample {
    mode: ResampleMode,
    /// `resample.1`: the 2D conv applied to every frame.
    conv: Conv2d,
    /// `time_conv`, for the 3D modes.
    time_conv: Option<WanCausalConv3d>,
}

impl WanResample {
    /// Loads `resample.1.{weight,bias}` and, for the 3D modes, `time_conv.{weight,bias}`.
    /// Upsampling halves the channels (`upsample_out_dim = dim // 2`, the reference default).
    pub fn new(dim: usize, mode: ResampleMode, vb: VarBuilder) -> Result<Self> {
        // (output channels, padding, stride)
        let (out_dim, padding, stride) = match mode {
            ResampleMode::Upsample2d | ResampleMode::Upsample3d => (dim / 2, 1, 1),
            ResampleMode::Downsample2d | ResampleMode::Downsample3d => (dim, 0, 2),
        };
        let conv = Conv2d::new(dim, out_dim, 3, padding, stride, vb.pp("resample").pp(1))?;
        let time_conv = match mode {
            ResampleMode::Upsample3d => Some(WanCausalConv3d::new(
                dim,
                dim * 2,
                (3, 1),
                (1, 1),
                (1, 0),
                vb.pp("time_conv"),
            )?),
            ResampleMode::Downsample3d => Some(WanCausalConv3d::new(
                dim,
                dim,
                (3, 1),
                (2, 1),
                (0, 0),
                vb.pp("time_conv"),
            )?),
            _ => None,
        };
        Ok(Self {
            mode,
            conv,
            time_conv,
        })
    }

    /// `x` `(B, C, T, H, W)`, one chunk -> upsampling: `(B, C/2, T', 2H, 2W)` with `T' = 2T`
    /// (`T` on the first chunk) in 3D mode; downsampling: `(B, C, T', ceil(H/2), ceil(W/2))`
    /// with `T' = (T - 1) / 2 + 1` (`T` on the first chunk) in 3D mode.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = match (&self.time_conv, self.mode) {
            (Some(tc), ResampleMode::Upsample3d) => upsample_time(tc, x, cache)?,
            _ => x.clone(),
        };
        // (B, C, T, H, W) -> (B * T, C, H, W)
        let (b, c, t, h, w) = x.dims5()?;
        let frames = x.permute((0, 2, 1, 3, 4))?.reshape((b * t, c, h, w))?;
        let frames = match self.mode {
            ResampleMode::Upsample2d | ResampleMode::Upsample3d => {
                // nearest-exact at scale 2 repeats each pixel twice along both axes
                frames.upsample_nearest2d(2 * h, 2 * w)?
            }
            ResampleMode::Downsample2d | ResampleMode::Downsample3d => {
                // ZeroPad2d((0, 1, 0, 1)): one zero column on the right, one row at the bottom
                frames.pad_with_zeros(3, 0, 1)?.pad_with_zeros(2, 0, 1)?
            }
        };
        let y = self.conv.forward(&frames)?;
        // (B * T, C', H', W') -> (B, C', T, H', W')
        let (_, co, ho, wo) = y.dims4()?;
        let y = y.reshape((b, t, co, ho, wo))?.permute((0, 2, 1, 3, 4))?;
        match (&self.time_conv, self.mode) {
            (Some(tc), ResampleMode::Downsample3d) => downsample_time(tc, &y, cache),
            _ => Ok(y),
        }
    }
}

/// The temporal half of `upsample3d`: `(B, C, T, H, W)` -> `(B, C, 2T, H, W)`, except on the
/// first chunk, which passes unchanged and leaves the `Rep` marker.
fn upsample_time(tc: &WanCausalConv3d, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
    let slot = cache.next_slot();
    let prev = match std::mem::take(slot) {
        Slot::Empty => {
            *slot = Slot::Rep;
            return Ok(x.clone());
        }
        Slot::Rep => None,
        Slot::Frames(p) => Some(p),
    };
    let keep = match &prev {
        Some(p) => keep_frames(x, Some(p))?,
        None => {
            // After `Rep`, a short chunk is cached behind a zero frame.
            let tail = last_frames(x, 2)?;
            if tail.dim(2)? < 2 {
                Tensor::cat(&[&tail.zeros_like()?, &tail], 2)?
            } else {
                tail
            }
        }
    };
    let y = tc.forward_cached(x, prev.as_ref())?;
    *slot = Slot::Frames(keep);
    // (B, 2C, T, H, W) -> (B, 2, C, T, H, W) -> (B, C, T, 2, H, W) -> (B, C, 2T, H, W):
    // the first C channels are the even output frames, the last C the odd ones.
    let (b, c2, t, h, w) = y.dims5()?;
    let c = c2 / 2;
    y.reshape((b, 2, c, t, h, w))?
        .permute((0, 2, 3, 1, 4, 5))?
        .reshape((b, c, 2 * t, h, w))
}

/// The temporal half of `downsample3d`: on the first chunk, caches it and passes it unchanged;
/// afterwards, a stride-2 time conv over the previous chunk's last frame followed by `x`.
fn downsample_time(tc: &WanCausalConv3d, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
    let slot = cache.next_slot();
    match std::mem::take(slot) {
        Slot::Frames(prev) => {
            let keep = last_frames(x, 1)?;
            let y = tc.forward_cached(&Tensor::cat(&[&last_frames(&prev, 1)?, x], 2)?, None)?;
            *slot = Slot::Frames(keep);
            Ok(y)
        }
        Slot::Empty | Slot::Rep => {
            *slot = Slot::Frames(x.clone());
            Ok(x.clone())
        }
    }
}
