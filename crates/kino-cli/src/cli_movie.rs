//! Command-line definitions of `kino movie` (kept apart from cli.rs so each command's
//! flags read in one place).

use crate::cli::OutputArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `kino movie ...`
#[derive(Debug, Subcommand)]
pub enum MovieCommand {
    /// Print the shot list of a screenplay (.fountain) or storyboard (.toml) without
    /// rendering: each shot's prompt, length, seed, transition and dialogue.
    Plan(MoviePlanArgs),
    /// Render a screenplay or storyboard into a film with subtitles (.srt, .vtt), an
    /// OpenTimelineIO timeline (.otio) and a contact sheet beside it. Shots are cached in
    /// FILM.kino-cache/ (FILM the output path): after an edit only changed shots render again, and an
    /// interrupted render resumes.
    Render(MovieRenderArgs),
}

/// What every film shares: the model, size, rate, seed.
#[derive(Debug, Args, Clone)]
pub struct FilmArgs {
    /// "mini" for the built-in kino-mini, or a diffusers-layout model folder. Its defaults
    /// (size, fps, steps, guidance) apply where no flag is given.
    #[arg(long, default_value = "mini")]
    pub model: String,
    /// Film width in pixels (default: the model's output width). A model that renders at a
    /// native size (kino-mini) is resized to it; others render at it (Wan 2.1: a multiple
    /// of 16).
    #[arg(long)]
    pub width: Option<u32>,
    /// Film height in pixels (default: the model's output height).
    #[arg(long)]
    pub height: Option<u32>,
    /// Frames per second of the film (default: the model's).
    #[arg(long, allow_negative_numbers = true)]
    pub fps: Option<f64>,
    /// The film's seed; each shot's seed comes from it and the shot's place in its scene.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `kino movie plan`
#[derive(Debug, Args)]
pub struct MoviePlanArgs {
    /// A Fountain screenplay (.fountain) or a TOML storyboard (.toml).
    pub script: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub film: FilmArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kino movie render`
#[derive(Debug, Args)]
pub struct MovieRenderArgs {
    /// A Fountain screenplay (.fountain) or a TOML storyboard (.toml).
    pub script: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub film: FilmArgs,
    /// Shots rendered at the same time (each uses the model on its own thread).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Denoising steps per shot (default: the model's).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Classifier-free guidance scale, 1 or less disables the negative pass (default: the
    /// model's).
    #[arg(long, allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    /// What no shot should show (the negative prompt).
    #[arg(long, default_value = "")]
    pub negative: String,
    /// Draw the subtitles into the picture too.
    #[arg(long)]
    pub burn_subtitles: bool,
    /// Load the model even when its estimated peak memory exceeds the available memory.
    #[arg(long)]
    pub force: bool,
}
