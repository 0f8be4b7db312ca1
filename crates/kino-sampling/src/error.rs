//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong while configuring a scheduler or taking a step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scheduler config has a value we cannot use. `field` is the config file's key.
    #[error("invalid scheduler config: `{field}`: {message}")]
    InvalidConfig {
        /// The key in `scheduler_config.json`, as diffusers spells it.
        field: String,
        /// What is wrong with its value and what would be accepted.
        message: String,
    },

    /// A scheduler config is not valid JSON, or a key has the wrong JSON type.
    #[error("invalid scheduler config JSON: {0}")]
    Json(String),

    /// A scheduler config file could not be read or parsed.
    #[error("failed to read scheduler config {path}: {message}")]
    ConfigFile {
        /// The file we tried to read.
        path: PathBuf,
        /// Why it failed (I/O or JSON error, with position).
        message: String,
    },

    /// `step` was called before `set_timesteps`.
    #[error("the scheduler has no timesteps: call set_timesteps before step")]
    NoTimesteps,

    /// `set_timesteps` was asked for zero steps.
    #[error("the number of inference steps must be at least 1")]
    ZeroSteps,

    /// A multistep scheduler was stepped out of order: its history only makes sense in sequence.
    #[error(
        "step {got} called but the scheduler expects step {expected} next (steps must run in order)"
    )]
    StepOutOfOrder {
        /// The step index the scheduler expected.
        expected: usize,
        /// The step index it was given.
        got: usize,
    },

    /// More steps were taken than `set_timesteps` asked for.
    #[error("step {step} is past the end of the schedule ({steps} steps)")]
    StepPastEnd {
        /// The step index given.
        step: usize,
        /// How many steps the schedule has.
        steps: usize,
    },

    /// A tensor operation failed (shape or dtype mismatch, device error).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
