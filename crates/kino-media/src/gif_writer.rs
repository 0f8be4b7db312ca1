//! Animated GIF: a NeuQuant palette per frame, looping forever. GIF timing is in 1/100 s,
//! so per-frame delays are dithered (e.g. 8, 8, 9 cs for 12 fps) to keep the total duration
//! exact; rates above 50 fps are refused because browsers slow such frames down.

use crate::atomic::AtomicOutput;
use crate::error::{MediaError, Result};
use crate::format::VideoFormat;
use crate::video::VideoSpec;
use crate::writer::{VideoWriter, WrittenVideo, check_frame};
use image::RgbImage;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Highest frame rate written as GIF.
pub const MAX_GIF_FPS: f64 = 50.0;
/// NeuQuant speed (1 best .. 30 fastest).
const QUANTIZE_SPEED: i32 = 10;

/// Streaming GIF writer.
pub struct GifWriter {
    out: AtomicOutput,
    spec: VideoSpec,
    encoder: gif::Encoder<BufWriter<File>>,
    frames: usize,
    centiseconds_written: u64,
}

impl GifWriter {
    /// Opens `path` (via a temporary) for `spec`.
    pub fn create(path: &Path, spec: VideoSpec) -> Result<Self> {
        if spec.fps > MAX_GIF_FPS {
            return Err(MediaError::InvalidParameter(format!(
                "GIF plays at most {MAX_GIF_FPS} fps (1/100 s timing), got {}; use .mp4",
                spec.fps
            )));
        }
        if spec.width > u16::MAX as u32 || spec.height > u16::MAX as u32 {
            return Err(MediaError::InvalidParameter(
                "GIF sides must fit in 16 bits".into(),
            ));
        }
        let out = AtomicOutput::new(path)?;
        let file =
            File::create(out.temp_path()).map_err(|e| MediaError::io("cannot create", path, e))?;
        let mut encoder = gif::Encoder::new(
            BufWriter::new(file),
            spec.width as u16,
            spec.height as u16,
            &[],
        )
        .map_err(|e| MediaError::io("cannot write", path, std::io::Error::other(e)))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| MediaError::io("cannot write", path, std::io::Error::other(e)))?;
        Ok(Self {
            out,
            spec,
            encoder,
            frames: 0,
            centiseconds_written: 0,
        })
    }
}

impl VideoWriter for GifWriter {
    fn write_frame(&mut self, frame: &RgbImage) -> Result<()> {
        check_frame(&self.spec, self.frames, frame)?;
        let end = ((self.frames + 1) as f64 * 100.0 / self.spec.fps).round() as u64;
        let delay = end.saturating_sub(self.centiseconds_written).max(1);
        let mut gif_frame = gif::Frame::from_rgb_speed(
            self.spec.width as u16,
            self.spec.height as u16,
            frame.as_raw(),
            QUANTIZE_SPEED,
        );
        gif_frame.delay = delay as u16;
        self.encoder.write_frame(&gif_frame).map_err(|e| {
            MediaError::io("cannot write", self.out.target(), std::io::Error::other(e))
        })?;
        self.centiseconds_written += delay;
        self.frames += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<WrittenVideo> {
        let this = *self;
        let target = this.out.target().to_path_buf();
        let writer = this
            .encoder
            .into_inner()
            .map_err(|e| MediaError::io("cannot write", &target, std::io::Error::other(e)))?;
        let file = writer
            .into_inner()
            .map_err(|e| MediaError::io("cannot write", &target, e.into_error()))?;
        drop(file);
        let path = this.out.commit()?;
        Ok(WrittenVideo::finished(
            path,
            VideoFormat::Gif,
            &this.spec,
            this.frames,
        ))
    }
}
