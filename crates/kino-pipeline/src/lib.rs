//! Kino's text-to-video pipeline: one library call from a prompt to frames.
//!
//! [`Pipeline::load`] opens a diffusers-layout Wan 2.1 model, checks the estimated peak
//! memory ([`MemoryEstimate`]) against what the system has, and loads the transformer and VAE;
//! [`Pipeline::generate`] takes a [`GenerateRequest`] (defaults: `WanPipeline.__call__`'s) and
//! runs what diffusers' `WanPipeline` runs: encode the prompts (the text encoder is loaded for
//! the call and freed before denoising), denoise with classifier-free guidance and a flow
//! scheduler, un-normalise the latents, decode them with the VAE, and return `(T, H, W, 3)`
//! frames in `[0, 1]` ([`GeneratedVideo`]). It reports through a [`Progress`] and never
//! prints. tests/fixtures/pipeline (made by tools/reference/make_pipeline_fixtures.py) holds
//! the end-to-end parity proof.
//!
//! Not here: the networks (kino-models), the schedulers (kino-sampling), writing video files
//! (kino-media) or any terminal output (kino-cli).
//!
//! ```no_run
//! use kino_pipeline::{GenerateRequest, LoadOptions, NoProgress, Pipeline};
//!
//! # fn main() -> Result<(), kino_pipeline::PipelineError> {
//! let pipeline = Pipeline::load("./Wan2.1-T2V-1.3B-Diffusers", &LoadOptions::default())?;
//! let request = GenerateRequest {
//!     prompt: "a red ball rolls left on green grass".into(),
//!     ..GenerateRequest::default()
//! };
//! let video = pipeline.generate(&request, &mut NoProgress)?; // (81, 480, 832, 3) at 16 fps
//! # Ok(()) }
//! ```

pub mod anchor;
mod defaults;
mod error;
pub mod interpolate;
pub mod layers;
mod memory;
mod pipeline;
pub mod planned;
mod progress;
mod request;
pub mod spin;
pub mod still;
pub mod turns;

pub use defaults::ModelDefaults;
pub use error::{PipelineError, Result};
/// How a request limits guidance to a range of noise levels (from the sampler crate).
pub use kino_sampling::GuidanceInterval;
pub use memory::{MemoryEstimate, VideoSize, available_memory};
pub use pipeline::{GeneratedVideo, LoadOptions, Pipeline, SegmentPlan};
pub use progress::{NoProgress, Progress, Stage};
pub use request::{GenerateRequest, SchedulerChoice, SizeRules, WAN_FPS};
