//! The Wan VAE's `vae/config.json`.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigIssue, ensure, ensure_class, load_config};
use crate::LoadError;

/// Mirrors the constructor of diffusers' `AutoencoderKLWan`
/// (`models/autoencoders/autoencoder_kl_wan.py`, diffusers 0.42.1). The fields after
/// `latents_std` came with Wan 2.2 and are absent from Wan 2.1's files: they take the
/// reference's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WanVaeConfig {
    /// `_class_name`; `AutoencoderKLWan` when present.
    #[serde(rename = "_class_name", default)]
    pub class_name: Option<String>,
    /// Channels of the first encoder stage; later stages multiply it by `dim_mult`.
    pub base_dim: usize,
    /// The decoder's base width when it differs from `base_dim` (Wan 2.2); `None` means equal.
    #[serde(default)]
    pub decoder_base_dim: Option<usize>,
    /// Latent channels.
    pub z_dim: usize,
    /// Width multiplier per resolution stage.
    pub dim_mult: Vec<usize>,
    /// Residual blocks per stage.
    pub num_res_blocks: usize,
    /// Scales with attention in the encoder/decoder stages (empty in Wan 2.1).
    pub attn_scales: Vec<f64>,
    /// Whether each downsampling stage also halves time (spelled as in the reference).
    pub temperal_downsample: Vec<bool>,
    /// Dropout (inference ignores it).
    #[serde(default)]
    pub dropout: f64,
    /// Per-channel mean of the latents: `z = (mu - mean) / std` before the DiT.
    pub latents_mean: Vec<f64>,
    /// Per-channel standard deviation of the latents.
    pub latents_std: Vec<f64>,
    /// Residual (Wan 2.2) encoder/decoder blocks.
    #[serde(default)]
    pub is_residual: bool,
    /// Image channels in.
    #[serde(default = "rgb")]
    pub in_channels: usize,
    /// Image channels out.
    #[serde(default = "rgb")]
    pub out_channels: usize,
    /// Pixel-shuffle patch size (Wan 2.2); `None` in Wan 2.1.
    #[serde(default)]
    pub patch_size: Option<usize>,
    /// Frames per latent frame after the first.
    #[serde(default = "four")]
    pub scale_factor_temporal: Option<usize>,
    /// Pixels per latent pixel along each side.
    #[serde(default = "eight")]
    pub scale_factor_spatial: Option<usize>,
}

fn rgb() -> usize {
    3
}
fn four() -> Option<usize> {
    Some(4)
}
fn eight() -> Option<usize> {
    Some(8)
}

const CLASS: &str = "AutoencoderKLWan";

impl WanVaeConfig {
    /// The Wan 2.1 VAE, as in `vae/config.json` of Wan-AI/Wan2.1-T2V-1.3B-Diffusers (also the
    /// defaults of `AutoencoderKLWan`).
    pub fn wan_2_1() -> Self {
        Self {
            class_name: Some(CLASS.to_string()),
            base_dim: 96,
            decoder_base_dim: None,
            z_dim: 16,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            dropout: 0.0,
            latents_mean: vec![
                -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134,
                -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
            ],
            latents_std: vec![
                2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526,
                2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
            ],
            is_residual: false,
            in_channels: 3,
            out_channels: 3,
            patch_size: None,
            scale_factor_temporal: Some(4),
            scale_factor_spatial: Some(8),
        }
    }

    /// Reads and validates a `vae/config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        load_config(path, Self::validate)
    }

    /// The decoder's base width (`decoder_base_dim`, else `base_dim`).
    pub fn decoder_base_dim(&self) -> usize {
        self.decoder_base_dim.unwrap_or(self.base_dim)
    }

    /// Spatial downsampling factor implied by the stages: `2^(stages - 1)` (8 for Wan 2.1).
    pub fn spatial_compression(&self) -> usize {
        1 << self.dim_mult.len().saturating_sub(1)
    }

    /// Temporal downsampling factor: 2 per `true` in `temperal_downsample` (4 for Wan 2.1).
    pub fn temporal_compression(&self) -> usize {
        1 << self.temperal_downsample.iter().filter(|&&t| t).count()
    }

    /// Checks that the values describe a Wan 2.1-style VAE this crate can run.
    pub fn validate(&self) -> Result<(), ConfigIssue> {
        ensure_class(self.class_name.as_deref(), "_class_name", CLASS)?;
        for (field, value) in [
            ("base_dim", self.base_dim),
            ("z_dim", self.z_dim),
            ("num_res_blocks", self.num_res_blocks),
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("decoder_base_dim", self.decoder_base_dim()),
        ] {
            ensure(value > 0, field, || {
                "is 0, expected a positive number".into()
            })?;
        }
        ensure(
            !self.dim_mult.is_empty() && self.dim_mult.iter().all(|&m| m > 0),
            "dim_mult",
            || {
                format!(
                    "is {:?}, expected a non-empty list of positive numbers",
                    self.dim_mult
                )
            },
        )?;
        ensure(
            self.temperal_downsample.len() + 1 == self.dim_mult.len(),
            "temperal_downsample",
            || {
                format!(
                    "has {} entries, expected {} (one per stage transition of dim_mult {:?})",
                    self.temperal_downsample.len(),
                    self.dim_mult.len().saturating_sub(1),
                    self.dim_mult
                )
            },
        )?;
        ensure(
            self.latents_mean.len() == self.z_dim,
            "latents_mean",
            || {
                format!(
                    "has {} entries, expected z_dim = {}",
                    self.latents_mean.len(),
                    self.z_dim
                )
            },
        )?;
        ensure(self.latents_std.len() == self.z_dim, "latents_std", || {
            format!(
                "has {} entries, expected z_dim = {}",
                self.latents_std.len(),
                self.z_dim
            )
        })?;
        ensure(
            self.latents_std.iter().all(|&s| s > 0.0 && s.is_finite()),
            "latents_std",
            || {
                format!(
                    "{:?} has an entry that is not a positive number",
                    self.latents_std
                )
            },
        )?;
        ensure((0.0..1.0).contains(&self.dropout), "dropout", || {
            format!("is {}, expected a probability in [0, 1)", self.dropout)
        })?;
        let wan22 = "is set: the Wan 2.2 VAE is not supported, only Wan 2.1's";
        ensure(!self.is_residual, "is_residual", || wan22.into())?;
        ensure(self.patch_size.is_none(), "patch_size", || wan22.into())
    }
}
