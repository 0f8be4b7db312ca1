//! Every format kino-media writes, checked by ffprobe/ffmpeg (Debian's build): frame count,
//! frame rate, duration, size, pixel format, and decoded colours within a stated tolerance.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use kino_media::image::Rgb;
use kino_media::{RgbImage, Video, VideoFormat, write_video};
use kino_testkit::{centroid, decode_rgb, ffprobe, mean_rgb};
use std::path::Path;

/// Colour patches drawn in every frame: (x0, y0) of a 16x16 block and its colour.
const PATCHES: [([u32; 2], [u8; 3]); 4] = [
    ([0, 0], [220, 30, 30]),
    ([16, 0], [30, 200, 40]),
    ([32, 0], [30, 60, 220]),
    ([48, 0], [240, 230, 40]),
];

/// `frames` frames of `w x h`: grey background, fixed colour patches on the top row, and a
/// white 8x8 block whose x moves right by `step` pixels a frame.
fn test_video(w: u32, h: u32, frames: usize, fps: f64) -> Video {
    let step = ((w.saturating_sub(8)) as usize / frames.max(1)).max(1) as u32;
    let imgs = (0..frames)
        .map(|i| {
            let mut img = RgbImage::from_pixel(w, h, Rgb([90, 90, 90]));
            for ([x0, y0], c) in PATCHES {
                for y in y0..(y0 + 16).min(h) {
                    for x in x0..(x0 + 16).min(w) {
                        img.put_pixel(x, y, Rgb(c));
                    }
                }
            }
            let bx = (i as u32 * step).min(w - 8);
            for y in (h / 2).saturating_sub(4)..(h / 2 + 4).min(h) {
                for x in bx..bx + 8 {
                    img.put_pixel(x, y, Rgb([255, 255, 255]));
                }
            }
            img
        })
        .collect();
    Video::new(imgs, fps).unwrap()
}

fn check_colours(decoded: &[Vec<u8>], w: u32, tolerance: f64) {
    for frame in [&decoded[0], &decoded[decoded.len() - 1]] {
        for ([x0, y0], c) in PATCHES {
            let got = mean_rgb(frame, w, x0 + 8, y0 + 8, 3);
            for ch in 0..3 {
                assert!(
                    (got[ch] - c[ch] as f64).abs() <= tolerance,
                    "patch {c:?} decoded as {got:?} (tolerance {tolerance})"
                );
            }
        }
    }
}

fn check_motion_right(decoded: &[Vec<u8>], w: u32) {
    let white = |r: u8, g: u8, b: u8| r > 200 && g > 200 && b > 200;
    let xs: Vec<f64> = decoded
        .iter()
        .map(|f| centroid(f, w, white).unwrap().0)
        .collect();
    assert!(
        xs.windows(2).all(|p| p[1] >= p[0] - 0.5),
        "white block should move right: {xs:?}"
    );
    assert!(
        xs[xs.len() - 1] - xs[0] > w as f64 / 3.0,
        "white block moved too little: {xs:?}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn mp4_is_h264_yuv420p_with_exact_frames_rate_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let video = test_video(256, 144, 30, 12.0);
    let written = write_video(&path, &video, None).unwrap();
    assert_eq!((written.format, written.frames), (VideoFormat::Mp4, 30));

    let p = ffprobe(s(&path), &[]);
    assert_eq!((p.codec.as_str(), p.pix_fmt.as_str()), ("h264", "yuv420p"));
    assert_eq!(p.profile, "Constrained Baseline");
    assert_eq!((p.width, p.height, p.frames), (256, 144, 30));
    assert!((p.fps - 12.0).abs() < 1e-9, "fps {}", p.fps);
    assert!(
        (p.duration - 2.5).abs() < 1.0 / 12.0,
        "duration {}",
        p.duration
    );

    let decoded = decode_rgb(s(&path), &[], 256, 144);
    assert_eq!(decoded.len(), 30);
    // H.264 at our bitrate on flat 16x16 patches: a few levels of error, 12 is generous.
    check_colours(&decoded, 256, 12.0);
    check_motion_right(&decoded, 256);
}

#[test]
fn mp4_is_fast_start_and_probe_agrees_with_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs.mp4");
    write_video(&path, &test_video(320, 240, 25, 25.0), None).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(
        find(b"moov") < find(b"mdat"),
        "moov must precede mdat (fast start)"
    );
    let ours = kino_media::probe(&path).unwrap();
    let theirs = ffprobe(s(&path), &[]);
    assert_eq!(
        (ours.width, ours.height, ours.frames),
        (theirs.width, theirs.height, theirs.frames)
    );
    assert!((ours.duration_seconds.unwrap() - theirs.duration).abs() < 1e-3);
    assert_eq!(ours.fast_start, Some(true));
}

#[test]
fn mp4_fractional_frame_rate_and_large_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ntsc.mp4");
    write_video(&path, &test_video(832, 480, 24, 24000.0 / 1001.0), None).unwrap();
    let p = ffprobe(s(&path), &[]);
    assert_eq!((p.width, p.height, p.frames), (832, 480, 24));
    assert!(
        (p.duration - 24.0 * 1001.0 / 24000.0).abs() < 0.01,
        "duration {}",
        p.duration
    );
}

#[test]
fn mp4_rejects_odd_sizes_and_single_frames_without_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mp4");
    let err = write_video(&path, &test_video(255, 144, 4, 12.0), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("even width and height") && err.contains("255x144"),
        "{err}"
    );
    let err = write_video(&path, &test_video(64, 64, 1, 12.0), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 2 frames"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file or temporary may remain"
    );
}

#[test]
fn gif_frames_duration_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.gif");
    write_video(&path, &test_video(96, 64, 24, 12.0), None).unwrap();
    let p = ffprobe(s(&path), &[]);
    assert_eq!(
        (p.codec.as_str(), p.width, p.height, p.frames),
        ("gif", 96, 64, 24)
    );
    // 1/100 s timing: dithered delays keep the total within one centisecond.
    assert!((p.duration - 2.0).abs() <= 0.011, "duration {}", p.duration);
    let decoded = decode_rgb(s(&path), &[], 96, 64);
    assert_eq!(decoded.len(), 24);
    // A 256-colour palette per frame: flat colours survive within a few levels.
    check_colours(&decoded, 96, 8.0);
    check_motion_right(&decoded, 96);
}

#[test]
fn y4m_odd_size_frames_rate_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.y4m");
    write_video(&path, &test_video(67, 41, 10, 24000.0 / 1001.0), None).unwrap();
    let p = ffprobe(s(&path), &[]);
    assert_eq!(
        (p.codec.as_str(), p.pix_fmt.as_str()),
        ("rawvideo", "yuv420p")
    );
    assert_eq!((p.width, p.height, p.frames), (67, 41, 10));
    assert!((p.fps - 24000.0 / 1001.0).abs() < 1e-6, "fps {}", p.fps);
    // XCOLORRANGE=LIMITED makes ffmpeg read C420jpeg as limited-range yuv420p, as written.
    let decoded = decode_rgb(s(&path), &[], 67, 41);
    assert_eq!(decoded.len(), 10);
    // Only 4:2:0 chroma averaging and 8-bit rounding: within 3 levels inside flat patches.
    check_colours(&decoded, 67, 3.0);
    // Our own reader agrees with ffmpeg's decode: exactly in flat areas (the patches); at
    // sharp edges ffmpeg interpolates chroma where we take the nearest sample, so the
    // whole-frame comparison is on the mean.
    let ours = kino_media::read_y4m(&path).unwrap();
    assert_eq!(ours.frames().len(), 10);
    let ours: Vec<Vec<u8>> = ours.frames().iter().map(|f| f.as_raw().clone()).collect();
    check_colours(&ours, 67, 3.0);
    let a = &ours[5];
    let mean_diff = a
        .iter()
        .zip(&decoded[5])
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64;
    let bg_ours = kino_testkit::mean_rgb(a, 67, 10, 35, 2);
    let bg_theirs = kino_testkit::mean_rgb(&decoded[5], 67, 10, 35, 2);
    for c in 0..3 {
        assert!(
            (bg_ours[c] - bg_theirs[c]).abs() <= 1.0,
            "flat background: ours {bg_ours:?}, ffmpeg {bg_theirs:?}"
        );
    }
    // Measured 3.2: a 67x41 frame is mostly edges between the test's colour patches.
    assert!(
        mean_diff < 5.0,
        "our Y4M decode differs from ffmpeg's by {mean_diff} on average"
    );
}

#[test]
fn png_folder_is_lossless_and_readable_by_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames");
    let video = test_video(50, 33, 7, 8.0);
    write_video(&path, &video, Some(VideoFormat::Png)).unwrap();
    let pattern = path.join("frame_%06d.png");
    let p = ffprobe(s(&pattern), &["-framerate", "8"]);
    assert_eq!(
        (p.codec.as_str(), p.width, p.height, p.frames),
        ("png", 50, 33, 7)
    );
    let decoded = decode_rgb(s(&pattern), &["-framerate", "8"], 50, 33);
    for (ours, theirs) in video.frames().iter().zip(&decoded) {
        assert_eq!(ours.as_raw(), theirs, "PNG frames are lossless");
    }
    let back = kino_media::read_video(&path, 1.0).unwrap();
    assert_eq!(
        (back.frames().len(), back.fps()),
        (7, 8.0),
        "fps comes from video.json"
    );
}

#[test]
fn reads_what_ffmpeg_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=10:duration=1",
        "-pix_fmt",
        "yuv444p",
        &d("a.y4m"),
    ]);
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=10:duration=1",
        "-pix_fmt",
        "yuv420p",
        "-strict",
        "-1",
        &d("b.y4m"),
    ]);
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=40x30",
        "-frames:v",
        "1",
        &d("red.png"),
    ]);
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:size=40x30",
        "-frames:v",
        "1",
        &d("blue.jpg"),
    ]);
    for name in ["a.y4m", "b.y4m"] {
        let v = kino_media::read_video(Path::new(&d(name)), 1.0).unwrap();
        assert_eq!(
            (v.width(), v.height(), v.frames().len(), v.fps()),
            (64, 48, 10, 10.0),
            "{name}"
        );
    }
    let red = kino_media::read_image(Path::new(&d("red.png"))).unwrap();
    let px = red.get_pixel(20, 15).0;
    assert!(
        px[0] >= 250 && px[1] < 5 && px[2] < 5,
        "red PNG decoded as {px:?}"
    );
    let blue = kino_media::read_image(Path::new(&d("blue.jpg"))).unwrap();
    let px = blue.get_pixel(20, 15).0;
    assert!(
        px[2] > 230 && px[0] < 20 && px[1] < 20,
        "blue JPEG decoded as {px:?}"
    );
}

#[test]
fn truncated_or_corrupt_inputs_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48",
        "-frames:v",
        "1",
        s(&d("full.png")),
    ]);
    kino_testkit::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48",
        "-frames:v",
        "1",
        s(&d("full.jpg")),
    ]);
    write_video(&d("full.y4m"), &test_video(32, 32, 3, 10.0), None).unwrap();
    for (name, cut) in [("full.png", 0.5), ("full.jpg", 0.3), ("full.y4m", 0.7)] {
        let bytes = std::fs::read(d(name)).unwrap();
        let short = d(&format!("short-{name}"));
        std::fs::write(&short, &bytes[..(bytes.len() as f64 * cut) as usize]).unwrap();
        let err = if name.ends_with("y4m") {
            kino_media::read_video(&short, 1.0).unwrap_err()
        } else {
            kino_media::read_image(&short).map(|_| ()).unwrap_err()
        }
        .to_string();
        assert!(
            err.contains(&format!("short-{name}")),
            "error must name the file: {err}"
        );
    }
    std::fs::write(d("text.png"), b"hello, not an image").unwrap();
    let err = kino_media::read_image(&d("text.png"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("text.png"), "{err}");
    let err = kino_media::read_image(&d("missing.png"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.png"), "{err}");
}

#[test]
fn unwritable_output_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("file.txt");
    std::fs::write(&not_a_folder, b"x").unwrap();
    for name in ["out.mp4", "out.gif", "out.y4m", "frames"] {
        let target = not_a_folder.join(name);
        let err = write_video(
            &target,
            &test_video(16, 16, 3, 10.0),
            if name == "frames" {
                Some(VideoFormat::Png)
            } else {
                None
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("file.txt"),
            "error must name the bad folder: {err}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn interrupted_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.mp4", "a.gif", "a.y4m", "a_frames/"] {
        let video = test_video(32, 32, 4, 10.0);
        let mut w = kino_media::create_writer(&dir.path().join(name), None, video.spec()).unwrap();
        w.write_frame(&video.frames()[0]).unwrap();
        drop(w); // as if the process gave up midway
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
