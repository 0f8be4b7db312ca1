//! One DiT block, diffusers' `WanTransformerBlock`: modulated self-attention with RoPE,
//! cross-attention on the text, modulated gated feed-forward.

use candle_core::{D, DType, Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::linear::{Linear, linear};

use super::attention::{AttentionTiles, WanAttention};
use super::rope::RopeTables;
use crate::WanTransformerConfig;

/// diffusers' `FP32LayerNorm` over the last axis, computed in f32 in two passes (mean, then the
/// variance of the centred values) and returned in the input's dtype; `affine` is
/// `(weight, bias)` when the norm has them.
pub fn layer_norm(x: &Tensor, affine: Option<(&Tensor, &Tensor)>, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mut y = match crate::ops::layer_norm_for_training(&x, eps)? {
        Some(y) => y,
        None => {
            let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
            let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
            centred.broadcast_div(&(var + eps)?.sqrt()?)?
        }
    };
    if let Some((weight, bias)) = affine {
        // (..., D) as (1, rows, D); weight and bias (D) as (1, 1, D)
        let d = y.dim(D::Minus1)?;
        let (weight, bias) = (
            weight.to_dtype(DType::F32)?.reshape((1, 1, d))?,
            bias.to_dtype(DType::F32)?.reshape((1, 1, d))?,
        );
        let shape = y.shape().clone();
        y = crate::ops::scale_shift(&y.reshape((1, (), d))?, &weight, &bias)?.reshape(shape)?;
    }
    y.to_dtype(dtype)
}

/// `x * (1 + scale) + shift`, the adaLN modulation; `scale` and `shift` are `(B, 1, dim)`.
pub fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    crate::ops::scale_shift(x, &(scale + 1.0)?, shift)
}

/// diffusers' `FeedForward(dim, inner_dim=ffn_dim, activation_fn="gelu-approximate")`:
/// `net.2(gelu_tanh(net.0.proj(x)))`.
#[derive(Debug, Clone)]
pub struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    /// Loads `net.0.proj` `(ffn_dim, dim)` and `net.2` `(dim, ffn_dim)`.
    pub fn new(dim: usize, ffn_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj_in: linear(dim, ffn_dim, vb.pp("net").pp(0).pp("proj"))?,
            proj_out: linear(ffn_dim, dim, vb.pp("net").pp(2))?,
        })
    }

    /// `(.., dim)` -> `(.., dim)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.proj_out
            .forward(&crate::ops::gelu_tanh(&self.proj_in.forward(x)?)?)
    }
}

/// diffusers' `WanTransformerBlock` (text-to-video). `scale_shift_table` `(1, 6, dim)` plus
/// the timestep's `(B, 6, dim)` gives shift, scale and gate for self-attention and for the
/// feed-forward; `norm1`/`norm3` are LayerNorms without weights, `norm2` (before the
/// cross-attention) has weights when `cross_attn_norm` and is the identity otherwise.
#[derive(Debug, Clone)]
pub struct WanTransformerBlock {
    attn1: WanAttention,
    attn2: WanAttention,
    norm2: Option<(Tensor, Tensor)>,
    ffn: FeedForward,
    scale_shift_table: Tensor,
    eps: f64,
}

impl WanTransformerBlock {
    /// Loads `blocks.{i}` (pass `vb.pp("blocks").pp(i)`); `scale_shift_table` and `norm2` in
    /// f32, as diffusers keeps them.
    pub fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let heads = cfg.num_attention_heads;
        let norm2 = if cfg.cross_attn_norm {
            let vb = vb.pp("norm2").to_dtype(DType::F32);
            Some((vb.get(dim, "weight")?, vb.get(dim, "bias")?))
        } else {
            None
        };
        Ok(Self {
            attn1: WanAttention::new(dim, heads, cfg.eps, vb.pp("attn1"))?,
            attn2: WanAttention::new(dim, heads, cfg.eps, vb.pp("attn2"))?,
            norm2,
            ffn: FeedForward::new(dim, cfg.ffn_dim, vb.pp("ffn"))?,
            scale_shift_table: vb
                .to_dtype(DType::F32)
                .get((1, 6, dim), "scale_shift_table")?,
            eps: cfg.eps,
        })
    }

    /// Sets the tile sizes of both attention layers.
    pub fn set_attention_tiles(&mut self, tiles: AttentionTiles) {
        self.attn1.set_tiles(tiles);
        self.attn2.set_tiles(tiles);
    }

    /// `x` `(B, N, dim)`, `text` `(B, L, dim)` (already projected), `timestep_proj`
    /// `(B, 6, dim)`, RoPE tables for the N tokens -> `(B, N, dim)`.
    pub fn forward(
        &self,
        x: &Tensor,
        text: &Tensor,
        timestep_proj: &Tensor,
        rope_tables: &RopeTables,
    ) -> Result<Tensor> {
        // (1, 6, dim) + (B, 6, dim) -> six (B, 1, dim): shift, scale, gate (self-attention),
        // then shift, scale, gate (feed-forward). The reference does this in f32.
        let table = self
            .scale_shift_table
            .to_dtype(DType::F32)?
            .broadcast_add(&timestep_proj.to_dtype(DType::F32)?)?;
        let m = table.chunk(6, 1)?;
        let dtype = x.dtype();

        let normed = modulate(
            &layer_norm(&x.to_dtype(DType::F32)?, None, self.eps)?,
            &m[0],
            &m[1],
        )?
        .to_dtype(dtype)?;
        let attn = self.attn1.forward(&normed, None, Some(rope_tables))?;
        let x =
            crate::ops::gated_add(&x.to_dtype(DType::F32)?, &attn.to_dtype(DType::F32)?, &m[2])?
                .to_dtype(dtype)?;

        let normed = match &self.norm2 {
            Some((w, b)) => layer_norm(&x, Some((w, b)), self.eps)?,
            None => x.clone(),
        };
        let x = (&x + self.attn2.forward(&normed, Some(text), None)?)?;

        let normed = modulate(
            &layer_norm(&x.to_dtype(DType::F32)?, None, self.eps)?,
            &m[3],
            &m[4],
        )?
        .to_dtype(dtype)?;
        let ff = self.ffn.forward(&normed)?;
        crate::ops::gated_add(&x.to_dtype(DType::F32)?, &ff.to_dtype(DType::F32)?, &m[5])?
            .to_dtype(dtype)
    }
}
