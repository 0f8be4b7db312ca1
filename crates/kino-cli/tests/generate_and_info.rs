//! `kino generate`'s front door (clear errors naming a missing or invalid model folder or
//! component) and `kino info`.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

use std::process::Command;

#[test]
fn missing_model_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mp4");
    let model = dir.path().join("no-such-model");
    let run = kino(&[
        "generate",
        "a cat",
        "-o",
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no-such-model") && stderr.contains("no such folder"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn folder_without_model_index_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = kino(&[
        "generate",
        "a cat",
        "-o",
        "x.mp4",
        "--model",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("model_index.json is missing"), "{stderr}");
}

#[test]
fn missing_component_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("model_index.json"),
        r#"{"_class_name": "WanPipeline", "transformer": ["diffusers", "WanTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLWan"]}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("transformer")).unwrap();
    let run = kino(&[
        "generate",
        "a cat",
        "-o",
        "x.mp4",
        "--model",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("vae/"), "{stderr}");
}

/// With no --model, kino-mini is found from any working folder (a missing KINO_MINI_DIR is
/// skipped for the repository's models/kino-mini).
#[test]
fn default_model_is_kino_mini_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mp4");
    let run = Command::new(env!("CARGO_BIN_EXE_kino"))
        .args([
            "generate",
            "a blue ball moving left on green grass",
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "2",
        ])
        .current_dir(dir.path())
        .env("KINO_MINI_DIR", dir.path().join("nowhere"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("models/kino-mini"), "{stderr}");
    assert!(out.is_file());
}

#[test]
fn generate_checks_flags_first() {
    let run = kino(&["generate", "a cat", "-o", "x.mp4", "--width", "0"]);
    assert_eq!(run.status.code(), Some(2));
    let run = kino(&["generate", "a cat", "-o", "x.webm"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn info_describes_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.mp4");
    assert!(
        kino(&[
            "world",
            "render",
            "a white star drifting down on the sea",
            "-o",
            out.to_str().unwrap(),
            "--quiet"
        ])
        .status
        .success()
    );
    let run = kino(&["info", out.to_str().unwrap(), "--json"]);
    assert!(run.status.success());
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["container"], "mp4");
    assert_eq!(v["frames"], 24);
    assert_eq!(v["width"], 256);
    assert_eq!(v["fast_start"], true);
    assert!(v["codec"].as_str().unwrap().starts_with("h264"));
    let theirs = kino_testkit::ffprobe(out.to_str().unwrap(), &[]);
    assert!((v["fps"].as_f64().unwrap() - theirs.fps).abs() < 1e-6);
    let text = kino(&["info", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("h264"));
}

#[test]
fn info_describes_safetensors_and_model_folders() {
    let dir = tempfile::tempdir().unwrap();
    // A two-tensor safetensors file: header length, JSON header, then the data.
    let header = br#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 32]);
    let st = dir.path().join("w.safetensors");
    std::fs::write(&st, &bytes).unwrap();
    let run = kino(&["info", st.to_str().unwrap(), "--json"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        (v["tensors"].as_u64(), v["parameters"].as_u64()),
        (Some(2), Some(10))
    );

    std::fs::write(&st, &bytes[..20]).unwrap();
    let run = kino(&["info", st.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("w.safetensors"));

    std::fs::write(
        dir.path().join("model_index.json"),
        r#"{"_class_name": "WanPipeline", "vae": ["diffusers", "AutoencoderKLWan"]}"#,
    )
    .unwrap();
    let run = kino(&["info", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("WanPipeline") && stdout.contains("AutoencoderKLWan (missing)"),
        "{stdout}"
    );
}
