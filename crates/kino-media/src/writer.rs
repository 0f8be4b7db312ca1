//! Streaming video writers: frames go in one at a time, the file appears (atomically) on
//! `finish`. Dropping a writer before `finish` leaves nothing behind.

use crate::error::{MediaError, Result};
use crate::format::VideoFormat;
use crate::video::{Video, VideoSpec};
use crate::{gif_writer, mp4_writer, png_frames, y4m};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenVideo {
    /// Final path.
    pub path: PathBuf,
    /// Container.
    pub format: VideoFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Frames written.
    pub frames: usize,
    /// Bytes on disk (for a PNG folder, the sum of its files).
    pub bytes: u64,
}

impl WrittenVideo {
    /// Describes a finished file at `path`, measuring its size on disk.
    pub(crate) fn finished(
        path: PathBuf,
        format: VideoFormat,
        spec: &VideoSpec,
        frames: usize,
    ) -> Self {
        Self {
            bytes: size_on_disk(&path),
            path,
            format,
            width: spec.width,
            height: spec.height,
            fps: spec.fps,
            frames,
        }
    }
}

/// A sink for frames of one video.
pub trait VideoWriter {
    /// Appends one frame (must match the spec's size).
    fn write_frame(&mut self, frame: &RgbImage) -> Result<()>;
    /// Completes the file and moves it into place.
    fn finish(self: Box<Self>) -> Result<WrittenVideo>;
}

/// Opens a writer for `path`; `format` overrides the extension.
pub fn create_writer(
    path: &Path,
    format: Option<VideoFormat>,
    spec: VideoSpec,
) -> Result<Box<dyn VideoWriter>> {
    spec.validate()?;
    let format = match format {
        Some(f) => f,
        None => VideoFormat::from_path(path)?,
    };
    Ok(match format {
        VideoFormat::Mp4 => Box::new(mp4_writer::Mp4Writer::create(path, spec)?),
        VideoFormat::Gif => Box::new(gif_writer::GifWriter::create(path, spec)?),
        VideoFormat::Y4m => Box::new(y4m::Y4mWriter::create(path, spec)?),
        VideoFormat::Png => Box::new(png_frames::PngFramesWriter::create(path, spec)?),
    })
}

/// Writes a whole in-memory video.
pub fn write_video(
    path: &Path,
    video: &Video,
    format: Option<VideoFormat>,
) -> Result<WrittenVideo> {
    let mut writer = create_writer(path, format, video.spec())?;
    for frame in video.frames() {
        writer.write_frame(frame)?;
    }
    writer.finish()
}

/// Checks a frame against the writer's spec.
pub(crate) fn check_frame(spec: &VideoSpec, index: usize, frame: &RgbImage) -> Result<()> {
    if frame.dimensions() != (spec.width, spec.height) {
        return Err(MediaError::FrameSizeMismatch {
            index,
            got_width: frame.width(),
            got_height: frame.height(),
            width: spec.width,
            height: spec.height,
        });
    }
    Ok(())
}

/// Size of a file, or the sum of the files in a folder.
pub(crate) fn size_on_disk(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}
