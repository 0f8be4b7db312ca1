//! The pipeline's error type: one variant per failure a caller can act on.

use crate::memory::MemoryEstimate;

/// Why a pipeline could not be loaded or a video could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The model folder, a config or a weight file could not be read.
    #[error(transparent)]
    Load(#[from] kino_models::LoadError),

    /// The scheduler config is unusable, or the scheduler failed.
    #[error(transparent)]
    Sampling(#[from] kino_sampling::Error),

    /// A network failed while loading or running (a misshapen tensor, a backend error).
    #[error("{stage}: {source}")]
    Model {
        /// What was being done, e.g. "loading the transformer".
        stage: &'static str,
        /// candle's error.
        source: candle_core::Error,
    },

    /// A request value the model cannot take; `field` names it as in [`crate::GenerateRequest`].
    #[error("invalid request: {field}: {message}")]
    InvalidRequest {
        /// The request field, e.g. `height`.
        field: &'static str,
        /// What is wrong and what would be accepted.
        message: String,
    },

    /// The estimated peak memory is more than the machine has available.
    #[error(
        "not enough memory: this model needs about {} at its peak ({}) but only {} is available \
         (MemAvailable in /proc/meminfo); free memory, use a smaller size, or force the load \
         (LoadOptions::force, `kino generate --force`) to try anyway",
        gib(estimate.total()),
        estimate.breakdown(),
        gib(*available)
    )]
    NotEnoughMemory {
        /// What the pipeline expects to need.
        estimate: MemoryEstimate,
        /// What the system reports as available, in bytes.
        available: u64,
    },
}

impl PipelineError {
    /// Wraps a candle error with what was being done.
    pub(crate) fn model(stage: &'static str) -> impl FnOnce(candle_core::Error) -> Self {
        move |source| Self::Model { stage, source }
    }
}

/// Bytes as GiB with one decimal, e.g. "23.4 GiB".
pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The result type of this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
