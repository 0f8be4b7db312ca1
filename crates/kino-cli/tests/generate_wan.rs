//! `kino generate --model DIR` end to end on the wan-tiny model (tests/fixtures/wan-tiny):
//! with the reference's noise (`--noise`), `--frames-out` matches diffusers' `WanPipeline`
//! frames (tests/fixtures/pipeline/unipc_cfg.safetensors, made by
//! tools/reference/make_pipeline_fixtures.py, which also holds the request mirrored below);
//! bad sizes and noise are usage errors (exit 2); an oversized request is refused by the
//! memory check before loading.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wan_tiny() -> String {
    s(&repo().join("tests/fixtures/wan-tiny")).to_string()
}

fn fixture(case: &str) -> PathBuf {
    repo().join(format!("tests/fixtures/pipeline/{case}.safetensors"))
}

/// make_pipeline_fixtures.py's `unipc_cfg` request as flags, writing to `out`.
fn unipc_cfg_args<'a>(model: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "generate",
        "a red ball moves left on the green sky",
        "-o",
        out,
        "--model",
        model,
        "--negative",
        "blue cube",
        "--height",
        "32",
        "--width",
        "48",
        "--frames",
        "9",
        "--steps",
        "4",
        "--guidance",
        "5",
    ]
}

#[test]
fn frames_out_matches_the_reference_with_its_noise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.mp4");
    let frames_out = dir.path().join("frames.safetensors");
    let (model, noise) = (wan_tiny(), fixture("unipc_cfg"));
    let mut args = unipc_cfg_args(&model, s(&out));
    args.extend(["--noise", s(&noise), "--frames-out", s(&frames_out)]);
    let run = kino(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    let ours = candle_core::safetensors::load(&frames_out, &Device::Cpu).unwrap();
    let theirs = candle_core::safetensors::load(&noise, &Device::Cpu).unwrap();
    let (ours, theirs) = (&ours["frames"], &theirs["frames"]);
    assert_eq!(ours.dims(), [9, 32, 48, 3]);
    let diff = (ours - theirs)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap();
    let diff = diff.max(0).unwrap().to_scalar::<f32>().unwrap();
    eprintln!("CLI --frames-out vs reference: max abs difference {diff:.3e}");
    assert!(diff <= 2e-3, "max abs difference {diff:e}");

    let probe = kino_testkit::ffprobe(s(&out), &[]);
    assert_eq!((probe.width, probe.height, probe.frames), (48, 32, 9));
    assert!((probe.fps - 16.0).abs() < 1e-9);
    assert!(dir.path().join("clip.contact.png").exists());
}

#[test]
fn sizes_and_frame_counts_are_usage_errors() {
    let model = wan_tiny();
    for (flag, value, expect) in [
        ("--height", "40", "multiple of 16"),
        ("--width", "50", "multiple of 16"),
        ("--frames", "10", "4k + 1"),
        ("--max-sequence-length", "0", "at least 1"),
        ("--flow-shift", "0", "positive"),
        ("--guidance-rescale", "1.5", "[0, 1]"),
        ("--guidance-interval", "0.9,0.2", "above"),
        ("--guidance-interval", "0.5", "LOW,HIGH"),
    ] {
        let run = kino(&[
            "generate",
            "a red ball",
            "-o",
            "x.mp4",
            "--model",
            &model,
            flag,
            value,
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(expect), "{stderr}");
    }
}

#[test]
fn noise_of_the_wrong_shape_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clip.mp4");
    let model = wan_tiny();
    // euler_nocfg's noise is (1, 4, 2, 2, 4): the wrong shape for 9 frames of 48x32.
    let noise = fixture("euler_nocfg");
    let mut args = unipc_cfg_args(&model, s(&out));
    args.extend(["--noise", s(&noise)]);
    let run = kino(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[1, 4, 3, 4, 6]"), "{stderr}");

    let other = dir.path().join("other.safetensors");
    let t = Tensor::zeros((1, 4, 3, 4, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&std::collections::HashMap::from([("latents", t)]), &other)
        .unwrap();
    let mut args = unipc_cfg_args(&model, s(&out));
    args.extend(["--noise", s(&other)]);
    let run = kino(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no tensor named \"noise\"") && stderr.contains("latents"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_request_too_big_for_memory_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frames/");
    let model = wan_tiny();
    // 1001 frames of 8192x8192: the decoded video alone is over a terabyte.
    let run = kino(&[
        "generate",
        "a red ball",
        "-o",
        s(&out),
        "--model",
        &model,
        "--width",
        "8192",
        "--height",
        "8192",
        "--frames",
        "1001",
        "--steps",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not enough memory")
            && stderr.contains("GiB is available")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(!out.exists());
}
