//! The one error type of kino-media: every variant names the file or value that is wrong.

use std::path::PathBuf;

/// A failure reading or writing media. Display gives one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// An operating-system error on a named path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot create", "cannot read", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's contents are not what its format requires (truncated, corrupt, unsupported).
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The output path's extension names no format we write.
    #[error(
        "{path}: unknown video format {extension:?}; use .mp4, .gif, .y4m or a folder name ending in / or .png (or pass --format mp4|gif|y4m|png)"
    )]
    UnknownFormat {
        /// The output path.
        path: PathBuf,
        /// The extension found (empty when there is none).
        extension: String,
    },
    /// A size, frame rate or frame count outside what a format or Kino accepts.
    #[error("{0}")]
    InvalidParameter(String),
    /// The frames handed to a writer disagree with the video's declared size.
    #[error("frame {index} is {got_width}x{got_height}, but the video is {width}x{height}")]
    FrameSizeMismatch {
        /// Zero-based frame index.
        index: usize,
        /// Frame width.
        got_width: u32,
        /// Frame height.
        got_height: u32,
        /// Video width.
        width: u32,
        /// Video height.
        height: u32,
    },
    /// The H.264 encoder or the MP4 muxer failed.
    #[error("{path}: encoding failed: {reason}")]
    Encode {
        /// The output path.
        path: PathBuf,
        /// The encoder's or muxer's message.
        reason: String,
    },
}

impl MediaError {
    /// An I/O error with the action and path that failed.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A corrupt or unsupported file.
    pub fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result with [`MediaError`].
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
