//! MP4 with H.264: openh264 (built from its bundled source) encodes Constrained Baseline
//! yuv420p, muxide writes a fast-start MP4 (moov before mdat) on a 90 kHz timescale.
//!
//! Odd widths or heights are rejected: 4:2:0 chroma and H.264's cropping work in 2-pixel
//! units, so an odd size could only be faked with a pad the stream cannot crop away
//! (libx264 refuses them for the same reason). GIF, Y4M and PNG take any size.

use crate::atomic::AtomicOutput;
use crate::error::{MediaError, Result};
use crate::format::VideoFormat;
use crate::video::VideoSpec;
use crate::writer::{VideoWriter, WrittenVideo, check_frame};
use crate::yuv::rgb_to_yuv420;
use image::RgbImage;
use muxide::api::{Muxer, MuxerBuilder, VideoCodec};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Largest frame openh264 encodes (level 5.2).
pub const MAX_MP4_LONG_SIDE: u32 = 3840;
/// Largest short side openh264 encodes.
pub const MAX_MP4_SHORT_SIDE: u32 = 2160;

/// Constant quantiser: rate control off, so every frame gets the same quality (generated
/// clips are short and looked at closely; colours are checked after decoding).
const QP: u8 = 22;

/// Bits per pixel per frame for the target bitrate: generous, because generated clips are
/// looked at closely and decoded colours are checked.
const BITS_PER_PIXEL: f64 = 0.3;

/// Checks that a size can be written as H.264 4:2:0.
pub fn check_mp4_size(width: u32, height: u32) -> Result<()> {
    if width % 2 == 1 || height % 2 == 1 {
        return Err(MediaError::InvalidParameter(format!(
            "MP4 (H.264 yuv420p) needs an even width and height, got {width}x{height}; use {}x{} or write .gif, .y4m or PNG frames",
            width + width % 2,
            height + height % 2
        )));
    }
    if width.max(height) > MAX_MP4_LONG_SIDE || width.min(height) > MAX_MP4_SHORT_SIDE {
        return Err(MediaError::InvalidParameter(format!(
            "MP4 (H.264) is limited to {MAX_MP4_LONG_SIDE}x{MAX_MP4_SHORT_SIDE} (either orientation), got {width}x{height}"
        )));
    }
    Ok(())
}

/// Streaming MP4 writer.
pub struct Mp4Writer {
    out: AtomicOutput,
    spec: VideoSpec,
    encoder: Encoder,
    muxer: Muxer<BufWriter<File>>,
    frames: usize,
    annexb: Vec<u8>,
}

impl Mp4Writer {
    /// Opens `path` (via a temporary) for `spec`.
    pub fn create(path: &Path, spec: VideoSpec) -> Result<Self> {
        check_mp4_size(spec.width, spec.height)?;
        let out = AtomicOutput::new(path)?;
        let file =
            File::create(out.temp_path()).map_err(|e| MediaError::io("cannot create", path, e))?;
        let muxer = MuxerBuilder::new(BufWriter::new(file))
            .video(VideoCodec::H264, spec.width, spec.height, spec.fps)
            .with_fast_start(true)
            .build()
            .map_err(|e| encode_err(path, e))?;
        let bitrate =
            (spec.width as f64 * spec.height as f64 * spec.fps * BITS_PER_PIXEL).clamp(2e5, 5e7);
        let keyframe_every = (spec.fps * 2.0).round().max(1.0) as u32;
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate as u32))
            .max_frame_rate(FrameRate::from_hz(spec.fps as f32))
            .rate_control_mode(RateControlMode::Off)
            .qp(QpRange::new(QP, QP))
            .skip_frames(false)
            .usage_type(UsageType::CameraVideoRealTime)
            .intra_frame_period(IntraFramePeriod::from_num_frames(keyframe_every))
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| encode_err(path, e))?;
        Ok(Self {
            out,
            spec,
            encoder,
            muxer,
            frames: 0,
            annexb: Vec::new(),
        })
    }
}

fn encode_err(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl VideoWriter for Mp4Writer {
    fn write_frame(&mut self, frame: &RgbImage) -> Result<()> {
        check_frame(&self.spec, self.frames, frame)?;
        let target = self.out.target().to_path_buf();
        let (w, h) = (self.spec.width as usize, self.spec.height as usize);
        let yuv = rgb_to_yuv420(frame.as_raw(), w, h);
        let source = YUVSlices::new((&yuv.y, &yuv.u, &yuv.v), (w, h), (w, w / 2, w / 2));
        let bitstream = self
            .encoder
            .encode(&source)
            .map_err(|e| encode_err(&target, e))?;
        let keyframe = match bitstream.frame_type() {
            FrameType::IDR | FrameType::I => true,
            FrameType::P => false,
            other => {
                return Err(encode_err(
                    &target,
                    format!("frame {} came out as {other:?}", self.frames),
                ));
            }
        };
        self.annexb.clear();
        bitstream.write_vec(&mut self.annexb);
        let pts = self.frames as f64 / self.spec.fps;
        self.muxer
            .write_video(pts, &self.annexb, keyframe)
            .map_err(|e| encode_err(&target, format!("frame {}: {e}", self.frames)))?;
        self.frames += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<WrittenVideo> {
        let mut this = *self;
        let target = this.out.target().to_path_buf();
        if this.frames < 2 {
            return Err(MediaError::InvalidParameter(format!(
                "{}: an MP4 needs at least 2 frames to carry a duration, got {}; write a .png for a single image",
                target.display(),
                this.frames
            )));
        }
        this.muxer
            .finish_in_place()
            .map_err(|e| encode_err(&target, e))?;
        let file = this
            .muxer
            .into_writer()
            .into_inner()
            .map_err(|e| MediaError::io("cannot write", &target, e.into_error()))?;
        file.sync_all()
            .map_err(|e| MediaError::io("cannot write", &target, e))?;
        drop(file);
        let path = this.out.commit()?;
        Ok(WrittenVideo::finished(
            path,
            VideoFormat::Mp4,
            &this.spec,
            this.frames,
        ))
    }
}
