//! Training kino-mini, Kino's own small text-to-video model.
//!
//! kino-mini is the Wan DiT and umT5 encoder of `kino-models` with a small config, trained
//! here from nothing on clips of the procedural world (`kino-world`) with the flow-matching
//! objective Wan uses. The shipped recipe works in pixel space (no VAE): the world's frames
//! are flat colours and simple textures, and a 4x4-pixel patch is as compact as a latent would
//! be, so the whole budget goes to the denoiser. Latent recipes ([`autoencoder`]) first train
//! a clip autoencoder (the Wan VAE code, a small config that codes a whole clip, its frames
//! folded into channels, as one picture) and then the DiT on its latents. Each checkpoint is also exported as a diffusers-layout
//! model folder that `kino-pipeline` loads like any Wan model.
//!
//! Not here: the networks (kino-models), sampling (kino-sampling, kino-pipeline), printing
//! (kino-cli reports the [`TrainProgress`] events).

pub mod autoencoder;
pub mod caption_parse;
pub mod checkpoint;
pub mod curve;
pub mod data;
pub mod decoder_polish;
pub mod eval;
pub mod export;
pub mod flow;
pub mod layout;
pub mod model;
pub mod optim;
pub mod prefetch;
pub mod recipe;
pub mod recipe_change;
pub mod sheet;
pub mod token_read;
pub mod train;
pub mod vocabulary;
pub mod whiten;

pub use model::MiniModel;
pub use recipe::Recipe;
pub use train::{Quiet, TrainError, TrainOptions, TrainProgress, TrainSummary, train};
