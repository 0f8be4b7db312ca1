//! The Wan VAE (`kino_models::vae`) against the reference: golden tests on fixtures that
//! tools/reference/make_vae_fixtures.py made with diffusers 0.42.1's `AutoencoderKLWan.decode`
//! and `.encode` (float32, CPU), for two tiny configs, plus invariants that need no fixture.
//!
//! Tolerance: both sides compute in f32 with the same operations, but in a different order
//! (our 3D convolution is one `conv2d` with the temporal taps folded into the channels; torch
//! runs its own conv3d kernels; softmax and sums differ too), so results differ by float
//! rounding accumulated over ~30 layers. The RMS norms keep activations O(1), so the error
//! stays at tens of f32 ulps of O(1) values: we allow 1e-5 absolute, about 5x the worst we
//! measured. Measured (x86-64 CPU, candle 0.11.1 vs torch 2.15.0): decode 1.9e-6 (wan_tiny)
//! and 1.0e-6 (small_b); encode mean 2.5e-7 / 3.0e-7, log-variance 2.3e-7 / 2.5e-7;
//! the latent (de)normalisation is bit-exact. A one-off check (not committed: 500 MB of
//! weights) of the full Wan 2.1 architecture (base_dim 96, z_dim 16, dim_mult [1, 2, 4, 4])
//! with random weights gave 2.9e-6 on a (1, 16, 2, 8, 12) decode and 1.1e-6 on a 5-frame
//! 48x64 encode.
#![allow(clippy::unwrap_used)]

mod common;

use kino_testkit::max_abs_diff;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kino_models::vae::{AutoencoderKlWan, denormalize_latents, normalize_latents};
use kino_models::{WanVaeConfig, Weights};

const TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vae")
}

/// A fixture case: the VAE it was made with, and its tensors.
struct Case {
    cfg: WanVaeConfig,
    vae: AutoencoderKlWan,
    t: HashMap<String, Tensor>,
}

fn case(name: &str) -> Case {
    let dir = match name {
        "wan_tiny" => common::fixture().join("vae"),
        _ => fixtures().join(name).join("vae"),
    };
    let cfg = WanVaeConfig::from_file(&dir.join("config.json")).unwrap();
    let vb = Weights::open(&dir)
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    let vae = AutoencoderKlWan::new(&cfg, vb).unwrap();
    let t = candle_core::safetensors::load(
        fixtures().join(format!("{name}.safetensors")),
        &Device::Cpu,
    )
    .unwrap();
    Case { cfg, vae, t }
}

fn check(what: &str, ours: &Tensor, reference: &Tensor, tol: f32) {
    let err = max_abs_diff(ours, reference);
    eprintln!("{what}: max abs error {err:e}");
    assert!(err <= tol, "{what}: max abs error {err} > {tol}");
}

/// wan-tiny (base_dim 4, z_dim 4, dim_mult [1, 2, 2, 2], temporal [false, true, true]):
/// a (1, 4, 3, 3, 5) latent -> 9 frames of 24x40. Measured error 1.9e-6.
#[test]
fn decode_matches_reference_wan_tiny() {
    let c = case("wan_tiny");
    let out = c.vae.decode(&c.t["decode_in"]).unwrap();
    assert_eq!(out.dims(), &[1, 3, 9, 24, 40]);
    check("wan_tiny decode", &out, &c.t["decode_out"], TOL);
}

/// small_b (base_dim 4, z_dim 3, dim_mult [1, 3, 2], 2 residual blocks per stage, temporal
/// [true, false]: 4x space, 2x time): a (1, 3, 3, 5, 3) latent -> 5 frames of 20x12.
/// Measured error 1.0e-6.
#[test]
fn decode_matches_reference_small_b() {
    let c = case("small_b");
    let out = c.vae.decode(&c.t["decode_in"]).unwrap();
    assert_eq!(out.dims(), &[1, 3, 5, 20, 12]);
    check("small_b decode", &out, &c.t["decode_out"], TOL);
}

/// A 9-frame 24x40 video -> (1, 4, 3, 3, 5) moments. Measured 2.5e-7 (mean), 2.3e-7 (logvar).
#[test]
fn encode_matches_reference_wan_tiny() {
    let c = case("wan_tiny");
    let (mean, logvar) = c.vae.encode_moments(&c.t["encode_in"]).unwrap();
    assert_eq!(mean.dims(), &[1, 4, 3, 3, 5]);
    check("wan_tiny encode mean", &mean, &c.t["encode_mean"], TOL);
    check(
        "wan_tiny encode logvar",
        &logvar,
        &c.t["encode_logvar"],
        TOL,
    );
    let mode = c.vae.encode(&c.t["encode_in"]).unwrap();
    assert_eq!(max_abs_diff(&mode, &mean), 0.0);
}

/// A 5-frame 20x12 video -> (1, 3, 3, 5, 3) moments (the reference's chunks of 4 frames
/// give 2 latent frames each here). Measured 3.0e-7 (mean), 2.5e-7 (logvar).
#[test]
fn encode_matches_reference_small_b() {
    let c = case("small_b");
    let (mean, logvar) = c.vae.encode_moments(&c.t["encode_in"]).unwrap();
    assert_eq!(mean.dims(), &[1, 3, 3, 5, 3]);
    check("small_b encode mean", &mean, &c.t["encode_mean"], TOL);
    check("small_b encode logvar", &logvar, &c.t["encode_logvar"], TOL);
}

/// pipeline_wan.py's `latents / (1 / std) + mean` and pipeline_wan_i2v.py's
/// `(mu - mean) * (1 / std)`, both computed the same way: equal to the last bit or nearly.
#[test]
fn latent_normalization_matches_the_pipelines() {
    for name in ["wan_tiny", "small_b"] {
        let c = case(name);
        let z = denormalize_latents(&c.cfg, &c.t["decode_in"]).unwrap();
        check(&format!("{name} denormalize"), &z, &c.t["denorm_out"], 1e-6);
        let n = normalize_latents(&c.cfg, &c.t["encode_mean"]).unwrap();
        check(&format!("{name} normalize"), &n, &c.t["normalized"], 1e-6);
        let back = normalize_latents(&c.cfg, &z).unwrap();
        check(
            &format!("{name} round trip"),
            &back,
            &c.t["decode_in"],
            1e-5,
        );
    }
}

/// Causality: decoding the first latent frames gives exactly the first frames of a longer
/// decode (the make_vae_fixtures.py script checks that the reference does this too), and the
/// same for encoding the first frame.
#[test]
fn decode_and_encode_are_causal() {
    let c = case("wan_tiny");
    let z = &c.t["decode_in"];
    let full = c.vae.decode(z).unwrap();
    let one = c.vae.decode(&z.narrow(2, 0, 1).unwrap()).unwrap();
    assert_eq!(one.dims(), &[1, 3, 1, 24, 40]);
    assert_eq!(max_abs_diff(&one, &full.narrow(2, 0, 1).unwrap()), 0.0);
    let two = c.vae.decode(&z.narrow(2, 0, 2).unwrap()).unwrap();
    assert_eq!(max_abs_diff(&two, &full.narrow(2, 0, 5).unwrap()), 0.0);

    let x = &c.t["encode_in"];
    let full = c.vae.encode(x).unwrap();
    let first = c.vae.encode(&x.narrow(2, 0, 1).unwrap()).unwrap();
    assert_eq!(max_abs_diff(&first, &full.narrow(2, 0, 1).unwrap()), 0.0);
}

/// Items of a batch are independent, and a call leaves nothing behind for the next one.
#[test]
fn batch_items_are_independent_and_calls_stateless() {
    let c = case("small_b");
    let z = &c.t["decode_in"];
    let single = c.vae.decode(z).unwrap();
    let other = (z * -0.5).unwrap();
    let batch = c
        .vae
        .decode(&Tensor::cat(&[&other, z], 0).unwrap())
        .unwrap();
    assert!(max_abs_diff(&batch.narrow(0, 1, 1).unwrap(), &single) <= 1e-6);
    let again = c.vae.decode(z).unwrap();
    assert_eq!(max_abs_diff(&again, &single), 0.0);
}

/// Wrong latent channels, a frame count the chunking cannot split, Wan 2.2 and attention
/// configs, and weights of the wrong width are errors, not panics.
#[test]
fn bad_shapes_and_configs_are_errors() {
    let c = case("wan_tiny");
    let wrong_channels = Tensor::zeros((1, 3, 2, 3, 5), DType::F32, &Device::Cpu).unwrap();
    let err = c.vae.decode(&wrong_channels).unwrap_err().to_string();
    assert!(err.contains("expected (B, 4"), "{err}");
    let six_frames = Tensor::zeros((1, 3, 6, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let err = c.vae.encode(&six_frames).unwrap_err().to_string();
    assert!(err.contains("1 + 4k"), "{err}");

    let dir = common::fixture().join("vae");
    let vb = || {
        Weights::open(&dir)
            .unwrap()
            .into_var_builder(DType::F32, &Device::Cpu)
    };
    let wan22 = WanVaeConfig {
        is_residual: true,
        ..c.cfg.clone()
    };
    let err = AutoencoderKlWan::new(&wan22, vb()).unwrap_err().to_string();
    assert!(err.contains("Wan 2.2"), "{err}");
    let attn = WanVaeConfig {
        attn_scales: vec![1.0],
        ..c.cfg.clone()
    };
    let err = AutoencoderKlWan::new(&attn, vb()).unwrap_err().to_string();
    assert!(err.contains("attn_scales"), "{err}");
    let wider = WanVaeConfig {
        base_dim: 8,
        ..c.cfg.clone()
    };
    assert!(AutoencoderKlWan::new(&wider, vb()).is_err());
}

/// The same weights loaded as f16 run end to end (norms in f32, as the reference does for
/// half precision) and stay near f32: f16 keeps 11 bits of mantissa (rounding ~5e-4 per
/// operation, compounded over ~30 layers). Measured vs f32: decode 1.1e-2 (allowed 5e-2),
/// encode mean 8.6e-4 (allowed 5e-3). Not bf16: candle 0.11 has no bf16 matmul on CPU.
#[test]
fn decode_and_encode_run_in_f16() {
    let c = case("wan_tiny");
    let vb = Weights::open(common::fixture().join("vae"))
        .unwrap()
        .into_var_builder(DType::F16, &Device::Cpu);
    let vae = AutoencoderKlWan::new(&c.cfg, vb).unwrap();
    let z = c.t["decode_in"].to_dtype(DType::F16).unwrap();
    let z = denormalize_latents(&c.cfg, &z).unwrap();
    let out = vae.decode(&z).unwrap();
    assert_eq!(out.dtype(), DType::F16);
    let ours_f32 = c
        .vae
        .decode(&denormalize_latents(&c.cfg, &c.t["decode_in"]).unwrap())
        .unwrap();
    check(
        "wan_tiny decode f16 vs f32",
        &out.to_dtype(DType::F32).unwrap(),
        &ours_f32,
        5e-2,
    );
    let x = c.t["encode_in"].to_dtype(DType::F16).unwrap();
    let mean = vae.encode(&x).unwrap().to_dtype(DType::F32).unwrap();
    check(
        "wan_tiny encode f16 vs f32",
        &mean,
        &c.t["encode_mean"],
        5e-3,
    );
}

/// A clip folded into channels (kino-mini's clip autoencoder codes it so) unfolds back to
/// itself, channel `c * T + t` being channel `c` of frame `t`; a wrong count is an error.
#[test]
fn frames_fold_into_channels_and_back() {
    use kino_models::vae::{fold_frames, unfold_frames};
    let values: Vec<f32> = (0..2 * 3 * 4 * 2 * 5).map(|v| v as f32).collect();
    let clip = Tensor::from_vec(values, (2, 3, 4, 2, 5), &Device::Cpu).unwrap();
    let folded = fold_frames(&clip).unwrap();
    assert_eq!(folded.dims(), &[2, 12, 1, 2, 5]);
    let (c, t) = (2, 3);
    assert_eq!(
        max_abs_diff(
            &folded.get(1).unwrap().get(c * 4 + t).unwrap(),
            &clip
                .get(1)
                .unwrap()
                .get(c)
                .unwrap()
                .get(t)
                .unwrap()
                .unsqueeze(0)
                .unwrap()
        ),
        0.0
    );
    assert_eq!(
        max_abs_diff(&unfold_frames(&folded, 4).unwrap(), &clip),
        0.0
    );
    let err = unfold_frames(&folded, 5).unwrap_err().to_string();
    assert!(err.contains("5 frames"), "{err}");
}
