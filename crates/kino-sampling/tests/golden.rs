//! Golden tests: our schedulers against diffusers 0.42.1 (torch 2.15.0, CPU), step by step.
//!
//! Origin: tests/fixtures/sampling/*.safetensors, made by tools/reference/make_sampling_fixtures.py
//! (see tests/fixtures/sampling/manifest.json for each case's config and the versions). For each
//! case the script ran, in Python:
//!
//! ```python
//! scheduler = UniPCMultistepScheduler.from_config(config)   # or FlowMatchEulerDiscreteScheduler
//! scheduler.set_timesteps(steps)                            # -> timesteps, sigmas
//! for t in scheduler.timesteps:
//!     model_output = fake_model(sample, t)
//!     sample = scheduler.step(model_output, t, sample).prev_sample   # -> samples[i + 1]
//! ```
//!
//! We replay the recorded model outputs through our scheduler.

use kino_testkit::max_abs_diff;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use kino_sampling::{FlowScheduler, Scheduler, SchedulerConfig};
use serde_json::Value;

/// Timesteps and sigmas: both sides compute the schedule in float64 and store float32, so they
/// agree to float32 rounding of values <= 1000 (UniPC's integer timesteps agree exactly).
const SCHEDULE_TOL: f64 = 1e-6;

/// One step, from the reference's own input: diffusers computes the UniPC coefficients in
/// float32 (log, expm1, a 2x2 solve) and we compute them in float64, then both round them to
/// float32 to scale the latent. Measured: at most 4.8e-7, 2 ulps of the latent (|x| < 4 here).
/// 2e-6 (8 ulps) leaves room for another platform's libm and FMA, and nothing more.
const STEP_TOL: f32 = 2e-6;

/// A whole trajectory fed with our own samples: the per-step differences could add up over
/// 50 steps. Measured: at most 7.7e-7.
const TRAJECTORY_TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sampling")
}

struct Case {
    name: String,
    config: SchedulerConfig,
    steps: usize,
    timesteps: Vec<f64>,
    sigmas: Vec<f32>,
    /// (steps + 1, latent...): samples[i] is step i's input, samples[i + 1] its output.
    samples: Tensor,
    /// (steps, latent...): the model output fed to step i.
    model_outputs: Tensor,
}

fn cases() -> Vec<Case> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("manifest.json"))
            .expect("manifest.json is committed"),
    )
    .expect("manifest.json is JSON");
    assert_eq!(
        manifest["versions"]["diffusers"], "0.42.1",
        "fixtures from another diffusers"
    );
    let cases = manifest["cases"].as_object().expect("cases is an object");
    assert!(cases.len() >= 20, "expected the full set of cases");
    cases
        .iter()
        .map(|(name, case)| {
            let mut config = case["config"].clone();
            config["_class_name"] = case["scheduler"].clone();
            let config = SchedulerConfig::from_value(config)
                .unwrap_or_else(|e| panic!("{name}: config rejected: {e}"));
            let file = fixtures().join(case["file"].as_str().expect("file is a string"));
            let tensors = candle_core::safetensors::load(&file, &Device::Cpu)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let get = |key: &str| {
                tensors
                    .get(key)
                    .unwrap_or_else(|| panic!("{name}: no {key}"))
                    .clone()
            };
            Case {
                name: name.clone(),
                config,
                steps: case["num_inference_steps"].as_u64().expect("steps") as usize,
                timesteps: get("timesteps")
                    .to_dtype(DType::F64)
                    .and_then(|t| t.to_vec1())
                    .expect("timesteps"),
                sigmas: get("sigmas").to_vec1().expect("sigmas"),
                samples: get("samples"),
                model_outputs: get("model_outputs"),
            }
        })
        .collect()
}

fn scheduler_for(case: &Case) -> FlowScheduler {
    let mut scheduler = FlowScheduler::new(case.config.clone()).expect("valid config");
    scheduler.set_timesteps(case.steps).expect("steps > 0");
    scheduler
}

#[test]
fn timesteps_and_sigmas_match_the_reference() {
    let (mut worst_t, mut worst_s) = (0.0f64, 0.0f64);
    for case in cases() {
        let scheduler = scheduler_for(&case);
        assert_eq!(
            scheduler.timesteps().len(),
            case.timesteps.len(),
            "{}",
            case.name
        );
        assert_eq!(scheduler.sigmas().len(), case.sigmas.len(), "{}", case.name);
        for (i, (ours, theirs)) in scheduler
            .timesteps()
            .iter()
            .zip(&case.timesteps)
            .enumerate()
        {
            assert!(
                (ours - theirs).abs() <= SCHEDULE_TOL,
                "{}: timestep {i}: {ours} vs {theirs}",
                case.name
            );
            worst_t = worst_t.max((ours - theirs).abs());
        }
        for (i, (ours, theirs)) in scheduler.sigmas().iter().zip(&case.sigmas).enumerate() {
            let diff = f64::from((ours - theirs).abs());
            assert!(
                diff <= SCHEDULE_TOL,
                "{}: sigma {i}: {ours} vs {theirs}",
                case.name
            );
            worst_s = worst_s.max(diff);
        }
    }
    println!("worst timestep difference: {worst_t}; worst sigma difference: {worst_s}");
}

#[test]
fn every_step_matches_the_reference() {
    let mut worst = (0.0f32, String::new());
    for case in cases() {
        let mut scheduler = scheduler_for(&case);
        for i in 0..case.steps {
            let sample = case.samples.i(i).expect("sample i");
            let model_output = case.model_outputs.i(i).expect("model output i");
            let ours = scheduler.step(&model_output, i, &sample).expect("step");
            let theirs = case.samples.i(i + 1).expect("sample i + 1");
            let diff = max_abs_diff(&ours, &theirs);
            assert!(
                diff <= STEP_TOL,
                "{}: step {i}: max |diff| {diff}",
                case.name
            );
            if diff > worst.0 {
                worst = (diff, format!("{} step {i}", case.name));
            }
        }
    }
    println!("worst single-step difference: {} ({})", worst.0, worst.1);
}

#[test]
fn whole_trajectories_match_the_reference() {
    let mut worst = (0.0f32, String::new());
    for case in cases() {
        let mut scheduler = scheduler_for(&case);
        let mut sample = case.samples.i(0).expect("initial latent");
        for i in 0..case.steps {
            let model_output = case.model_outputs.i(i).expect("model output i");
            sample = scheduler.step(&model_output, i, &sample).expect("step");
        }
        let theirs = case.samples.i(case.steps).expect("final sample");
        let diff = max_abs_diff(&sample, &theirs);
        assert!(
            diff <= TRAJECTORY_TOL,
            "{}: final max |diff| {diff}",
            case.name
        );
        if diff > worst.0 {
            worst = (diff, case.name.clone());
        }
    }
    println!(
        "worst final-sample difference over a whole trajectory: {} ({})",
        worst.0, worst.1
    );
}
