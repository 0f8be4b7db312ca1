//! The whole pipeline against diffusers 0.42.1's `WanPipeline` on the wan-tiny model.
//!
//! Golden fixtures: tests/fixtures/pipeline/{unipc_cfg,euler_nocfg}.safetensors, made by
//! `tools/reference/make_pipeline_fixtures.py` (float32, CPU): the reference run with
//! `latents=noise, output_type="np"`; each file holds that `noise` and the `frames` it returned;
//! the request is in the script (and manifest.json) and mirrored in `request()` below.
//! `unipc_cfg`: the model's UniPC, 4 steps, guidance 5 with a negative prompt, 9 frames of
//! 32x48. `euler_nocfg`: Euler with shift 2, 3 steps, guidance 1, 5 frames of 16x32, 16 tokens.
//!
//! `v2v_unipc`: diffusers' `WanVideoToVideoPipeline` on the same model, from the fixture's
//! `video` at strength 0.5 of 6 UniPC steps, guidance 5 with a negative prompt, 9 frames of
//! 32x48 (the VAE encodes the clip, which is noised to the 4th step's sigma and denoised).
//!
//! Tolerance 2e-3 (max abs, frames in [0, 1]), the bar. Measured (x86-64, f32, 2
//! threads): unipc_cfg 2.2e-6, euler_nocfg 7.7e-7, v2v_unipc 1.9e-5.
#![allow(clippy::unwrap_used)]

use kino_testkit::max_abs_diff;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use kino_pipeline::{
    GenerateRequest, GuidanceInterval, LoadOptions, NoProgress, Pipeline, PipelineError, Progress,
    SchedulerChoice, Stage,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(case: &str) -> HashMap<String, Tensor> {
    let path = repo().join(format!("tests/fixtures/pipeline/{case}.safetensors"));
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::load(
        repo().join("tests/fixtures/wan-tiny"),
        &LoadOptions::default(),
    )
    .unwrap()
}

/// The requests of make_pipeline_fixtures.py's CASES.
fn request(case: &str, noise: Option<Tensor>) -> GenerateRequest {
    match case {
        "unipc_cfg" => GenerateRequest {
            prompt: "a red ball moves left on the green sky".into(),
            negative_prompt: "blue cube".into(),
            height: 32,
            width: 48,
            frames: 9,
            steps: 4,
            guidance: 5.0,
            noise,
            ..GenerateRequest::default()
        },
        "euler_nocfg" => GenerateRequest {
            prompt: "the blue cube moves up slowly".into(),
            height: 16,
            width: 32,
            frames: 5,
            steps: 3,
            guidance: 1.0,
            max_sequence_length: 16,
            scheduler: SchedulerChoice::Euler,
            flow_shift: Some(2.0),
            noise,
            ..GenerateRequest::default()
        },
        "v2v_unipc" => GenerateRequest {
            steps: 6,
            strength: 0.5,
            ..request("unipc_cfg", noise)
        },
        other => panic!("no case {other}"),
    }
}

#[derive(Default)]
struct Recorder {
    stages: Vec<Stage>,
    steps: Vec<(usize, usize)>,
}

impl Progress for Recorder {
    fn stage(&mut self, stage: Stage) {
        self.stages.push(stage);
    }
    fn step(&mut self, index: usize, total: usize) {
        self.steps.push((index, total));
    }
}

fn check_case(pipeline: &Pipeline, case: &str) {
    let fx = fixture(case);
    let mut progress = Recorder::default();
    let video = pipeline
        .generate(&request(case, Some(fx["noise"].clone())), &mut progress)
        .unwrap();
    let diff = max_abs_diff(&video.frames, &fx["frames"]);
    eprintln!("{case}: max |ours - reference| over frames = {diff:.3e}");
    assert!(diff <= 2e-3, "{case}: max abs difference {diff:e} > 2e-3");
    assert_eq!(video.fps, 16.0);
    let steps = request(case, None).steps;
    assert_eq!(
        progress.steps,
        (0..steps).map(|i| (i, steps)).collect::<Vec<_>>()
    );
    assert_eq!(
        progress.stages,
        [
            Stage::LoadTextEncoder,
            Stage::EncodePrompt,
            Stage::Denoise,
            Stage::Decode
        ]
    );
}

#[test]
fn frames_match_the_reference() {
    let pipeline = pipeline();
    check_case(&pipeline, "unipc_cfg");
    check_case(&pipeline, "euler_nocfg");
}

#[test]
fn video_to_video_matches_the_reference() {
    let pipeline = pipeline();
    let fx = fixture("v2v_unipc");
    let request = GenerateRequest {
        init_video: Some(fx["video"].clone()),
        ..request("v2v_unipc", Some(fx["noise"].clone()))
    };
    let mut progress = Recorder::default();
    let video = pipeline.generate(&request, &mut progress).unwrap();
    let diff = max_abs_diff(&video.frames, &fx["frames"]);
    eprintln!("v2v_unipc: max |ours - reference| over frames = {diff:.3e}");
    assert!(
        diff <= 2e-3,
        "v2v_unipc: max abs difference {diff:e} > 2e-3"
    );
    // Three of the six steps run, reported as steps of those three.
    assert_eq!(progress.steps, [(0, 3), (1, 3), (2, 3)]);
    assert_eq!(
        progress.stages,
        [
            Stage::LoadTextEncoder,
            Stage::EncodePrompt,
            Stage::EncodeVideo,
            Stage::Denoise,
            Stage::Decode
        ]
    );
}

#[test]
fn same_seed_same_video_and_noise_changes_it() {
    let pipeline = pipeline();
    let run = |seed| {
        let req = GenerateRequest {
            seed,
            ..request("euler_nocfg", None)
        };
        pipeline.generate(&req, &mut NoProgress).unwrap().frames
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert!(max_abs_diff(&a, &c) > 1e-3);
}

#[test]
fn rgb8_frames_round_the_floats() {
    let pipeline = pipeline();
    let fx = fixture("euler_nocfg");
    let video = pipeline
        .generate(
            &request("euler_nocfg", Some(fx["noise"].clone())),
            &mut NoProgress,
        )
        .unwrap();
    let rgb = video.to_rgb8().unwrap();
    assert_eq!(rgb.len(), 5);
    assert_eq!(rgb[0].len(), 16 * 32 * 3);
    let floats = video
        .frames
        .flatten_from(1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (bytes, floats) in rgb.iter().zip(&floats) {
        for (&b, &f) in bytes.iter().zip(floats) {
            assert_eq!(b, (f * 255.0).round() as u8);
        }
    }
}

#[test]
fn bad_requests_name_the_field() {
    let pipeline = pipeline();
    let cases: [(&str, GenerateRequest); 5] = [
        (
            "height",
            GenerateRequest {
                height: 40,
                ..request("euler_nocfg", None)
            },
        ),
        (
            "width",
            GenerateRequest {
                width: 0,
                ..request("euler_nocfg", None)
            },
        ),
        (
            "frames",
            GenerateRequest {
                frames: 6,
                ..request("euler_nocfg", None)
            },
        ),
        (
            "steps",
            GenerateRequest {
                steps: 0,
                ..request("euler_nocfg", None)
            },
        ),
        (
            "noise",
            GenerateRequest {
                noise: Some(
                    Tensor::zeros((1, 4, 2, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
                ),
                ..request("euler_nocfg", None)
            },
        ),
    ];
    for (want, req) in cases {
        match pipeline.generate(&req, &mut NoProgress) {
            Err(PipelineError::InvalidRequest { field, message }) => {
                assert_eq!(field, want, "{message}");
            }
            other => panic!("{want}: expected InvalidRequest, got {other:?}"),
        }
    }
}

/// The frames of a run of `request` (guidance-option tests below).
fn guided_frames(pipeline: &Pipeline, request: &GenerateRequest) -> Tensor {
    pipeline.generate(request, &mut NoProgress).unwrap().frames
}

// Guidance rescale and guidance intervals on the `unipc_cfg` case: at their reference values
// the frames are the reference's; an interval that holds no step is the unguided run; rescale
// changes a guided run and nothing else.

#[test]
fn intervals_switch_guidance_per_step() {
    let pipeline = pipeline();
    let fx = fixture("unipc_cfg");
    let reference = fx["frames"].clone();
    let base = request("unipc_cfg", Some(fx["noise"].clone()));
    let every_step = GenerateRequest {
        guidance_interval: Some(GuidanceInterval::new(0.0, 1.0).unwrap()),
        ..base.clone()
    };
    let diff = max_abs_diff(&guided_frames(&pipeline, &every_step), &reference);
    assert!(diff <= 2e-3, "interval [0, 1] vs the reference: {diff:e}");

    let unguided = guided_frames(
        &pipeline,
        &GenerateRequest {
            guidance: 1.0,
            ..base.clone()
        },
    );
    // UniPC's four sigmas here are all above 0.5: an interval below them guides nothing.
    let no_step = GenerateRequest {
        guidance_interval: Some(GuidanceInterval::new(0.0, 0.1).unwrap()),
        ..base.clone()
    };
    assert_eq!(
        max_abs_diff(&guided_frames(&pipeline, &no_step), &unguided),
        0.0
    );

    // Guiding some steps only lands between the two.
    let some = GenerateRequest {
        guidance_interval: Some(GuidanceInterval::new(0.0, 0.9).unwrap()),
        ..base
    };
    let some = guided_frames(&pipeline, &some);
    assert!(max_abs_diff(&some, &unguided) > 1e-4);
    assert!(max_abs_diff(&some, &reference) > 1e-4);
}

#[test]
fn rescale_changes_only_guided_runs() {
    let pipeline = pipeline();
    let fx = fixture("unipc_cfg");
    let reference = fx["frames"].clone();
    let base = request("unipc_cfg", Some(fx["noise"].clone()));
    let off = GenerateRequest {
        guidance_rescale: 0.0,
        ..base.clone()
    };
    let diff = max_abs_diff(&guided_frames(&pipeline, &off), &reference);
    assert!(diff <= 2e-3, "rescale 0 vs the reference: {diff:e}");

    let rescaled = GenerateRequest {
        guidance_rescale: 0.7,
        ..base.clone()
    };
    assert!(max_abs_diff(&guided_frames(&pipeline, &rescaled), &reference) > 1e-4);

    let unguided = GenerateRequest {
        guidance: 1.0,
        ..base
    };
    let unguided_rescaled = GenerateRequest {
        guidance_rescale: 1.0,
        ..unguided.clone()
    };
    assert_eq!(
        max_abs_diff(
            &guided_frames(&pipeline, &unguided),
            &guided_frames(&pipeline, &unguided_rescaled)
        ),
        0.0
    );
}

#[test]
fn a_bad_rescale_is_named() {
    let pipeline = pipeline();
    let noise = fixture("unipc_cfg")["noise"].clone();
    for phi in [1.5, -0.1, f64::NAN] {
        let bad = GenerateRequest {
            guidance_rescale: phi,
            ..request("unipc_cfg", Some(noise.clone()))
        };
        match pipeline.generate(&bad, &mut NoProgress) {
            Err(PipelineError::InvalidRequest { field, .. }) => {
                assert_eq!(field, "guidance_rescale")
            }
            other => panic!("rescale {phi}: expected InvalidRequest, got {other:?}"),
        }
    }
}
