//! The Wan DiT's `transformer/config.json`.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigIssue, ensure, ensure_class, load_config};
use crate::LoadError;

/// Mirrors the constructor of diffusers' `WanTransformer3DModel`
/// (`models/transformers/transformer_wan.py`, diffusers 0.42.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WanTransformerConfig {
    /// `_class_name`; `WanTransformer3DModel` when present.
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
    /// Patch size (t, h, w) of the 3D patch embedding.
    pub patch_size: Vec<usize>,
    /// Attention heads; the model width is `num_attention_heads * attention_head_dim`.
    pub num_attention_heads: usize,
    /// Channels per head.
    pub attention_head_dim: usize,
    /// Latent channels in (the VAE's `z_dim`).
    pub in_channels: usize,
    /// Latent channels out; `null` means `in_channels`, as in the reference.
    pub out_channels: Option<usize>,
    /// Width of the text encoder's embeddings.
    pub text_dim: usize,
    /// Width of the sinusoidal timestep embedding.
    pub freq_dim: usize,
    /// Hidden width of each block's feed-forward.
    pub ffn_dim: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Whether cross-attention has a LayerNorm (`norm2`) on its input.
    #[serde(default = "yes")]
    pub cross_attn_norm: bool,
    /// Query/key norm. diffusers 0.42.1 builds an RMSNorm over all heads whatever this says.
    #[serde(default = "rms_norm_across_heads")]
    pub qk_norm: Option<String>,
    /// Epsilon of the norms.
    #[serde(default = "eps_1e6")]
    pub eps: f64,
    /// Image embedding width of image-to-video models; `None` for text-to-video.
    #[serde(default)]
    pub image_dim: Option<usize>,
    /// Extra key/value projection width of image-to-video models; `None` for text-to-video.
    #[serde(default)]
    pub added_kv_proj_dim: Option<usize>,
    /// Longest position the RoPE tables cover, per axis.
    #[serde(default = "rope_1024")]
    pub rope_max_seq_len: usize,
    /// Learned positional embedding length (first-last-frame models); `None` for text-to-video.
    #[serde(default)]
    pub pos_embed_seq_len: Option<usize>,
}

fn yes() -> bool {
    true
}
fn rms_norm_across_heads() -> Option<String> {
    Some(QK_NORM.to_string())
}
fn eps_1e6() -> f64 {
    1e-6
}
fn rope_1024() -> usize {
    1024
}

const CLASS: &str = "WanTransformer3DModel";
const QK_NORM: &str = "rms_norm_across_heads";

impl WanTransformerConfig {
    /// Wan 2.1 T2V-1.3B, as in `transformer/config.json` of Wan-AI/Wan2.1-T2V-1.3B-Diffusers
    /// (and diffusers' `scripts/convert_wan_to_diffusers.py`, "Wan-T2V-1.3B").
    pub fn t2v_1_3b() -> Self {
        Self {
            class_name: Some(CLASS.to_string()),
            patch_size: vec![1, 2, 2],
            num_attention_heads: 12,
            attention_head_dim: 128,
            in_channels: 16,
            out_channels: Some(16),
            text_dim: 4096,
            freq_dim: 256,
            ffn_dim: 8960,
            num_layers: 30,
            cross_attn_norm: true,
            qk_norm: Some(QK_NORM.to_string()),
            eps: 1e-6,
            image_dim: None,
            added_kv_proj_dim: None,
            rope_max_seq_len: 1024,
            pos_embed_seq_len: None,
        }
    }

    /// Reads and validates a `transformer/config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        load_config(path, Self::validate)
    }

    /// The model width, `num_attention_heads * attention_head_dim` (1536 for T2V-1.3B).
    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    /// Output latent channels (`out_channels`, or `in_channels` when that is `null`).
    pub fn out_channels(&self) -> usize {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// The patch size as (t, h, w); `validate` guarantees three entries.
    pub fn patch(&self) -> [usize; 3] {
        let p = &self.patch_size;
        [p[0], p[1], p[2]]
    }

    /// RoPE channels per head for the (t, h, w) axes: h and w get `2 * (d / 6)` each, t the
    /// rest (44/42/42 for d = 128), as `WanRotaryPosEmbed` splits them.
    pub fn rope_dims(&self) -> [usize; 3] {
        let hw = 2 * (self.attention_head_dim / 6);
        [self.attention_head_dim - 2 * hw, hw, hw]
    }

    /// Checks that the values describe a text-to-video Wan DiT this crate can run.
    pub fn validate(&self) -> Result<(), ConfigIssue> {
        ensure_class(self.class_name.as_deref(), "_class_name", CLASS)?;
        ensure(self.patch_size.len() == 3, "patch_size", || {
            format!(
                "has {} entries {:?}, expected 3 (t, h, w)",
                self.patch_size.len(),
                self.patch_size
            )
        })?;
        ensure(self.patch_size.iter().all(|&p| p > 0), "patch_size", || {
            format!("{:?} has a zero entry", self.patch_size)
        })?;
        let positive = [
            ("num_attention_heads", self.num_attention_heads),
            ("attention_head_dim", self.attention_head_dim),
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels()),
            ("text_dim", self.text_dim),
            ("freq_dim", self.freq_dim),
            ("ffn_dim", self.ffn_dim),
            ("num_layers", self.num_layers),
            ("rope_max_seq_len", self.rope_max_seq_len),
        ];
        for (field, value) in positive {
            ensure(value > 0, field, || {
                "is 0, expected a positive number".into()
            })?;
        }
        ensure(
            self.attention_head_dim.is_multiple_of(2),
            "attention_head_dim",
            || {
                format!(
                    "is {}, expected an even number (RoPE rotates pairs of channels)",
                    self.attention_head_dim
                )
            },
        )?;
        ensure(self.freq_dim.is_multiple_of(2), "freq_dim", || {
            format!(
                "is {}, expected an even number (cos and sin halves)",
                self.freq_dim
            )
        })?;
        ensure(self.eps > 0.0 && self.eps.is_finite(), "eps", || {
            format!("is {}, expected a small positive number", self.eps)
        })?;
        ensure(
            self.qk_norm.as_deref().is_none_or(|n| n == QK_NORM),
            "qk_norm",
            || {
                format!(
                    "is {:?}, expected {QK_NORM:?}",
                    self.qk_norm.as_deref().unwrap_or_default()
                )
            },
        )?;
        let image = "is set: image-conditioned Wan models (I2V, FLF2V) are not supported, only text-to-video";
        ensure(self.image_dim.is_none(), "image_dim", || image.into())?;
        ensure(
            self.added_kv_proj_dim.is_none(),
            "added_kv_proj_dim",
            || image.into(),
        )?;
        ensure(
            self.pos_embed_seq_len.is_none(),
            "pos_embed_seq_len",
            || image.into(),
        )
    }
}
