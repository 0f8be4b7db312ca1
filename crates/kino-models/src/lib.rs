//! Kino's neural networks and the weights they load.
//!
//! The loading layer reads a Wan 2.1 text-to-video model as
//! people download it in Hugging Face diffusers layout (`model_index.json` and one folder per
//! component), parses each component's `config.json` into typed, validated structs, and reads
//! tensors from single-file or sharded safetensors (f32, f16 or bf16 on disk) into candle
//! tensors of the dtype the caller asks for, checking names and shapes.
//!
//! It is not the place for schedulers or sampling (`kino-sampling`) or for the generation
//! pipeline (`kino-pipeline`); the network code lives here beside the loader: [`text`] (prompt
//! cleaning, the umT5 tokenizer and encoder) and [`vae`] (the Wan 2.1 VAE, encode and decode).
//!
//! ```no_run
//! use kino_models::{ModelDir, WanTransformerConfig, Weights};
//! use candle_core::{DType, Device};
//!
//! # fn main() -> Result<(), kino_models::LoadError> {
//! let model = ModelDir::open("./Wan2.1-T2V-1.3B-Diffusers")?;
//! let config = model.transformer_config()?;
//! let weights = Weights::open(model.component_dir("transformer")?)?;
//! let dim = config.inner_dim();
//! let scale_shift = weights.get("scale_shift_table", &[1, 2, dim], DType::F32, &Device::Cpu)?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod dit;
mod error;
pub mod layout;
pub mod linear;
pub mod loading;
pub mod ops;
pub mod text;
pub mod vae;

pub use config::{Umt5Config, WanTransformerConfig, WanVaeConfig};
pub use error::LoadError;
pub use loading::{ModelDir, ModelIndex, RandomWeights, Weights};
