//! Which container a path or a `--format` name means.

use crate::error::{MediaError, Result};
use std::path::Path;

/// The video containers Kino writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoFormat {
    /// MP4 with H.264 (Constrained Baseline, yuv420p, fast-start): plays everywhere.
    Mp4,
    /// Animated GIF (256-colour palette per frame, 1/100 s timing).
    Gif,
    /// YUV4MPEG2 raw video (4:2:0, BT.601 limited range): for piping into other encoders.
    Y4m,
    /// A folder of numbered PNG frames (`frame_000001.png`, ...) plus `video.json`.
    Png,
}

impl VideoFormat {
    /// All formats, for help texts and tests.
    pub const ALL: [VideoFormat; 4] = [Self::Mp4, Self::Gif, Self::Y4m, Self::Png];

    /// The format named by `--format` (mp4, gif, y4m, png/frames).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mp4" | "h264" => Some(Self::Mp4),
            "gif" => Some(Self::Gif),
            "y4m" => Some(Self::Y4m),
            "png" | "frames" => Some(Self::Png),
            _ => None,
        }
    }

    /// The format implied by an output path: its extension, or a trailing `/` (or an
    /// existing folder) for PNG frames.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = path.to_string_lossy();
        if text.ends_with('/') || path.is_dir() {
            return Ok(Self::Png);
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "mp4" | "m4v" => Ok(Self::Mp4),
            "gif" => Ok(Self::Gif),
            "y4m" => Ok(Self::Y4m),
            "png" => Ok(Self::Png),
            _ => Err(MediaError::UnknownFormat {
                path: path.to_path_buf(),
                extension: ext,
            }),
        }
    }

    /// Lower-case name as used by `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Gif => "gif",
            Self::Y4m => "y4m",
            Self::Png => "png",
        }
    }
}

impl std::fmt::Display for VideoFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_paths() {
        assert_eq!(
            VideoFormat::from_path(Path::new("a.MP4")).ok(),
            Some(VideoFormat::Mp4)
        );
        assert_eq!(
            VideoFormat::from_path(Path::new("a.gif")).ok(),
            Some(VideoFormat::Gif)
        );
        assert_eq!(
            VideoFormat::from_path(Path::new("a.y4m")).ok(),
            Some(VideoFormat::Y4m)
        );
        assert_eq!(
            VideoFormat::from_path(Path::new("frames/")).ok(),
            Some(VideoFormat::Png)
        );
        let err = VideoFormat::from_path(Path::new("a.avi"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"avi\""), "{err}");
    }
}
