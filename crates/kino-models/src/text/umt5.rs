//! The umT5 encoder (`UMT5EncoderModel` in transformers' `models/umt5/modeling_umt5.py`):
//! token embedding, `num_layers` pre-norm blocks (self-attention with its own relative bias,
//! gated-GELU feed-forward), a final RMS norm.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::linear::{Linear, linear_no_bias};

use super::attention::{Umt5Attention, bucket_table, mask_bias};
use crate::Umt5Config;

/// T5's layer norm (`UMT5LayerNorm`): RMS norm with a weight, no mean subtraction, no bias.
#[derive(Debug, Clone)]
pub struct Umt5LayerNorm {
    weight: Tensor,
    eps: f32,
}

impl Umt5LayerNorm {
    /// Loads `weight` `(d_model,)` under `vb`.
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(cfg.d_model, "weight")?,
            eps: cfg.layer_norm_epsilon as f32,
        })
    }

    /// `x * rsqrt(mean(x^2) + eps) * weight` over the last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::rms_norm(x, &self.weight, self.eps)
    }
}

/// The gated-GELU feed-forward (`UMT5DenseGatedActDense`): `wo(gelu_tanh(wi_0 x) * wi_1 x)`.
#[derive(Debug, Clone)]
pub struct Umt5DenseGatedActDense {
    wi_0: Linear,
    wi_1: Linear,
    wo: Linear,
}

impl Umt5DenseGatedActDense {
    /// Loads `wi_0`, `wi_1` `(d_ff, d_model)` and `wo` `(d_model, d_ff)` under `vb`.
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            wi_0: linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_0"))?,
            wi_1: linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_1"))?,
            wo: linear_no_bias(cfg.d_ff, cfg.d_model, vb.pp("wo"))?,
        })
    }

    /// `(.., d_model) -> (.., d_model)`. `gelu_new` is the tanh approximation, candle's `gelu`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = crate::ops::gelu_tanh(&self.wi_0.forward(x)?)?;
        let linear = self.wi_1.forward(x)?;
        self.wo.forward(&(gate * linear)?)
    }
}

/// One encoder block (`UMT5Block`, encoder side): `layer.0` self-attention and `layer.1`
/// feed-forward, each `x + f(layer_norm(x))`.
#[derive(Debug, Clone)]
pub struct Umt5Block {
    attention_norm: Umt5LayerNorm,
    attention: Umt5Attention,
    ff_norm: Umt5LayerNorm,
    ff: Umt5DenseGatedActDense,
}

impl Umt5Block {
    /// Loads `layer.0.{layer_norm, SelfAttention}` and `layer.1.{layer_norm, DenseReluDense}`
    /// under `vb` (`encoder.block.{i}`).
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let attn = vb.pp("layer").pp(0);
        let ff = vb.pp("layer").pp(1);
        Ok(Self {
            attention_norm: Umt5LayerNorm::new(cfg, attn.pp("layer_norm"))?,
            attention: Umt5Attention::new(cfg, attn.pp("SelfAttention"))?,
            ff_norm: Umt5LayerNorm::new(cfg, ff.pp("layer_norm"))?,
            ff: Umt5DenseGatedActDense::new(cfg, ff.pp("DenseReluDense"))?,
        })
    }

    /// `hidden (batch, seq, d_model)`, `buckets (seq * seq,)`, `mask_bias (batch, 1, 1, seq)`
    /// -> `(batch, seq, d_model)`.
    pub fn forward(&self, hidden: &Tensor, buckets: &Tensor, mask_bias: &Tensor) -> Result<Tensor> {
        let seq = hidden.dim(1)?;
        let position_bias = self.attention.position_bias(buckets, seq)?;
        let normed = self.attention_norm.forward(hidden)?;
        let hidden = (hidden + self.attention.forward(&normed, &position_bias, mask_bias)?)?;
        let normed = self.ff_norm.forward(&hidden)?;
        hidden + self.ff.forward(&normed)?
    }
}

/// The umT5 text encoder: `(batch, seq)` token ids and attention mask -> `(batch, seq,
/// d_model)` last hidden state, as `UMT5EncoderModel(...).last_hidden_state`.
///
/// Unlike T5 (and candle-transformers' T5, which reuses block 0's table), every umT5 layer has
/// its own relative-attention bias table.
#[derive(Debug, Clone)]
pub struct Umt5Encoder {
    cfg: Umt5Config,
    shared: Embedding,
    blocks: Vec<Umt5Block>,
    final_layer_norm: Umt5LayerNorm,
}

impl Umt5Encoder {
    /// Loads the encoder from a `text_encoder/` VarBuilder by the reference's names: the token
    /// embedding `shared.weight` (or its tied copy `encoder.embed_tokens.weight`),
    /// `encoder.block.{i}...` and `encoder.final_layer_norm.weight`. Weights load in the
    /// VarBuilder's dtype (use f32 to match the reference's float32 run).
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()
            .map_err(|e| candle_core::Error::Msg(format!("umT5 config: {e}")))?;
        let half = cfg.relative_attention_num_buckets / 2;
        if half / 2 == 0 || cfg.relative_attention_max_distance <= half / 2 {
            candle_core::bail!(
                "umT5 config: relative_attention_num_buckets {} and relative_attention_max_distance {} \
                 leave no logarithmic buckets (need at least 4 buckets and a max distance above {})",
                cfg.relative_attention_num_buckets,
                cfg.relative_attention_max_distance,
                half / 2
            );
        }
        let embedding_name = if vb.contains_tensor("shared.weight") {
            "shared"
        } else {
            "encoder.embed_tokens"
        };
        let shared = candle_nn::embedding(cfg.vocab_size, cfg.d_model, vb.pp(embedding_name))?;
        let encoder = vb.pp("encoder");
        let blocks = (0..cfg.num_layers)
            .map(|i| Umt5Block::new(cfg, encoder.pp("block").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            shared,
            blocks,
            final_layer_norm: Umt5LayerNorm::new(cfg, encoder.pp("final_layer_norm"))?,
        })
    }

    /// The device its weights are on.
    pub fn device(&self) -> &candle_core::Device {
        self.shared.embeddings().device()
    }

    /// The config it was built with.
    pub fn config(&self) -> &Umt5Config {
        &self.cfg
    }

    /// `input_ids (batch, seq)` (u32 or i64) and `attention_mask (batch, seq)` (1 token, 0
    /// padding; any dtype) -> `(batch, seq, d_model)`. Padding positions get values too (they
    /// attend to the real tokens), as in the reference; [`super::PromptEncoder`] zeroes them.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        if attention_mask.dims() != [batch, seq] {
            candle_core::bail!(
                "attention_mask has shape {:?}, expected {:?} like input_ids",
                attention_mask.dims(),
                [batch, seq]
            );
        }
        let mut hidden = self.shared.forward(input_ids)?;
        let mask_bias = mask_bias(attention_mask, hidden.dtype())?;
        let buckets = bucket_table(seq, &self.cfg, input_ids.device())?;
        for block in &self.blocks {
            hidden = block.forward(&hidden, &buckets, &mask_bias)?;
        }
        self.final_layer_norm.forward(&hidden)
    }
}
