//! `WanCausalConv3d`: a 3D convolution that is causal in time, built from a 2D convolution.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// A 3D convolution, zero-padded `2 * pad_t` frames on the left in time (none on the right) and
/// symmetrically in space, as diffusers' `WanCausalConv3d`. A cache of the previous chunk's
/// last frames may stand in for (part of) the left time padding.
///
/// candle has no `conv3d`, so this folds the temporal kernel taps into the input channels and
/// time into the batch: for each output frame `t` the input frames `t*s_t + k` (`k` over the
/// `k_t` taps) are stacked on the channel axis, and one 2D convolution
/// ([`crate::ops::conv2d`]) with the weight reshaped from `(O, I, k_t, k_h, k_w)` to
/// `(O, k_t * I, k_h, k_w)` computes every output frame at once. That is exactly a 3D
/// convolution, in one call (one large matrix product) rather than `k_t` calls whose results
/// would then be summed; its cost is one `k_t`-fold copy of the input, which the chunked
/// decode (one latent frame at a time) keeps small.
#[derive(Debug, Clone)]
pub struct WanCausalConv3d {
    /// `(O, k_t * I, k_h, k_w)`: the taps in time order, each a block of `I` channels.
    weight: Tensor,
    /// `(O)`.
    bias: Tensor,
    kernel_t: usize,
    stride_t: usize,
    stride_s: usize,
    pad_t: usize,
    pad_s: usize,
}

impl WanCausalConv3d {
    /// Loads `weight` `(out, in, k_t, k_s, k_s)` and `bias` `(out)` from `vb`. `kernel`,
    /// `stride` and `padding` are `(time, space)`: the reference uses the same value for height
    /// and width everywhere.
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        let (kt, ks) = kernel;
        let weight = vb.get((out_dim, in_dim, kt, ks, ks), "weight")?;
        // (O, I, kt, kh, kw) -> (O, kt, I, kh, kw) -> (O, kt * I, kh, kw)
        let weight = weight
            .permute((0, 2, 1, 3, 4))?
            .reshape((out_dim, kt * in_dim, ks, ks))?
            .contiguous()?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self {
            weight,
            bias,
            kernel_t: kt,
            stride_t: stride.0,
            stride_s: stride.1,
            pad_t: padding.0,
            pad_s: padding.1,
        })
    }

    /// Whether this convolution reads earlier frames (a time padding), so that a chunked caller
    /// must keep a cache for it.
    pub fn is_causal_in_time(&self) -> bool {
        self.pad_t > 0
    }

    /// `x` `(B, I, T, H, W)` -> `(B, O, T_out, H_out, W_out)`. `cache` `(B, I, T_c, H, W)`, the
    /// last `T_c <= 2 * pad_t` frames before `x`, replaces as many frames of left zero padding
    /// (the reference ignores it when there is no time padding).
    pub fn forward_cached(&self, x: &Tensor, cache: Option<&Tensor>) -> Result<Tensor> {
        let left = 2 * self.pad_t;
        // Frames of zero padding at the front, after the cache.
        let (x, zeros) = match cache {
            Some(c) if left > 0 => {
                let tc = c.dim(2)?;
                let zeros = left.saturating_sub(tc);
                (Tensor::cat(&[c, x], 2)?.pad_with_zeros(2, zeros, 0)?, zeros)
            }
            _ => (x.pad_with_zeros(2, left, 0)?, left),
        };
        // index_select (strided taps) needs a contiguous input
        let x = if self.stride_t == 1 {
            x
        } else {
            x.contiguous()?
        };
        let (b, c, t_in, h, w) = x.dims5()?;
        if t_in < self.kernel_t {
            candle_core::bail!(
                "WanCausalConv3d: {t_in} frames (after padding) for a temporal kernel of {}",
                self.kernel_t
            );
        }
        let t_out = (t_in - self.kernel_t) / self.stride_t + 1;
        // Tap k of output frame j reads input frame j * stride_t + k. Taps that read only
        // zero padding for every output frame (all but the last for a lone first frame, as an
        // image or a clip folded into channels is coded) add nothing: skip them and their
        // weights. The result is the same; the work is a third.
        let skipped = zeros
            .saturating_sub((t_out - 1) * self.stride_t)
            .min(self.kernel_t - 1);
        let mut taps = Vec::with_capacity(self.kernel_t - skipped);
        for k in skipped..self.kernel_t {
            let tap = if self.stride_t == 1 {
                x.narrow(2, k, t_out)?
            } else {
                let idx: Vec<u32> = (0..t_out).map(|j| (j * self.stride_t + k) as u32).collect();
                let idx = Tensor::new(idx.as_slice(), x.device())?;
                x.index_select(&idx, 2)?
            };
            taps.push(tap);
        }
        // kt x (B, C, T_out, H, W) -> (B, kt * C, T_out, H, W) -> (B * T_out, kt * C, H, W)
        let used = taps.len();
        let stacked = if used == 1 {
            taps.remove(0)
        } else {
            Tensor::cat(&taps, 1)?
        };
        let frames = stacked
            .permute((0, 2, 1, 3, 4))?
            .reshape((b * t_out, used * c, h, w))?;
        let weight = if skipped == 0 {
            self.weight.clone()
        } else {
            self.weight.narrow(1, skipped * c, used * c)?.contiguous()?
        };
        let y = crate::ops::conv2d(&frames, &weight, &self.bias, self.pad_s, self.stride_s)?;
        // (B * T_out, O, H', W') -> (B, O, T_out, H', W')
        let (_, o, ho, wo) = y.dims4()?;
        y.reshape((b, t_out, o, ho, wo))?.permute((0, 2, 1, 3, 4))
    }
}

impl Module for WanCausalConv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_cached(x, None)
    }
}

/// The last `n` frames (axis 2) of `x`.
pub(crate) fn last_frames(x: &Tensor, n: usize) -> Result<Tensor> {
    let t = x.dim(2)?;
    x.narrow(2, t.saturating_sub(n), n.min(t))
}
