//! kino-media: getting frames in and out of files.
//!
//! Writes MP4 (H.264 via openh264 + muxide, fast-start), animated GIF, Y4M and folders of
//! PNG frames, always atomically (a temporary renamed on success); reads PNG/JPEG images and
//! Y4M/PNG-folder videos; builds contact sheets; probes files for `kino info`.
//! It is not a general media framework: no audio, no MP4 decoding, no filters.

mod atomic;
mod contact_sheet;
mod error;
mod format;
mod gif_writer;
mod image_io;
mod mp4_probe;
mod mp4_writer;
mod png_frames;
mod probe;
mod video;
mod writer;
mod y4m;
pub mod yuv;

pub use atomic::{AtomicOutput, write_bytes};
pub use contact_sheet::{
    ContactSheetLayout, contact_sheet, contact_sheet_path, evenly_spaced, write_contact_sheet,
};
pub use error::{MediaError, Result};
pub use format::VideoFormat;
pub use gif_writer::MAX_GIF_FPS;
pub use image;
pub use image::RgbImage;
pub use image_io::{read_image, write_png};
pub use mp4_probe::{Mp4Info, probe_mp4};
pub use mp4_writer::check_mp4_size;
pub use png_frames::{FramesSidecar, read_png_frames};
pub use probe::{MediaInfo, probe};
pub use video::{
    MAX_DIMENSION, MAX_FPS, Video, VideoSpec, fps_fraction, validate_fps, validate_size,
};
pub use writer::{VideoWriter, WrittenVideo, create_writer, write_video};
pub use y4m::{Y4mHeader, read_y4m};

/// Reads a video from a Y4M file or a folder of PNG frames (`default_fps` applies to a
/// folder without `video.json`).
pub fn read_video(path: &std::path::Path, default_fps: f64) -> Result<Video> {
    if path.is_dir() {
        return read_png_frames(path, default_fps);
    }
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("y4m") => read_y4m(path),
        _ => Err(MediaError::corrupt(
            path,
            "videos are read from .y4m files or folders of PNG frames",
        )),
    }
}
