//! In-memory video: RGB8 frames of one size at one frame rate.

use crate::error::{MediaError, Result};
use image::RgbImage;

/// Largest width or height Kino accepts for any frame.
pub const MAX_DIMENSION: u32 = 8192;
/// Highest frame rate Kino accepts.
pub const MAX_FPS: f64 = 240.0;

/// Size and rate of a video stream, known before its first frame is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
}

impl VideoSpec {
    /// Checks the size and rate against Kino's limits, naming the bad value.
    pub fn validate(&self) -> Result<()> {
        validate_size(self.width, self.height)?;
        validate_fps(self.fps)
    }
}

/// Checks a frame size: each side 1..=[`MAX_DIMENSION`].
pub fn validate_size(width: u32, height: u32) -> Result<()> {
    for (name, v) in [("width", width), ("height", height)] {
        if v == 0 || v > MAX_DIMENSION {
            return Err(MediaError::InvalidParameter(format!(
                "{name} must be between 1 and {MAX_DIMENSION} pixels, got {v}"
            )));
        }
    }
    Ok(())
}

/// Checks a frame rate: finite, above zero, at most [`MAX_FPS`].
pub fn validate_fps(fps: f64) -> Result<()> {
    if !fps.is_finite() || fps <= 0.0 || fps > MAX_FPS {
        return Err(MediaError::InvalidParameter(format!(
            "fps must be above 0 and at most {MAX_FPS}, got {fps}"
        )));
    }
    Ok(())
}

/// A whole clip in memory: at least one frame, all the same size.
#[derive(Debug, Clone)]
pub struct Video {
    fps: f64,
    frames: Vec<RgbImage>,
}

impl Video {
    /// A video from frames, checking they are non-empty, one size, and within limits.
    pub fn new(frames: Vec<RgbImage>, fps: f64) -> Result<Self> {
        let first = frames.first().ok_or_else(|| {
            MediaError::InvalidParameter("a video needs at least one frame".into())
        })?;
        let (width, height) = first.dimensions();
        VideoSpec { width, height, fps }.validate()?;
        for (index, f) in frames.iter().enumerate() {
            if f.dimensions() != (width, height) {
                return Err(MediaError::FrameSizeMismatch {
                    index,
                    got_width: f.width(),
                    got_height: f.height(),
                    width,
                    height,
                });
            }
        }
        Ok(Self { fps, frames })
    }

    /// A video from raw RGB8 buffers (row-major, `width * height * 3` bytes each).
    pub fn from_rgb_buffers(
        width: u32,
        height: u32,
        fps: f64,
        buffers: Vec<Vec<u8>>,
    ) -> Result<Self> {
        validate_size(width, height)?;
        let frames = buffers
            .into_iter()
            .enumerate()
            .map(|(index, buf)| {
                let len = buf.len();
                RgbImage::from_raw(width, height, buf).ok_or_else(|| {
                    MediaError::InvalidParameter(format!(
                        "frame {index} has {len} bytes, expected {} for {width}x{height} RGB",
                        width as usize * height as usize * 3
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(frames, fps)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.frames[0].width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.frames[0].height()
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Duration in seconds: frames / fps.
    pub fn duration_seconds(&self) -> f64 {
        self.frames.len() as f64 / self.fps
    }

    /// The frames, in display order.
    pub fn frames(&self) -> &[RgbImage] {
        &self.frames
    }

    /// Takes the frames out.
    pub fn into_frames(self) -> Vec<RgbImage> {
        self.frames
    }

    /// Size and rate.
    pub fn spec(&self) -> VideoSpec {
        VideoSpec {
            width: self.width(),
            height: self.height(),
            fps: self.fps,
        }
    }
}

/// A frame rate as a fraction `num/den`: exact for integer rates and the NTSC family
/// (23.976 = 24000/1001), otherwise to a millisecond-per-thousand precision.
pub fn fps_fraction(fps: f64) -> (u32, u32) {
    if (fps - fps.round()).abs() < 1e-6 {
        return (fps.round() as u32, 1);
    }
    let ntsc = fps * 1.001;
    if (ntsc - ntsc.round()).abs() < 1e-3 {
        return (ntsc.round() as u32 * 1000, 1001);
    }
    let num = (fps * 1000.0).round() as u32;
    let g = gcd(num, 1000);
    (num / g, 1000 / g)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_fractions() {
        assert_eq!(fps_fraction(12.0), (12, 1));
        assert_eq!(fps_fraction(23.976), (24000, 1001));
        assert_eq!(fps_fraction(29.97), (30000, 1001));
        assert_eq!(fps_fraction(12.5), (25, 2));
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(validate_size(0, 10).is_err());
        assert!(validate_size(10, 8193).is_err());
        assert!(validate_fps(0.0).is_err());
        assert!(validate_fps(f64::NAN).is_err());
        assert!(validate_fps(-1.0).is_err());
        assert!(Video::new(vec![], 12.0).is_err());
        let a = RgbImage::new(4, 4);
        let b = RgbImage::new(4, 6);
        let err = Video::new(vec![a, b], 12.0).unwrap_err().to_string();
        assert!(err.contains("frame 1 is 4x6"), "{err}");
    }
}
