//! The umT5 text encoder's `text_encoder/config.json`.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigIssue, ensure, ensure_class, load_config};
use crate::LoadError;

/// Mirrors transformers' `UMT5Config` (`models/umt5/configuration_umt5.py`, transformers
/// 5.24.0), the fields the encoder uses. Decoder-only fields (`num_decoder_layers`,
/// `decoder_start_token_id`, `use_cache`) are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Umt5Config {
    /// `model_type`; `umt5` when present. (Plain `t5` shares one relative bias across layers
    /// and is a different network.)
    #[serde(default)]
    pub model_type: Option<String>,
    /// Vocabulary size (rows of `shared.weight`); 256384 for Wan's umT5-XXL.
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Channels per attention head.
    pub d_kv: usize,
    /// Feed-forward hidden width.
    pub d_ff: usize,
    /// Encoder layers.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative-position buckets (each layer has its own bias table in umT5).
    #[serde(default = "buckets_32")]
    pub relative_attention_num_buckets: usize,
    /// Distance beyond which relative positions share the last bucket.
    #[serde(default = "distance_128")]
    pub relative_attention_max_distance: usize,
    /// Dropout (inference ignores it).
    #[serde(default = "dropout_01")]
    pub dropout_rate: f64,
    /// Epsilon of the RMS layer norms.
    #[serde(default = "eps_1e6")]
    pub layer_norm_epsilon: f64,
    /// Feed-forward kind: `gated-gelu` (GELU-tanh gate times a linear branch) for umT5.
    #[serde(default = "gated_gelu")]
    pub feed_forward_proj: String,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn buckets_32() -> usize {
    32
}
fn distance_128() -> usize {
    128
}
fn dropout_01() -> f64 {
    0.1
}
fn eps_1e6() -> f64 {
    1e-6
}
fn gated_gelu() -> String {
    GATED_GELU.to_string()
}

const GATED_GELU: &str = "gated-gelu";

impl Umt5Config {
    /// The umT5-XXL encoder of Wan 2.1, as in `text_encoder/config.json` of
    /// Wan-AI/Wan2.1-T2V-1.3B-Diffusers.
    pub fn umt5_xxl() -> Self {
        Self {
            model_type: Some("umt5".to_string()),
            vocab_size: 256384,
            d_model: 4096,
            d_kv: 64,
            d_ff: 10240,
            num_layers: 24,
            num_heads: 64,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            dropout_rate: 0.1,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: GATED_GELU.to_string(),
            pad_token_id: Some(0),
        }
    }

    /// Reads and validates a `text_encoder/config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        load_config(path, Self::validate)
    }

    /// Width of the attention projections, `num_heads * d_kv` (not necessarily `d_model`).
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// Checks that the values describe a umT5 encoder this crate can run.
    pub fn validate(&self) -> Result<(), ConfigIssue> {
        ensure_class(self.model_type.as_deref(), "model_type", "umt5")?;
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("d_kv", self.d_kv),
            ("d_ff", self.d_ff),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            (
                "relative_attention_num_buckets",
                self.relative_attention_num_buckets,
            ),
            (
                "relative_attention_max_distance",
                self.relative_attention_max_distance,
            ),
        ] {
            ensure(value > 0, field, || {
                "is 0, expected a positive number".into()
            })?;
        }
        ensure(
            self.layer_norm_epsilon > 0.0 && self.layer_norm_epsilon.is_finite(),
            "layer_norm_epsilon",
            || {
                format!(
                    "is {}, expected a small positive number",
                    self.layer_norm_epsilon
                )
            },
        )?;
        ensure(
            self.feed_forward_proj == GATED_GELU,
            "feed_forward_proj",
            || format!("is {:?}, expected {GATED_GELU:?}", self.feed_forward_proj),
        )
    }
}
