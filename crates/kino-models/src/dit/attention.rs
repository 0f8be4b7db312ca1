//! Attention: a memory-bounded scaled-dot-product attention, and `WanAttention` (the self- and
//! cross-attention layers of a Wan block, with RMSNorm on queries and keys).

use crate::ops::{rms_norm, softmax_last_dim};
use candle_core::{D, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::linear::{Linear, linear};

use super::rope::{RopeTables, rope};

/// Tile sizes of [`attention`]: how many queries and how many keys one tile of scores covers.
/// One tile's scores are `batch * heads * queries * keys` floats, whatever the sequence length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionTiles {
    /// Queries per tile.
    pub queries: usize,
    /// Keys per tile; when all keys fit in one tile the softmax is computed directly, otherwise
    /// tiles are merged with an online softmax.
    pub keys: usize,
}

impl AttentionTiles {
    /// The same length for queries and keys.
    pub fn square(len: usize) -> Self {
        Self {
            queries: len,
            keys: len,
        }
    }
}

impl Default for AttentionTiles {
    /// 512 queries x 4096 keys: 8 MiB of scores per head (96 MiB for Wan 2.1 1.3B's 12 heads
    /// at batch 1). On CPU, key tiles this long cost less online-softmax bookkeeping than
    /// square 1024 tiles (one 32,760-token head of dim 128: 13 s instead of 45 s on 2 cores).
    fn default() -> Self {
        Self {
            queries: 512,
            keys: 4096,
        }
    }
}

/// Scaled-dot-product attention `softmax(q k^T / sqrt(d)) v`, without a mask, computed tile by
/// tile so that no `(tokens x tokens)` score matrix exists.
///
/// `q` is `(B, H, N, d)`, `k` and `v` are `(B, H, M, d)`; the result is `(B, H, N, d)`. Queries
/// are taken `tiles.queries` at a time; when there are more than `tiles.keys` keys they are
/// taken `tiles.keys` at a time and merged with an online softmax (a running row maximum, a
/// running sum of exponentials and a rescaled accumulator, as in FlashAttention). Extra memory
/// is `O(B * H * tiles.queries * tiles.keys)` for the scores of one tile. The result equals the
/// plain formula up to float rounding: the order of the sums differs.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, tiles: AttentionTiles) -> Result<Tensor> {
    let (b, h, n, d) = q.dims4()?;
    let (bk, hk, m, dk) = k.dims4()?;
    if tiles.queries == 0 || tiles.keys == 0 {
        candle_core::bail!("attention: tile sizes must be positive, got {tiles:?}");
    }
    if (bk, hk, dk) != (b, h, d) || v.dims() != k.dims() {
        candle_core::bail!(
            "attention: q {:?}, k {:?}, v {:?} do not fit (expected (B, H, N, d) and (B, H, M, d) twice)",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    // Scaling q once costs N*d multiplications instead of N*M.
    let scale = 1.0 / (d as f64).sqrt();
    // (B, H, N, d) -> (B*H, N, d)
    let q = (q.reshape((b * h, n, d))? * scale)?;
    let k = k.reshape((b * h, m, d))?;
    let v = v.reshape((b * h, m, d))?;
    let mut rows = Vec::with_capacity(n.div_ceil(tiles.queries));
    for start in (0..n).step_by(tiles.queries) {
        let q_tile = q.narrow(1, start, tiles.queries.min(n - start))?;
        rows.push(attend_rows(&q_tile, &k, &v, tiles.keys)?);
    }
    Tensor::cat(&rows, 1)?.reshape((b, h, n, d))
}

/// Attention of one tile of (already scaled) queries `(BH, c, d)` to all keys `(BH, M, d)`,
/// `chunk` keys at a time.
fn attend_rows(q: &Tensor, k: &Tensor, v: &Tensor, chunk: usize) -> Result<Tensor> {
    let m = k.dim(1)?;
    if m <= chunk {
        // (BH, c, d) x (BH, d, M) -> (BH, c, M)
        let p = softmax_last_dim(&q.matmul(&k.t()?)?)?;
        return p.matmul(v);
    }
    // Online softmax over key tiles: `max` (BH, c, 1) the running row maximum, `sum` (BH, c, 1)
    // the running sum of exp(score - max), `acc` (BH, c, d) the running sum of exp(...) v.
    let mut state: Option<(Tensor, Tensor, Tensor)> = None;
    for start in (0..m).step_by(chunk) {
        let len = chunk.min(m - start);
        let k_tile = k.narrow(1, start, len)?;
        let v_tile = v.narrow(1, start, len)?.contiguous()?;
        let scores = q.matmul(&k_tile.t()?)?; // (BH, c, len)
        let tile_max = scores.max_keepdim(D::Minus1)?;
        state = Some(match state {
            None => {
                let p = scores.broadcast_sub(&tile_max)?.exp()?;
                (tile_max, p.sum_keepdim(D::Minus1)?, p.matmul(&v_tile)?)
            }
            Some((max, sum, acc)) => {
                let new_max = max.maximum(&tile_max)?;
                let rescale = (max - &new_max)?.exp()?;
                let p = scores.broadcast_sub(&new_max)?.exp()?;
                let sum = ((sum * &rescale)? + p.sum_keepdim(D::Minus1)?)?;
                let acc = (acc.broadcast_mul(&rescale)? + p.matmul(&v_tile)?)?;
                (new_max, sum, acc)
            }
        });
    }
    match state {
        Some((_, sum, acc)) => acc.broadcast_div(&sum),
        None => candle_core::bail!("attention: no keys"),
    }
}

/// diffusers' `WanAttention` with `WanAttnProcessor`, text-to-video form: `to_q`, `to_k`,
/// `to_v`, `to_out.0`, and `norm_q`/`norm_k`, RMSNorms over all heads together
/// (`heads * head_dim` channels) applied before the heads are split.
#[derive(Debug, Clone)]
pub struct WanAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    norm_q: Tensor,
    norm_k: Tensor,
    heads: usize,
    eps: f32,
    tiles: AttentionTiles,
}

impl WanAttention {
    /// Loads one attention layer of width `dim` with `heads` heads (`attn1` or `attn2` of a
    /// block); queries come from a `dim`-wide stream, keys and values too (the text is already
    /// projected to `dim` by the condition embedder).
    pub fn new(dim: usize, heads: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            to_q: linear(dim, dim, vb.pp("to_q"))?,
            to_k: linear(dim, dim, vb.pp("to_k"))?,
            to_v: linear(dim, dim, vb.pp("to_v"))?,
            to_out: linear(dim, dim, vb.pp("to_out").pp(0))?,
            norm_q: vb.pp("norm_q").get(dim, "weight")?,
            norm_k: vb.pp("norm_k").get(dim, "weight")?,
            heads,
            eps: eps as f32,
            tiles: AttentionTiles::default(),
        })
    }

    /// Sets the tile sizes of [`attention`].
    pub fn set_tiles(&mut self, tiles: AttentionTiles) {
        self.tiles = tiles;
    }

    /// `x` `(B, N, dim)` attends to `context` `(B, L, dim)`, or to itself when `context` is
    /// `None`; RoPE is applied to queries and keys when `rope_tables` is given (self-attention).
    /// Returns `(B, N, dim)`.
    pub fn forward(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        rope_tables: Option<&RopeTables>,
    ) -> Result<Tensor> {
        let (b, n, dim) = x.dims3()?;
        let kv = context.unwrap_or(x);
        let l = kv.dim(1)?;
        let head_dim = dim / self.heads;
        let q = rms_norm(&self.to_q.forward(x)?, &self.norm_q, self.eps)?;
        let k = rms_norm(&self.to_k.forward(kv)?, &self.norm_k, self.eps)?;
        let v = self.to_v.forward(kv)?;
        // (B, N, H*d) -> (B, H, N, d)
        let split = |t: Tensor, len: usize| {
            t.reshape((b, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (mut q, mut k, v) = (split(q, n)?, split(k, l)?, split(v, l)?);
        if let Some(tables) = rope_tables {
            q = rope(&q, tables)?;
            k = rope(&k, tables)?;
        }
        // (B, H, N, d) -> (B, N, H*d)
        let out = attention(&q, &k, &v, self.tiles)?
            .transpose(1, 2)?
            .reshape((b, n, dim))?;
        self.to_out.forward(&out)
    }
}
