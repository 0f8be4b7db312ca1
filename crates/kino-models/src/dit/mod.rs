//! The Wan 2.1 DiT, diffusers' `WanTransformer3DModel` (`models/transformers/transformer_wan.py`,
//! diffusers 0.42.1), text-to-video: it predicts the flow of a video latent given a timestep
//! and the umT5 text embeddings.
//!
//! Data flow, one file per stage: [`embeddings`] (3D patch embedding of the latent; timestep and
//! text embeddings), [`rope`](mod@rope) (3D rotary position tables, t/h/w channel split), [`block`]
//! (modulated self-attention, cross-attention, gated feed-forward), [`attention`](mod@attention) (tiled
//! attention that never holds a `tokens x tokens` matrix, so 480x832x81 videos — 32,760 tokens
//! — fit in memory), [`transformer`] (the whole model, output head and unpatchify).
//!
//! ```no_run
//! use candle_core::{DType, Device, Tensor};
//! use kino_models::{ModelDir, Weights, dit::WanTransformer3D};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = ModelDir::open("./Wan2.1-T2V-1.3B-Diffusers")?;
//! let cfg = model.transformer_config()?;
//! let vb = Weights::open(model.component_dir("transformer")?)?.into_var_builder(DType::F32, &Device::Cpu);
//! let dit = WanTransformer3D::new(&cfg, vb)?;
//! let latents = Tensor::zeros((1, 16, 21, 60, 104), DType::F32, &Device::Cpu)?;
//! let timestep = Tensor::new(&[999f32], &Device::Cpu)?;
//! let text = Tensor::zeros((1, 512, 4096), DType::F32, &Device::Cpu)?;
//! let flow = dit.forward(&latents, &timestep, &text)?; // (1, 16, 21, 60, 104)
//! # Ok(()) }
//! ```

pub mod attention;
pub mod block;
pub mod condition;
pub mod embeddings;
pub mod rope;
pub mod transformer;

pub use attention::{AttentionTiles, WanAttention, attention};
pub use block::WanTransformerBlock;
pub use condition::{
    FirstFrameLayout, POSITION_PLANES, condition_channels, first_frame_condition, position_planes,
};
pub use embeddings::{Conditions, PatchEmbedding, WanTimeTextEmbedding, timestep_embedding};
pub use rope::{RopeTables, WanRotaryPosEmbed, rope};
pub use transformer::WanTransformer3D;
