//! Bad input: each case is one clear line on stderr, the documented exit code, no panic,
//! and nothing left in the output folder.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

use std::path::Path;

/// Runs `args` (with `{out}` replaced by a path in a fresh folder) and checks the failure.
fn fails(args: &[&str], out_name: &str, code: i32, must_mention: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(out_name);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{out}", out.to_str().unwrap()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = kino(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "{args:?}: no error printed");
    let error_lines: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        error_lines.len(),
        1,
        "{args:?}: one error line expected: {stderr}"
    );
    assert!(
        stderr.contains(must_mention),
        "{args:?}: error should mention {must_mention:?}: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let allowed = |n: &std::ffi::OsStr| Path::new(n) == Path::new("file.txt");
    assert!(
        left.iter().all(|n| allowed(n)),
        "{args:?} left files behind: {left:?}"
    );
}

const CAPTION: &str = "a red ball moving right on green grass";

#[test]
fn zero_fps() {
    fails(
        &["world", "render", CAPTION, "-o", "{out}", "--fps", "0"],
        "a.mp4",
        2,
        "fps",
    );
}

#[test]
fn negative_seconds() {
    fails(
        &["world", "render", CAPTION, "-o", "{out}", "--seconds", "-1"],
        "a.mp4",
        2,
        "--seconds",
    );
}

#[test]
fn zero_and_huge_sizes() {
    fails(
        &["world", "render", CAPTION, "-o", "{out}", "--width", "0"],
        "a.mp4",
        2,
        "width",
    );
    fails(
        &[
            "world", "render", CAPTION, "-o", "{out}", "--height", "9000",
        ],
        "a.gif",
        2,
        "height",
    );
    fails(
        &["world", "render", CAPTION, "-o", "{out}", "--width", "8194"],
        "a.y4m",
        2,
        "8192",
    );
}

#[test]
fn odd_size_mp4_is_refused_with_the_fix() {
    fails(
        &["world", "render", CAPTION, "-o", "{out}", "--width", "255"],
        "a.mp4",
        2,
        "256x256",
    );
}

#[test]
fn unknown_extension() {
    fails(
        &["world", "render", CAPTION, "-o", "{out}"],
        "a.avi",
        2,
        "avi",
    );
}

#[test]
fn unwritable_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("a.mp4");
    let run = kino(&["world", "render", CAPTION, "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error:") && stderr.contains("file.txt") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn caption_without_a_shape() {
    fails(
        &["world", "render", "green grass at night", "-o", "{out}"],
        "a.mp4",
        2,
        "caption",
    );
}

#[test]
fn truncated_and_unreadable_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    assert!(
        kino(&[
            "world",
            "render",
            CAPTION,
            "-o",
            good.to_str().unwrap(),
            "--quiet"
        ])
        .status
        .success()
    );
    let bytes = std::fs::read(&good).unwrap();
    let cases = [
        ("cut.mp4", bytes[..bytes.len() / 2].to_vec()),
        (
            "cut.png",
            std::fs::read(dir.path().join("good.contact.png")).unwrap()[..200].to_vec(),
        ),
        ("noise.jpg", b"\xff\xd8\xff\xe0 not really a jpeg".to_vec()),
        ("empty.y4m", Vec::new()),
        (
            "cut.y4m",
            b"YUV4MPEG2 W16 H16 F10:1 C420jpeg\nFRAME\n0123456789".to_vec(),
        ),
    ];
    for (name, data) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let run = kino(&["info", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.starts_with("error:") && stderr.contains(name),
            "{name}: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one line: {stderr}"
        );
    }
    let run = kino(&["info", dir.path().join("missing.mp4").to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let run = kino(&["world", "render"]);
    assert_eq!(run.status.code(), Some(2));
    let run = kino(&["frobnicate"]);
    assert_eq!(run.status.code(), Some(2));
}
