//! `kino world render` end to end through the binary, judged by ffprobe/ffmpeg.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

use kino_testkit::{centroid, decode_rgb, ffprobe};

/// Strongly red pixels: what the world draws for "red", after H.264 (loose bounds).
fn red(r: u8, g: u8, b: u8) -> bool {
    r > 150 && g < 90 && b < 90
}

#[test]
fn red_ball_moves_right_in_an_h264_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.mp4");
    let truth = dir.path().join("w.truth.json");
    let run = kino(&[
        "world",
        "render",
        "a red ball moving to the right on green grass",
        "-o",
        s(&out),
        "--truth",
        s(&truth),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let p = ffprobe(s(&out), &[]);
    assert_eq!((p.codec.as_str(), p.pix_fmt.as_str()), ("h264", "yuv420p"));
    assert!(p.frames >= 24 && p.width >= 256, "{p:?}");
    assert!((p.duration - p.frames as f64 / p.fps).abs() < 1e-3, "{p:?}");

    let frames = decode_rgb(s(&out), &[], p.width, p.height);
    let xs: Vec<f64> = frames
        .iter()
        .map(|f| {
            centroid(f, p.width, red)
                .expect("a red object in every frame")
                .0
        })
        .collect();
    assert!(
        xs.windows(2).all(|w| w[1] >= w[0] - 1.0),
        "red centroid should move right: {xs:?}"
    );
    assert!(
        xs[xs.len() - 1] - xs[0] > p.width as f64 * 0.25,
        "red centroid moved too little: {xs:?}"
    );

    let sheet = dir.path().join("w.contact.png");
    let sp = ffprobe(s(&sheet), &[]);
    assert_eq!(sp.codec, "png");
    let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    assert!(
        truth.to_string().contains("red"),
        "ground truth names the object"
    );
}

#[test]
fn every_format_has_the_asked_frames_size_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let caption = "a blue square moving up and a yellow star moving left on a night sky";
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "c.mp4",
            &[
                "--width",
                "320",
                "--height",
                "180",
                "--fps",
                "24",
                "--seconds",
                "1.5",
            ],
            &[],
        ),
        (
            "c.gif",
            &[
                "--width",
                "97",
                "--height",
                "61",
                "--fps",
                "10",
                "--seconds",
                "2",
            ],
            &[],
        ),
        (
            "c.y4m",
            &[
                "--width",
                "97",
                "--height",
                "61",
                "--fps",
                "15",
                "--seconds",
                "1",
            ],
            &[],
        ),
        (
            "frames/",
            &[
                "--width",
                "64",
                "--height",
                "48",
                "--fps",
                "8",
                "--seconds",
                "1",
            ],
            &["-framerate", "8"],
        ),
    ];
    for (name, flags, input_args) in cases {
        let out = dir.path().join(name);
        let mut args = vec![
            "world",
            "render",
            caption,
            "-o",
            s(&out),
            "--no-contact-sheet",
            "--quiet",
        ];
        args.extend_from_slice(flags);
        let run = kino(&args);
        assert!(
            run.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            run.stdout.is_empty(),
            "--quiet prints nothing: {}",
            String::from_utf8_lossy(&run.stdout)
        );
        let flag = |f: &str| {
            flags[flags.iter().position(|x| *x == f).unwrap() + 1]
                .parse::<f64>()
                .unwrap()
        };
        let (w, h, fps, secs) = (
            flag("--width"),
            flag("--height"),
            flag("--fps"),
            flag("--seconds"),
        );
        let input = if name.ends_with('/') {
            out.join("frame_%06d.png")
        } else {
            out.clone()
        };
        let p = ffprobe(s(&input), input_args);
        assert_eq!((p.width as f64, p.height as f64), (w, h), "{name}");
        assert_eq!(p.frames as f64, (fps * secs).round(), "{name}");
        assert!(
            (p.duration - secs).abs() <= 0.011,
            "{name}: duration {}",
            p.duration
        );
        assert!(
            !dir.path()
                .join(format!("{}.contact.png", name.trim_end_matches('/')))
                .exists()
        );
    }
}

#[test]
fn contact_sheet_is_beside_the_video_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.gif");
    let run = kino(&[
        "world",
        "render",
        "a green triangle spinning on a white background",
        "-o",
        s(&out),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("clip.contact.png") && stdout.contains("24 frames"),
        "{stdout}"
    );
    let sheet = kino_media::read_image(&dir.path().join("clip.contact.png")).unwrap();
    assert!(
        sheet.width() > 256 && sheet.height() > 64,
        "a grid of thumbnails"
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_clip() {
    let dir = tempfile::tempdir().unwrap();
    let render = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let run = kino(&[
            "world",
            "render",
            "a purple ball bouncing in the desert",
            "-o",
            s(&out),
            "--seed",
            seed,
            "--quiet",
        ]);
        assert!(run.status.success());
        std::fs::read(out).unwrap()
    };
    assert_eq!(render("a.y4m", "7"), render("b.y4m", "7"));
    assert_ne!(render("a.y4m", "7"), render("c.y4m", "8"));
}

#[test]
fn unknown_words_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.y4m");
    let run = kino(&[
        "world",
        "render",
        "a red ball moving left on green grass with a dragon",
        "-o",
        s(&out),
        "--quiet",
    ]);
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("dragon"),
        "{stderr}"
    );
}
