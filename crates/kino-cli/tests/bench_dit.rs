//! `kino bench dit` (tiny preset) and `kino bench train` (one small step) through the binary.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;
use std::path::Path;

#[test]
fn tiny_preset_prints_the_reference_keys() {
    let stdout = kino_ok(&[
        "bench", "dit", "--preset", "tiny", "--frames", "5", "--height", "32", "--width", "32",
        "--dtype", "bf16", "--repeat", "1",
    ]);
    // Same line as tools/reference/bench_dit.py prints for the same preset and size
    // (params=24136 is diffusers' count of the tiny config).
    assert!(
        stdout.contains("implementation=kino preset=tiny dtype=bf16 params=24136"),
        "{stdout}"
    );
    assert!(stdout.contains("tokens=8 text_len=512"), "{stdout}");
    for key in ["seconds_per_forward=", "peak_rss_mb="] {
        assert!(
            stdout.lines().any(|l| l.starts_with(key)),
            "{key} missing: {stdout}"
        );
    }
}

#[test]
fn frames_that_are_not_4k_plus_1_are_a_usage_error() {
    let run = kino(&["bench", "dit", "--preset", "tiny", "--frames", "6"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("4k+1"));
}

/// `kino bench train` runs real steps of the base recipe, and of both stages of a latent
/// recipe file, and reports their speed.
#[test]
fn bench_train_times_steps_of_each_stage() {
    let stdout = kino_ok(&[
        "bench", "train", "--steps", "1", "--warmup", "0", "--batch", "1",
    ]);
    assert!(
        stdout.contains("recipe=base size=16x32x32 tokens=256"),
        "{stdout}"
    );
    assert_eq!(stage_lines(&stdout), ["dit"], "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("peak_rss_mb=")),
        "{stdout}"
    );

    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kino-train/recipes/latent.json");
    let stdout = kino_ok(&[
        "bench",
        "train",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--batch",
        "1",
        "--recipe",
        recipe.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("recipe=file size=5x32x32 tokens=64"),
        "{stdout}"
    );
    assert_eq!(stage_lines(&stdout), ["autoencoder", "dit"], "{stdout}");

    let zero = kino(&["bench", "train", "--steps", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--steps"));
    let missing = kino(&["bench", "train", "--recipe", "no-such-recipe.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-recipe.json"));
}

/// Runs kino with `args`, asserts it succeeded (showing its stderr if not), returns stdout.
fn kino_ok(args: &[&str]) -> String {
    let run = kino(args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// The stages of `stage=NAME batch=1 mean_step_seconds=.. median_step_seconds=..
/// clips_per_second=..` lines, each checked to carry every key with a positive number.
fn stage_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("stage="))
        .map(|line| {
            let mut fields = line.split(' ');
            let stage = fields.next().unwrap().to_string();
            let values: Vec<(&str, f64)> = fields
                .map(|f| {
                    let (key, value) = f.split_once('=').unwrap();
                    (key, value.parse().unwrap())
                })
                .collect();
            let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                keys,
                [
                    "batch",
                    "mean_step_seconds",
                    "median_step_seconds",
                    "clips_per_second"
                ],
                "{line}"
            );
            assert!(values.iter().all(|(_, v)| *v > 0.0), "{line}");
            stage
        })
        .collect()
}
