//! `kino info` for media: what a file is, without decoding more than needed.

use crate::error::{MediaError, Result};
use crate::mp4_probe::probe_mp4;
use crate::png_frames::{list_frames, read_sidecar};
use crate::y4m::probe_y4m;
use std::path::Path;

/// A description of a media file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaInfo {
    /// Container: mp4, gif, y4m, png-frames, png, jpeg.
    pub container: String,
    /// Codec or pixel layout ("h264 (profile 66)", "yuv420", "rgb").
    pub codec: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames (1 for a still image).
    pub frames: u64,
    /// Frames per second (None for stills and frame folders without video.json).
    pub fps: Option<f64>,
    /// Duration in seconds, when known.
    pub duration_seconds: Option<f64>,
    /// MP4 only: moov before mdat.
    pub fast_start: Option<bool>,
}

/// Describes a video or image file (or a folder of PNG frames).
pub fn probe(path: &Path) -> Result<MediaInfo> {
    if path.is_dir() {
        return probe_frames_folder(path);
    }
    let mut magic = [0u8; 12];
    {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).map_err(|e| MediaError::io("cannot open", path, e))?;
        let n = f
            .read(&mut magic)
            .map_err(|e| MediaError::io("cannot read", path, e))?;
        if n < 4 {
            return Err(MediaError::corrupt(path, "file is too short to be media"));
        }
    }
    if &magic[4..8] == b"ftyp" || &magic[4..8] == b"moov" {
        let m = probe_mp4(path)?;
        let codec = match (m.codec.as_str(), m.profile_idc) {
            ("avc1", Some(p)) => format!("h264 (profile_idc {p})"),
            (c, _) => c.to_string(),
        };
        return Ok(MediaInfo {
            container: "mp4".into(),
            codec,
            width: m.width,
            height: m.height,
            frames: m.frames,
            fps: Some(m.fps),
            duration_seconds: Some(m.duration_seconds),
            fast_start: Some(m.fast_start),
        });
    }
    if magic.starts_with(b"YUV4MPEG2") {
        let (h, frames) = probe_y4m(path)?;
        return Ok(MediaInfo {
            container: "y4m".into(),
            codec: match h.subsampling {
                Some((2, 2)) => "yuv420".into(),
                Some((2, 1)) => "yuv422".into(),
                Some(_) => "yuv444".into(),
                None => "gray".into(),
            },
            width: h.width,
            height: h.height,
            frames: frames as u64,
            fps: Some(h.fps),
            duration_seconds: Some(frames as f64 / h.fps),
            fast_start: None,
        });
    }
    if magic.starts_with(b"GIF8") {
        return probe_gif(path);
    }
    let container = match magic {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xFF, 0xD8, ..] => "jpeg",
        _ => {
            return Err(MediaError::corrupt(
                path,
                "not a file kino reads (MP4, GIF, Y4M, PNG, JPEG, .safetensors, or a PNG-frame or model folder)",
            ));
        }
    };
    let image = crate::image_io::read_image(path)?;
    Ok(MediaInfo {
        container: container.into(),
        codec: "rgb".into(),
        width: image.width(),
        height: image.height(),
        frames: 1,
        fps: None,
        duration_seconds: None,
        fast_start: None,
    })
}

fn probe_gif(path: &Path) -> Result<MediaInfo> {
    let file = std::fs::File::open(path).map_err(|e| MediaError::io("cannot open", path, e))?;
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(file)
        .map_err(|e| MediaError::corrupt(path, e.to_string()))?;
    let (width, height) = (decoder.width() as u32, decoder.height() as u32);
    let (mut frames, mut centiseconds) = (0u64, 0u64);
    while let Some(frame) = decoder
        .read_next_frame()
        .map_err(|e| MediaError::corrupt(path, e.to_string()))?
    {
        frames += 1;
        centiseconds += frame.delay as u64;
    }
    let duration = centiseconds as f64 / 100.0;
    Ok(MediaInfo {
        container: "gif".into(),
        codec: "gif (palette)".into(),
        width,
        height,
        frames,
        fps: (duration > 0.0).then(|| frames as f64 / duration),
        duration_seconds: (duration > 0.0).then_some(duration),
        fast_start: None,
    })
}

fn probe_frames_folder(path: &Path) -> Result<MediaInfo> {
    let files = list_frames(path)?;
    let first = files
        .first()
        .ok_or_else(|| MediaError::corrupt(path, "folder holds no .png frames"))?;
    let image = crate::image_io::read_image(first)?;
    let fps = read_sidecar(path)?.map(|s| s.fps);
    Ok(MediaInfo {
        container: "png-frames".into(),
        codec: "rgb".into(),
        width: image.width(),
        height: image.height(),
        frames: files.len() as u64,
        fps,
        duration_seconds: fps.map(|f| files.len() as f64 / f),
        fast_start: None,
    })
}
