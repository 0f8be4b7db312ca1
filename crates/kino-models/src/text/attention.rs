//! umT5 self-attention (`UMT5Attention` in transformers' `models/umt5/modeling_umt5.py`), encoder
//! side: bidirectional relative-position buckets, a bias table in every layer, no score scaling.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder, embedding};

use crate::linear::{Linear, linear_no_bias};

use crate::Umt5Config;

/// The bucket of a relative position `memory - query` in a bidirectional (encoder) attention,
/// as `UMT5Attention._relative_position_bucket` computes it when `is_decoder` is false.
///
/// Half the buckets are for keys to the right (`relative_position > 0`). Within a half, the
/// first `num_buckets / 4` distances get a bucket each; larger distances share buckets spaced
/// logarithmically up to `max_distance`, beyond which all share the last one. The logarithm is
/// taken in f32 and truncated, as the reference does in torch.
pub fn relative_position_bucket(
    relative_position: i64,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let half = num_buckets / 2;
    let side = if relative_position > 0 { half } else { 0 };
    let distance = usize::try_from(relative_position.unsigned_abs()).unwrap_or(usize::MAX);
    let max_exact = half / 2;
    if distance < max_exact {
        return side + distance;
    }
    // torch: log(float32(d) / max_exact) / math.log(max_distance / max_exact) * (half - max_exact),
    // all in f32 (the Python float divisor is rounded to f32), then truncated toward zero.
    let divisor = (max_distance as f64 / max_exact as f64).ln() as f32;
    let scaled = (distance as f32 / max_exact as f32).ln() / divisor * (half - max_exact) as f32;
    let large = max_exact.saturating_add(scaled as usize);
    side + large.min(half - 1)
}

/// The `(query_length, key_length)` bucket indices of an encoder attention, flattened row-major.
pub(super) fn bucket_table(length: usize, cfg: &Umt5Config, device: &Device) -> Result<Tensor> {
    let mut buckets = Vec::with_capacity(length * length);
    for query in 0..length as i64 {
        for key in 0..length as i64 {
            let bucket = relative_position_bucket(
                key - query,
                cfg.relative_attention_num_buckets,
                cfg.relative_attention_max_distance,
            );
            buckets.push(bucket as u32);
        }
    }
    Tensor::from_vec(buckets, length * length, device)
}

/// One layer's self-attention: `q`, `k`, `v`, `o` projections (no bias) and its own
/// `relative_attention_bias` table `(num_buckets, num_heads)`.
#[derive(Debug, Clone)]
pub struct Umt5Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    relative_attention_bias: Embedding,
    num_heads: usize,
    d_kv: usize,
}

impl Umt5Attention {
    /// Loads `q`, `k`, `v`, `o` and `relative_attention_bias` under `vb`
    /// (`encoder.block.{i}.layer.0.SelfAttention`).
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.inner_dim();
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            relative_attention_bias: embedding(
                cfg.relative_attention_num_buckets,
                cfg.num_heads,
                vb.pp("relative_attention_bias"),
            )?,
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// This layer's position bias `(1, num_heads, seq, seq)` from the shared bucket table
    /// `(seq * seq,)`.
    pub(super) fn position_bias(&self, buckets: &Tensor, seq: usize) -> Result<Tensor> {
        // (seq * seq, heads) -> (seq, seq, heads) -> (1, heads, seq, seq)
        self.relative_attention_bias
            .forward(buckets)?
            .reshape((seq, seq, self.num_heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }

    /// `hidden (batch, seq, d_model)`, `position_bias (1, heads, seq, seq)`, `mask_bias
    /// (batch, 1, 1, seq)` (0 for tokens, a large negative for padding) -> `(batch, seq,
    /// d_model)`. Scores are not divided by `sqrt(d_kv)` (T5 folds that into the weights).
    pub fn forward(
        &self,
        hidden: &Tensor,
        position_bias: &Tensor,
        mask_bias: &Tensor,
    ) -> Result<Tensor> {
        let (batch, seq, _) = hidden.dims3()?;
        // (batch, seq, heads * d_kv) -> (batch, heads, seq, d_kv)
        let heads = |t: Tensor| -> Result<Tensor> {
            t.reshape((batch, seq, self.num_heads, self.d_kv))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(self.q.forward(hidden)?)?;
        let k = heads(self.k.forward(hidden)?)?;
        let v = heads(self.v.forward(hidden)?)?;
        // (batch, heads, seq, seq)
        let scores = q
            .matmul(&k.t()?)?
            .broadcast_add(position_bias)?
            .broadcast_add(mask_bias)?;
        let weights = crate::ops::softmax_last_dim(&scores)?;
        // (batch, heads, seq, d_kv) -> (batch, seq, heads * d_kv)
        let out = weights.matmul(&v)?.transpose(1, 2)?.reshape((
            batch,
            seq,
            self.num_heads * self.d_kv,
        ))?;
        self.o.forward(&out)
    }
}

/// `(batch, seq)` attention mask (1 token, 0 padding, any dtype) -> additive `(batch, 1, 1, seq)`
/// bias in `dtype`: 0 for tokens, `f32::MIN` for padding (transformers' eager mask value).
pub(super) fn mask_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (batch, seq) = mask.dims2()?;
    let keep = mask.to_dtype(DType::F32)?.ne(0f32)?.to_dtype(DType::F32)?;
    // (1 - keep) * MIN, written as keep * (-MIN) + MIN: exactly 0 for tokens.
    let bias = keep.affine(-(f32::MIN as f64), f32::MIN as f64)?;
    bias.reshape((batch, 1, 1, seq))?.to_dtype(dtype)
}
