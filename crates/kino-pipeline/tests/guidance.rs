//! Guidance rescale and guidance intervals through the whole pipeline, on the wan-tiny model
//! with the `unipc_cfg` fixture's request and noise (see parity.rs): with the options at their
//! reference values the frames are the reference's; an interval that holds no step is the
//! unguided run; an interval that holds every step is the guided one; rescale changes a
//! guided run and nothing else.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use kino_pipeline::{
    GenerateRequest, GuidanceInterval, LoadOptions, NoProgress, Pipeline, PipelineError,
};
use kino_testkit::max_abs_diff;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pipeline() -> Pipeline {
    Pipeline::load(
        repo().join("tests/fixtures/wan-tiny"),
        &LoadOptions::default(),
    )
    .unwrap()
}

/// The `unipc_cfg` fixture's noise and the frames diffusers made from it.
fn fixture() -> (Tensor, Tensor) {
    let path = repo().join("tests/fixtures/pipeline/unipc_cfg.safetensors");
    let mut fx = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    (fx.remove("noise").unwrap(), fx.remove("frames").unwrap())
}

/// make_pipeline_fixtures.py's `unipc_cfg` request.
fn request(noise: &Tensor) -> GenerateRequest {
    GenerateRequest {
        prompt: "a red ball moves left on the green sky".into(),
        negative_prompt: "blue cube".into(),
        height: 32,
        width: 48,
        frames: 9,
        steps: 4,
        guidance: 5.0,
        noise: Some(noise.clone()),
        ..GenerateRequest::default()
    }
}

fn frames(pipeline: &Pipeline, request: &GenerateRequest) -> Tensor {
    pipeline.generate(request, &mut NoProgress).unwrap().frames
}

#[test]
fn intervals_switch_guidance_per_step() {
    let pipeline = pipeline();
    let (noise, reference) = fixture();
    let base = request(&noise);
    let every_step = GenerateRequest {
        guidance_interval: Some(GuidanceInterval::new(0.0, 1.0).unwrap()),
        ..base.clone()
    };
    let diff = max_abs_diff(&frames(&pipeline, &every_step), &reference);
    assert!(diff <= 2e-3, "interval [0, 1] vs the reference: {diff:e}");

    let unguided = frames(
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
    assert_eq!(max_abs_diff(&frames(&pipeline, &no_step), &unguided), 0.0);

    // Guiding some steps only lands between the two.
    let some = GenerateRequest {
        guidance_interval: Some(GuidanceInterval::new(0.0, 0.9).unwrap()),
        ..base
    };
    let some = frames(&pipeline, &some);
    assert!(max_abs_diff(&some, &unguided) > 1e-4);
    assert!(max_abs_diff(&some, &reference) > 1e-4);
}

#[test]
fn rescale_changes_only_guided_runs() {
    let pipeline = pipeline();
    let (noise, reference) = fixture();
    let base = request(&noise);
    let off = GenerateRequest {
        guidance_rescale: 0.0,
        ..base.clone()
    };
    let diff = max_abs_diff(&frames(&pipeline, &off), &reference);
    assert!(diff <= 2e-3, "rescale 0 vs the reference: {diff:e}");

    let rescaled = GenerateRequest {
        guidance_rescale: 0.7,
        ..base.clone()
    };
    assert!(max_abs_diff(&frames(&pipeline, &rescaled), &reference) > 1e-4);

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
            &frames(&pipeline, &unguided),
            &frames(&pipeline, &unguided_rescaled)
        ),
        0.0
    );
}

#[test]
fn a_bad_rescale_is_named() {
    let pipeline = pipeline();
    let (noise, _) = fixture();
    for phi in [1.5, -0.1, f64::NAN] {
        let bad = GenerateRequest {
            guidance_rescale: phi,
            ..request(&noise)
        };
        match pipeline.generate(&bad, &mut NoProgress) {
            Err(PipelineError::InvalidRequest { field, .. }) => {
                assert_eq!(field, "guidance_rescale")
            }
            other => panic!("rescale {phi}: expected InvalidRequest, got {other:?}"),
        }
    }
}
