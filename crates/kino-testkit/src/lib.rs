//! Test-only helpers: run Debian's ffprobe/ffmpeg on files Kino wrote and return what they
//! see (stream facts, decoded RGB frames). They are the independent oracle in our tests.
//! Not for production code. A missing ffmpeg is a loud failure, never a silent skip. Also the
//! one tensor comparison the parity tests share ([`max_abs_diff`]).

use std::process::Command;

/// What ffprobe reports about a file's first video stream.
#[derive(Debug, Clone)]
pub struct Probe {
    /// codec_name, e.g. "h264".
    pub codec: String,
    /// profile, e.g. "Constrained Baseline".
    pub profile: String,
    /// pix_fmt, e.g. "yuv420p".
    pub pix_fmt: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames counted by decoding (nb_read_frames).
    pub frames: u64,
    /// r_frame_rate as a number.
    pub fps: f64,
    /// Duration in seconds (stream, else format).
    pub duration: f64,
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("-version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} not found: the tests use Debian's ffmpeg as their oracle (apt-get install ffmpeg; .ci/run does)"
    );
    Command::new(name)
}

fn ratio(s: &str) -> f64 {
    match s.split_once('/') {
        Some((n, d)) => n.parse::<f64>().unwrap_or(0.0) / d.parse::<f64>().unwrap_or(1.0),
        None => s.parse().unwrap_or(0.0),
    }
}

/// Runs ffprobe with frame counting. `input_args` go before `-i` (e.g. a PNG pattern's
/// `-framerate`).
pub fn ffprobe(input: &str, input_args: &[&str]) -> Probe {
    let out = tool("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,profile,pix_fmt,width,height,nb_read_frames,r_frame_rate,duration:format=duration"])
        .args(["-of", "json"])
        .args(input_args)
        .arg("-i")
        .arg(input)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed on {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON");
    let s = &v["streams"][0];
    let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
    let num = |x: &serde_json::Value| x.as_str().and_then(|t| t.parse::<f64>().ok());
    Probe {
        codec: text("codec_name"),
        profile: text("profile"),
        pix_fmt: text("pix_fmt"),
        width: s["width"].as_u64().unwrap_or(0) as u32,
        height: s["height"].as_u64().unwrap_or(0) as u32,
        frames: text("nb_read_frames").parse().unwrap_or(0),
        fps: ratio(&text("r_frame_rate")),
        duration: num(&s["duration"])
            .or_else(|| num(&v["format"]["duration"]))
            .unwrap_or(0.0),
    }
}

/// Decodes every frame to RGB24 with ffmpeg (`-vsync passthrough`: one output per coded frame).
pub fn decode_rgb(input: &str, input_args: &[&str], width: u32, height: u32) -> Vec<Vec<u8>> {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(input_args)
        .arg("-i")
        .arg(input)
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg failed on {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frame = (width * height * 3) as usize;
    assert_eq!(
        out.stdout.len() % frame,
        0,
        "decoded bytes are not whole {width}x{height} frames"
    );
    out.stdout.chunks(frame).map(<[u8]>::to_vec).collect()
}

/// Runs ffmpeg with the given arguments (for making independent test inputs).
pub fn ffmpeg(args: &[&str]) {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Mean RGB over a square of side `2r+1` centred at (x, y).
pub fn mean_rgb(frame: &[u8], width: u32, x: u32, y: u32, r: u32) -> [f64; 3] {
    let mut sum = [0.0; 3];
    let mut n = 0.0;
    for yy in y.saturating_sub(r)..=y + r {
        for xx in x.saturating_sub(r)..=x + r {
            let i = ((yy * width + xx) * 3) as usize;
            for c in 0..3 {
                sum[c] += frame[i + c] as f64;
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n)
}

/// Centroid (x, y) of pixels where `pred(r, g, b)` holds, or None if there are none.
pub fn centroid(frame: &[u8], width: u32, pred: impl Fn(u8, u8, u8) -> bool) -> Option<(f64, f64)> {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for (i, px) in frame.chunks_exact(3).enumerate() {
        if pred(px[0], px[1], px[2]) {
            sx += (i as u32 % width) as f64;
            sy += (i as u32 / width) as f64;
            n += 1.0;
        }
    }
    (n > 0.0).then(|| (sx / n, sy / n))
}

/// `|a - b|` elementwise, as f32; panics (a failed test) when the shapes differ or a tensor
/// operation fails.
fn abs_difference(a: &candle_core::Tensor, b: &candle_core::Tensor) -> candle_core::Tensor {
    assert_eq!(a.dims(), b.dims(), "compared tensors differ in shape");
    (a - b)
        .and_then(|d| d.to_dtype(candle_core::DType::F32))
        .and_then(|d| d.abs())
        .expect("comparing tensors")
}

/// The largest `|a - b|` over all elements, as f32; panics (a failed test) when the shapes
/// differ or a tensor operation fails.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    abs_difference(a, b)
        .flatten_all()
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("comparing tensors")
}

/// The mean `|a - b|` over all elements, as f32; panics (a failed test) when the shapes
/// differ or a tensor operation fails.
pub fn mean_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    abs_difference(a, b)
        .mean_all()
        .and_then(|d| d.to_scalar::<f32>())
        .expect("comparing tensors")
}

/// Copies the files of `from`, and of its folders in turn, into `to` (created if missing);
/// panics (a failed test) when a file cannot be read or written.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("creating the copy's folder");
    for entry in std::fs::read_dir(from).expect("listing the folder to copy") {
        let entry = entry.expect("reading the folder to copy");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("reading a file's type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}
