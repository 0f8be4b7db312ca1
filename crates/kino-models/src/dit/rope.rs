//! 3D rotary position embedding: diffusers' `WanRotaryPosEmbed` and the rotation its attention
//! processor applies to queries and keys.
//!
//! Each head's channels are split into a frame, a height and a width part (`t/h/w`: h and w get
//! `2 * (head_dim / 6)` channels each, t the rest: 44/42/42 for head_dim 128, 8/4/4 for 16,
//! 8/6/6 for 20). Within a part of `n` channels, channel pair `j` (channels `2j`, `2j+1`, an
//! interleaved real/imaginary pair) is rotated by the angle `pos * theta^(-2j/n)`, where `pos` is
//! the token's frame, row or column index after patching. As in the reference, the angles and
//! their cosines and sines are computed in f64 and stored as f32.

use candle_core::{Device, Result, Tensor};

use crate::WanTransformerConfig;

/// The RoPE base of Wan.
const THETA: f64 = 10000.0;

/// Cosine and sine tables for one token grid, each `(N, head_dim / 2)`: one angle per token
/// and channel pair, tokens in (frame, row, column) order.
#[derive(Debug, Clone)]
pub struct RopeTables {
    /// `cos(angle)`, `(N, head_dim / 2)`.
    pub cos: Tensor,
    /// `sin(angle)`, `(N, head_dim / 2)`.
    pub sin: Tensor,
}

/// diffusers' `WanRotaryPosEmbed`: the per-axis channel split and the largest position.
#[derive(Debug, Clone)]
pub struct WanRotaryPosEmbed {
    /// Channels per head for the (t, h, w) axes.
    dims: [usize; 3],
    max_seq_len: usize,
}

impl WanRotaryPosEmbed {
    /// The split of `cfg.attention_head_dim` (see [`WanTransformerConfig::rope_dims`]) and
    /// `cfg.rope_max_seq_len`.
    pub fn new(cfg: &WanTransformerConfig) -> Self {
        Self {
            dims: cfg.rope_dims(),
            max_seq_len: cfg.rope_max_seq_len,
        }
    }

    /// Channels per head for the (t, h, w) axes.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// The tables for a patched grid of `frames x height x width` tokens.
    pub fn forward(&self, grid: [usize; 3], device: &Device) -> Result<RopeTables> {
        if let Some(axis) = (0..3).find(|&a| grid[a] > self.max_seq_len) {
            candle_core::bail!(
                "RoPE: the patched latent has {} positions along the {} axis, more than \
                 rope_max_seq_len = {}",
                grid[axis],
                ["frame", "height", "width"][axis],
                self.max_seq_len
            );
        }
        // Per axis, (positions, pairs) angle tables flattened row-major.
        let axis_tables: Vec<(Vec<f32>, Vec<f32>)> =
            (0..3).map(|a| axis_table(self.dims[a], grid[a])).collect();
        let pairs: usize = self.dims.iter().map(|d| d / 2).sum();
        let n = grid[0] * grid[1] * grid[2];
        let (mut cos, mut sin) = (Vec::with_capacity(n * pairs), Vec::with_capacity(n * pairs));
        for f in 0..grid[0] {
            for h in 0..grid[1] {
                for w in 0..grid[2] {
                    for (a, pos) in [f, h, w].into_iter().enumerate() {
                        let p = self.dims[a] / 2;
                        let (c, s) = &axis_tables[a];
                        cos.extend_from_slice(&c[pos * p..(pos + 1) * p]);
                        sin.extend_from_slice(&s[pos * p..(pos + 1) * p]);
                    }
                }
            }
        }
        Ok(RopeTables {
            cos: Tensor::from_vec(cos, (n, pairs), device)?,
            sin: Tensor::from_vec(sin, (n, pairs), device)?,
        })
    }
}

/// `cos` and `sin` of `pos * theta^(-2j/dim)` for `pos < len`, `j < dim / 2`, computed in f64
/// (as the reference's `get_1d_rotary_pos_embed` with `freqs_dtype=float64`).
fn axis_table(dim: usize, len: usize) -> (Vec<f32>, Vec<f32>) {
    let freqs: Vec<f64> = (0..dim / 2)
        .map(|j| 1.0 / THETA.powf((2 * j) as f64 / dim as f64))
        .collect();
    let mut cos = Vec::with_capacity(len * freqs.len());
    let mut sin = Vec::with_capacity(len * freqs.len());
    for pos in 0..len {
        for f in &freqs {
            let angle = pos as f64 * f;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    (cos, sin)
}

/// Rotates the interleaved channel pairs of `x` `(B, H, N, head_dim)`:
/// `(x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)` with the tables' angle for each token and
/// pair (candle's fused `rope_i`).
pub fn rope(x: &Tensor, tables: &RopeTables) -> Result<Tensor> {
    let cos = tables.cos.to_dtype(x.dtype())?;
    let sin = tables.sin.to_dtype(x.dtype())?;
    crate::ops::rope_interleaved(x, &cos, &sin)
}
