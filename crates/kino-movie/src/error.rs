//! The one error type of kino-movie: every variant names the file, line or value that is wrong.

use std::path::PathBuf;

/// A failure planning, rendering or assembling a film. Display gives one line a user can act
/// on; [`MovieError::is_usage`] tells the bad-input cases (exit code 2) from failed work.
#[derive(Debug, thiserror::Error)]
pub enum MovieError {
    /// The screenplay or storyboard is wrong at a line: `film.fountain:12: unknown transition`.
    #[error("{}:{line}: {message}", path.display())]
    Script {
        /// The script file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// The script as a whole is unusable (empty, no scenes).
    #[error("{}: {message}", path.display())]
    Unusable {
        /// The script file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A setting (size, fps, jobs, ...) is out of range.
    #[error("{0}")]
    InvalidSetting(String),
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing or reading media failed.
    #[error(transparent)]
    Media(#[from] kino_media::MediaError),
    /// A shot cache entry is unreadable or inconsistent.
    #[error("shot cache {}: {message}", path.display())]
    Cache {
        /// The entry.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The shot renderer (the model) failed on a shot.
    #[error("shot {shot} ({prompt:?}): {message}")]
    Render {
        /// 1-based shot number.
        shot: usize,
        /// The shot's prompt.
        prompt: String,
        /// The renderer's message.
        message: String,
    },
}

impl MovieError {
    /// True when the input (script, storyboard, settings) is at fault, not the work.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Script { .. } | Self::Unusable { .. } | Self::InvalidSetting(_)
        )
    }

    /// An I/O error with the action and path that failed.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result with [`MovieError`].
pub type Result<T, E = MovieError> = std::result::Result<T, E>;

/// An error at a line of a script, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl LineError {
    /// An error at `line`.
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    /// The same error, naming the file.
    pub fn in_file(self, path: impl Into<PathBuf>) -> MovieError {
        MovieError::Script {
            path: path.into(),
            line: self.line,
            message: self.message,
        }
    }
}
