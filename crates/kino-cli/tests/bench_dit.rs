//! `kino bench dit` (tiny preset) and `kino bench train` (one small step) through the binary.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

#[test]
fn tiny_preset_prints_the_reference_keys() {
    let run = kino(&[
        "bench", "dit", "--preset", "tiny", "--frames", "5", "--height", "32", "--width", "32",
        "--dtype", "bf16", "--repeat", "1",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
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

/// `kino bench train` runs real steps of the shipped recipe and reports their speed.
#[test]
fn bench_train_times_steps_of_the_shipped_recipe() {
    let run = kino(&[
        "bench", "train", "--steps", "1", "--warmup", "0", "--batch", "1",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("recipe=kino-mini batch=1 size=16x32x32 tokens=256"),
        "{stdout}"
    );
    for key in ["mean_step_seconds=", "clips_per_second=", "peak_rss_mb="] {
        assert!(
            stdout.lines().any(|l| l.starts_with(key)),
            "{key} missing: {stdout}"
        );
    }
    let zero = kino(&["bench", "train", "--steps", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--steps"));
}
