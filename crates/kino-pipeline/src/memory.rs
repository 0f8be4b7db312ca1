//! The memory check before loading: the weights at the compute dtype plus a rough estimate of
//! the largest activations, against what the system says is available.

use candle_core::DType;
use kino_models::{ModelDir, WanTransformerConfig, WanVaeConfig};

use crate::error::{Result, gib};

/// The components whose weights a generation holds at its peak (the text encoder is freed
/// before denoising, but it is loaded while the transformer and VAE already are).
const COMPONENTS: [&str; 3] = ["text_encoder", "transformer", "vae"];

/// The size of video a pipeline is loaded for: activations grow with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSize {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Frames.
    pub frames: usize,
}

impl Default for VideoSize {
    /// Wan 2.1's default request: 81 frames of 832x480.
    fn default() -> Self {
        Self {
            height: 480,
            width: 832,
            frames: 81,
        }
    }
}

/// Expected peak memory of one generation, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Every component's weights converted to the compute dtype.
    pub weights: u64,
    /// The larger of the transformer's and the VAE decoder's working tensors (rough: a few
    /// copies of the largest tensors each holds at once).
    pub activations: u64,
    /// The decoded video and its f32 copy.
    pub video: u64,
}

impl MemoryEstimate {
    /// Estimates the peak for generating `video` with the model in `model` computing in
    /// `dtype`. Reads only safetensors headers and configs.
    pub fn for_model(model: &ModelDir, dtype: DType, video: VideoSize) -> Result<Self> {
        let bytes = dtype.size_in_bytes() as u64;
        let mut params = 0u64;
        for name in COMPONENTS.iter().filter(|n| model.has_component(n)) {
            let weights = model.weights(name)?;
            for tensor in weights.names() {
                let (_, info) = weights.info(tensor)?;
                params += info.shape.iter().product::<usize>() as u64;
            }
        }
        let dit_config = model.transformer_config()?;
        let (dit, vae) = if model.has_component("vae") {
            let vae_config = model.vae_config()?;
            let (t, s) = (
                vae_config.temporal_compression(),
                vae_config.spatial_compression(),
            );
            // A clip autoencoder codes each clip of `in_channels / 3` frames as one latent
            // picture; Wan's VAE a first frame, then `t` frames a latent frame.
            let latent_frames = match crate::pipeline::folded_frames(&vae_config) {
                Some(folded) => video.frames.div_ceil(folded).max(1),
                None => video.frames.saturating_sub(1) / t + 1,
            };
            (
                dit_activations(&dit_config, latent_frames, s, video) * bytes,
                vae_activations(&vae_config, video) * bytes,
            )
        } else {
            // Pixel space: no VAE, the latent is the video.
            (
                dit_activations(&dit_config, video.frames, 1, video) * bytes,
                0,
            )
        };
        let pixels = (video.frames * video.height * video.width * 3) as u64;
        Ok(Self {
            weights: params * bytes,
            activations: dit.max(vae),
            video: pixels * (bytes + 4),
        })
    }

    /// Everything together.
    pub fn total(&self) -> u64 {
        self.weights + self.activations + self.video
    }

    /// "weights X + activations Y + video Z", for messages.
    pub fn breakdown(&self) -> String {
        format!(
            "weights {} + activations {} + video {}",
            gib(self.weights),
            gib(self.activations),
            gib(self.video)
        )
    }
}

/// Elements the transformer holds at once in one block: the token stream, the attention's
/// q, k, v and output, and the feed-forward's hidden layer twice (before and after GELU).
fn dit_activations(
    cfg: &WanTransformerConfig,
    latent_frames: usize,
    s: usize,
    video: VideoSize,
) -> u64 {
    let [pt, ph, pw] = cfg.patch();
    let tokens = latent_frames / pt * (video.height / s / ph) * (video.width / s / pw);
    let dim = cfg.inner_dim();
    (tokens * (8 * dim + 2 * cfg.ffn_dim)) as u64
}

/// Elements the VAE decoder holds at once at full resolution: about four tensors of 4 frames
/// with twice the first stage's channels (the last up-block's input).
fn vae_activations(cfg: &WanVaeConfig, video: VideoSize) -> u64 {
    let channels = 2 * cfg.decoder_base_dim() * cfg.dim_mult.first().copied().unwrap_or(1);
    (4 * 4 * channels * video.height * video.width) as u64
}

/// `MemAvailable` from /proc/meminfo in bytes, or `None` where it cannot be read (not Linux).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_kib() {
        let text = "MemTotal:       131072 kB\nMemFree:  10 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn wan_1_3b_default_request_is_about_tens_of_gib() {
        let vae_cfg = WanVaeConfig::wan_2_1();
        let dit = dit_activations(
            &WanTransformerConfig::t2v_1_3b(),
            21,
            vae_cfg.spatial_compression(),
            VideoSize::default(),
        );
        // 21 x 30 x 52 = 32,760 tokens, dim 1536, ffn 8960.
        assert_eq!(dit, 32_760 * (8 * 1536 + 2 * 8960));
        let vae = vae_activations(&vae_cfg, VideoSize::default());
        assert_eq!(vae, 16 * 192 * 480 * 832);
    }
}
