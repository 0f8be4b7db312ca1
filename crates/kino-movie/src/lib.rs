//! kino-movie: movie mode. A screenplay (Fountain) or storyboard (TOML) becomes a shot plan,
//! each shot is rendered once through a [`ShotRenderer`] into a content-addressed shot cache,
//! and the shots are assembled into one film with cuts, dissolves, fades, title cards,
//! subtitles (SRT, WebVTT, optionally burned in), an OpenTimelineIO timeline and a contact
//! sheet.
//!
//! Data flow: [`fountain::parse`] / [`storyboard::parse`] → [`plan_file`] ([`Plan`]) →
//! [`render_shots`] (through [`ShotCache`]) → [`assemble`] → [`subtitles`], [`otio`];
//! [`make_film`] runs the last four.
//!
//! Not here: the model (the caller's [`ShotRenderer`], e.g. kino-cli's pipeline renderer),
//! video encoding (kino-media), or any terminal output: progress goes through
//! [`FilmProgress`].

mod assemble;
mod cache;
mod error;
mod film;
pub mod fountain;
pub mod otio;
mod plan;
mod prompt;
mod render;
mod script;
pub mod storyboard;
pub mod subtitles;
mod text;
mod title_card;
mod transition;

pub use assemble::{AssembleOptions, Assembled, assemble};
pub use cache::{CacheEntry, ShotCache, ShotKey, cache_dir_for};
pub use error::{LineError, MovieError, Result};
pub use film::{FilmReport, FilmRequest, make_film, sibling};
pub use plan::{
    Cue, DialogueLine, Plan, PlanSettings, Shot, ShotContent, plan_screenplay, plan_storyboard,
};
pub use prompt::PromptContext;
pub use render::{
    FilmProgress, NoFilmProgress, RenderFailure, RenderOptions, RenderReport, ShotProgress,
    ShotRenderer, ShotRequest, render_shots,
};
pub use script::{Script, load_script, plan_file, plan_script};
pub use text::TextRenderer;
pub use title_card::render_card;
pub use transition::{KNOWN_TRANSITIONS, Transition};
