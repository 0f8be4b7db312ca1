//! YUV4MPEG2 (.y4m): raw frames behind a one-line text header. We write 8-bit 4:2:0
//! ("C420jpeg", BT.601 limited range) and read 8-bit 4:2:0, 4:2:2, 4:4:4 and mono.

use crate::atomic::AtomicOutput;
use crate::error::{MediaError, Result};
use crate::format::VideoFormat;
use crate::video::{Video, VideoSpec, fps_fraction, validate_size};
use crate::writer::{VideoWriter, WrittenVideo, check_frame};
use crate::yuv::{planar_to_rgb, rgb_to_yuv420};
use image::RgbImage;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Streaming Y4M writer.
pub struct Y4mWriter {
    out: AtomicOutput,
    spec: VideoSpec,
    file: BufWriter<File>,
    frames: usize,
}

impl Y4mWriter {
    /// Opens `path` (via a temporary) and writes the stream header.
    pub fn create(path: &Path, spec: VideoSpec) -> Result<Self> {
        let out = AtomicOutput::new(path)?;
        let file =
            File::create(out.temp_path()).map_err(|e| MediaError::io("cannot create", path, e))?;
        let mut file = BufWriter::new(file);
        let (num, den) = fps_fraction(spec.fps);
        writeln!(
            file,
            "YUV4MPEG2 W{} H{} F{num}:{den} Ip A1:1 C420jpeg XCOLORRANGE=LIMITED",
            spec.width, spec.height
        )
        .map_err(|e| MediaError::io("cannot write", path, e))?;
        Ok(Self {
            out,
            spec,
            file,
            frames: 0,
        })
    }
}

impl VideoWriter for Y4mWriter {
    fn write_frame(&mut self, frame: &RgbImage) -> Result<()> {
        check_frame(&self.spec, self.frames, frame)?;
        let yuv = rgb_to_yuv420(
            frame.as_raw(),
            self.spec.width as usize,
            self.spec.height as usize,
        );
        let target = self.out.target().to_path_buf();
        let io = |e| MediaError::io("cannot write", &target, e);
        self.file.write_all(b"FRAME\n").map_err(io)?;
        self.file.write_all(&yuv.y).map_err(io)?;
        self.file.write_all(&yuv.u).map_err(io)?;
        self.file.write_all(&yuv.v).map_err(io)?;
        self.frames += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<WrittenVideo> {
        let this = *self;
        let target = this.out.target().to_path_buf();
        let file = this
            .file
            .into_inner()
            .map_err(|e| MediaError::io("cannot write", &target, e.into_error()))?;
        drop(file);
        let path = this.out.commit()?;
        Ok(WrittenVideo::finished(
            path,
            VideoFormat::Y4m,
            &this.spec,
            this.frames,
        ))
    }
}

/// The parsed stream header of a .y4m file.
#[derive(Debug, Clone, PartialEq)]
pub struct Y4mHeader {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame rate.
    pub fps: f64,
    /// Chroma subsampling (x, y), or None for mono.
    pub subsampling: Option<(usize, usize)>,
    /// Whether the levels are full range (XCOLORRANGE=FULL).
    pub full_range: bool,
}

impl Y4mHeader {
    fn frame_bytes(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.subsampling {
            None => w * h,
            Some((sx, sy)) => w * h + 2 * w.div_ceil(sx) * h.div_ceil(sy),
        }
    }
}

fn parse_header(path: &Path, line: &str) -> Result<Y4mHeader> {
    let bad = |why: String| MediaError::corrupt(path, why);
    let mut tokens = line.split_ascii_whitespace();
    if tokens.next() != Some("YUV4MPEG2") {
        return Err(bad("not a YUV4MPEG2 file (missing signature)".into()));
    }
    let (mut width, mut height, mut fps) = (None, None, 25.0);
    let mut subsampling = Some((2, 2));
    let mut full_range = false;
    for t in tokens {
        let (tag, value) = t.split_at(1);
        match tag {
            "W" => width = value.parse::<u32>().ok(),
            "H" => height = value.parse::<u32>().ok(),
            "F" => {
                let (n, d) = value
                    .split_once(':')
                    .ok_or_else(|| bad(format!("bad frame rate {value:?}")))?;
                let (n, d) = (n.parse::<f64>(), d.parse::<f64>());
                match (n, d) {
                    (Ok(n), Ok(d)) if n > 0.0 && d > 0.0 => fps = n / d,
                    _ => return Err(bad(format!("bad frame rate {value:?}"))),
                }
            }
            "C" => {
                subsampling = match value {
                    "420" | "420jpeg" | "420paldv" | "420mpeg2" => Some((2, 2)),
                    "422" => Some((2, 1)),
                    "444" => Some((1, 1)),
                    "mono" => None,
                    other => {
                        return Err(bad(format!(
                            "unsupported colour space C{other} (8-bit 420/422/444/mono only)"
                        )));
                    }
                }
            }
            "I" if value != "p" && value != "?" => {
                return Err(bad(format!("interlaced video (I{value}) is not supported")));
            }
            "X" if value == "COLORRANGE=FULL" => full_range = true,
            _ => {}
        }
    }
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) => (w, h),
        _ => return Err(bad("header lacks a valid W or H".into())),
    };
    validate_size(width, height).map_err(|e| bad(e.to_string()))?;
    Ok(Y4mHeader {
        width,
        height,
        fps,
        subsampling,
        full_range,
    })
}

/// Opens a .y4m file and parses its header line; returns the reader (positioned at the
/// first frame), the header, the header line's length and the file's length.
fn open_y4m(path: &Path) -> Result<(BufReader<File>, Y4mHeader, usize, u64)> {
    let file = File::open(path).map_err(|e| MediaError::io("cannot open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| MediaError::io("cannot read", path, e))?
        .len();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| MediaError::corrupt(path, format!("unreadable header: {e}")))?;
    let header = parse_header(path, line.trim_end())?;
    Ok((reader, header, line.len(), len))
}

/// Reads a whole .y4m file into RGB frames.
pub fn read_y4m(path: &Path) -> Result<Video> {
    let (mut reader, header, _, _) = open_y4m(path)?;
    let (w, h) = (header.width as usize, header.height as usize);
    let mut buf = vec![0u8; header.frame_bytes()];
    let mut frames = Vec::new();
    loop {
        let mut tag = Vec::new();
        let n = reader
            .read_until(b'\n', &mut tag)
            .map_err(|e| MediaError::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        if !tag.starts_with(b"FRAME") {
            return Err(MediaError::corrupt(
                path,
                format!("frame {}: missing FRAME marker", frames.len()),
            ));
        }
        reader.read_exact(&mut buf).map_err(|_| {
            MediaError::corrupt(
                path,
                format!("truncated: frame {} is incomplete", frames.len()),
            )
        })?;
        let rgb = match header.subsampling {
            Some((sx, sy)) => {
                let c = w.div_ceil(sx) * h.div_ceil(sy);
                let (y, rest) = buf.split_at(w * h);
                planar_to_rgb(
                    [y, &rest[..c], &rest[c..]],
                    w,
                    h,
                    (sx, sy),
                    header.full_range,
                )
            }
            None => {
                let neutral = vec![128u8; w * h];
                planar_to_rgb([&buf, &neutral, &neutral], w, h, (1, 1), header.full_range)
            }
        };
        frames.push(
            RgbImage::from_raw(header.width, header.height, rgb)
                .expect("buffer sized for the header"),
        );
    }
    if frames.is_empty() {
        return Err(MediaError::corrupt(path, "no frames"));
    }
    Video::new(frames, header.fps)
}

/// Reads only the header and counts frames from the file size (for `kino info`).
pub fn probe_y4m(path: &Path) -> Result<(Y4mHeader, usize)> {
    let (_, header, header_len, len) = open_y4m(path)?;
    // Assumes bare "FRAME\n" markers, as nearly every writer emits.
    let per_frame = header.frame_bytes() + 6;
    let body = len as usize - header_len;
    if !body.is_multiple_of(per_frame) {
        return Err(MediaError::corrupt(
            path,
            "truncated: size is not a whole number of frames",
        ));
    }
    Ok((header, body / per_frame))
}
