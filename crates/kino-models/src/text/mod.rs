//! The text side of Wan 2.1: prompt cleaning, the umT5 tokenizer and the umT5 encoder, as
//! diffusers 0.42.1's `WanPipeline` (`_get_t5_prompt_embeds`) and transformers 5.24's
//! `UMT5EncoderModel` run them.
//!
//! ```no_run
//! use kino_models::ModelDir;
//! use kino_models::text::PromptEncoder;
//! use candle_core::Device;
//!
//! # fn main() -> candle_core::Result<()> {
//! let model = ModelDir::open("./Wan2.1-T2V-1.3B-Diffusers").map_err(candle_core::Error::wrap)?;
//! let encoder = PromptEncoder::load(&model, &Device::Cpu)?;
//! let (embeds, warnings) = encoder.encode(&["a red ball rolls left"])?; // (1, 512, 4096)
//! for w in &warnings {
//!     eprintln!("warning: {w}");
//! }
//! # Ok(()) }
//! ```

mod attention;
mod clean;
mod html_entities;
mod prompt;
mod tokenizer;
mod umt5;

pub use attention::{Umt5Attention, relative_position_bucket};
pub use clean::{clean_prompt, html_unescape};
pub use prompt::{DEFAULT_MAX_SEQUENCE_LENGTH, PromptEncoder};
pub use tokenizer::{TokenizedPrompts, TruncationWarning, WanTokenizer};
pub use umt5::{Umt5Block, Umt5DenseGatedActDense, Umt5Encoder, Umt5LayerNorm};
