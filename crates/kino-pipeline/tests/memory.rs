//! The memory check in `Pipeline::load`: an estimate from the wan-tiny model's safetensors
//! headers and configs (tests/fixtures/wan-tiny), refused over MemAvailable unless forced.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use candle_core::DType;
use kino_models::ModelDir;
use kino_pipeline::{LoadOptions, MemoryEstimate, Pipeline, PipelineError, VideoSize};

fn wan_tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wan-tiny")
}

/// 1001 frames of 8192x8192: the decoded video alone is over a terabyte.
const HUGE: VideoSize = VideoSize {
    height: 8192,
    width: 8192,
    frames: 1001,
};

#[test]
fn weights_count_every_parameter_at_the_compute_dtype() {
    let model = ModelDir::open(wan_tiny()).unwrap();
    let small = VideoSize {
        height: 32,
        width: 48,
        frames: 9,
    };
    let f32 = MemoryEstimate::for_model(&model, DType::F32, small).unwrap();
    let f16 = MemoryEstimate::for_model(&model, DType::F16, small).unwrap();
    assert_eq!(f32.weights, 2 * f16.weights);
    let mut params = 0;
    for name in ["text_encoder", "transformer", "vae"] {
        let weights = model.weights(name).unwrap();
        for t in weights.names() {
            params += weights.info(t).unwrap().1.shape.iter().product::<usize>() as u64;
        }
    }
    assert_eq!(f32.weights, 4 * params);
    assert_eq!(f32.video, 9 * 32 * 48 * 3 * 8);
    assert!(f32.activations > 0);
    assert_eq!(f32.total(), f32.weights + f32.activations + f32.video);
}

#[test]
fn too_big_a_plan_is_refused_unless_forced() {
    let options = LoadOptions {
        plan: HUGE,
        ..LoadOptions::default()
    };
    match Pipeline::load(wan_tiny(), &options) {
        Err(err @ PipelineError::NotEnoughMemory { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains("GiB is available") && text.contains("--force"),
                "{text}"
            );
        }
        other => panic!("expected NotEnoughMemory, got {other:?}"),
    }
    let forced = LoadOptions {
        force: true,
        ..options
    };
    let pipeline = Pipeline::load(wan_tiny(), &forced).unwrap();
    assert!(pipeline.memory_estimate().total() > 1 << 40);
}
