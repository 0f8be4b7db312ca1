//! The Wan DiT (`kino_models::dit`) against diffusers 0.42.1's `WanTransformer3DModel.forward`.
//!
//! Golden fixtures: tests/fixtures/dit/{wan_tiny,wan_dit_b}.safetensors, made by
//! `tools/reference/make_dit_fixtures.py` (float32, CPU). `wan_tiny` runs the sharded
//! transformer of tests/fixtures/wan-tiny (head dim 16, RoPE split 8/4/4, patch (1, 2, 2),
//! cross_attn_norm); `wan_dit_b` a second config saved by the script (head dim 20, split 8/6/6,
//! patch (2, 2, 1), 5 -> 3 channels, 3 layers, no cross_attn_norm, eps 1e-5). Each is a batch of
//! two timesteps (999 and 250.5; 871.25 and 3) with seeded latents and text.
//!
//! Tolerance: everything is f32; the reference's matmuls, LayerNorm and SDPA sum in other orders
//! (and PyTorch's CPU attention tiles its softmax), so results differ by float rounding that
//! grows through the blocks. We allow 1e-5 times max(1, the reference's largest magnitude)
//! for every stage. Measured max |ours - reference| (x86-64, 2 threads):
//! - wan_tiny: RoPE tables 0 (bit-exact), patch embedding 2.4e-7, temb / timestep_proj / text
//!   6e-8, block 0 3.6e-7, output 4.8e-7 (|output| <= 2.05);
//! - wan_dit_b: RoPE 0, patch embedding 9.5e-7, temb 4.8e-7, timestep_proj 1.2e-6, text 9.5e-7,
//!   block 0 2.3e-5 (|block 0| <= 44.7), output 5.7e-6 (|output| <= 11.0);
//! - with 7-query x 5-key attention tiles (online softmax everywhere): 4.8e-7 and 6.7e-6.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kino_models::dit::{self, WanTransformer3D};
use kino_models::{ModelDir, WanTransformerConfig, Weights};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(case: &str) -> HashMap<String, Tensor> {
    let path = repo().join(format!("tests/fixtures/dit/{case}.safetensors"));
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap()
}

/// The largest |a - b| and the largest |b|.
fn max_diff(a: &Tensor, b: &Tensor) -> (f32, f32) {
    let diff = kino_testkit::max_abs_diff(a, b);
    let scale = b.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    (diff, scale.to_scalar::<f32>().unwrap())
}

#[track_caller]
fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, rel: f32) {
    let (diff, scale) = max_diff(ours, reference);
    eprintln!("{what}: max |ours - reference| = {diff:.3e} (max |reference| = {scale:.3e})");
    assert!(
        diff <= rel * scale.max(1.0),
        "{what}: max abs difference {diff:e} over {rel:e} * {scale}"
    );
}

/// The wan-tiny transformer, through the model directory as a pipeline would open it.
fn wan_tiny() -> WanTransformer3D {
    let model = ModelDir::open(repo().join("tests/fixtures/wan-tiny")).unwrap();
    let cfg = model.transformer_config().unwrap();
    let vb = Weights::open(model.component_dir("transformer").unwrap())
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    WanTransformer3D::new(&cfg, vb).unwrap()
}

/// The second config: a bare `transformer` folder as `save_pretrained` wrote it.
fn wan_dit_b() -> WanTransformer3D {
    let dir = repo().join("tests/fixtures/dit/wan_dit_b");
    let cfg = WanTransformerConfig::from_file(&dir.join("config.json")).unwrap();
    let vb = Weights::open(&dir)
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    WanTransformer3D::new(&cfg, vb).unwrap()
}

/// Compares every stage the fixture recorded, then the output.
fn check_case(model: &WanTransformer3D, case: &str, rel: f32) {
    let f = fixture(case);
    let (latents, timestep, text) = (&f["latents"], &f["timestep"], &f["encoder_hidden_states"]);
    let cfg = model.config();
    let (_, _, t, h, w) = latents.dims5().unwrap();
    let [pt, ph, pw] = cfg.patch();

    // RoPE: the reference stores repeat-interleaved (N, head_dim) tables; ours hold one angle
    // per pair, (N, head_dim / 2).
    let tables = model
        .rope()
        .forward([t / pt, h / ph, w / pw], &Device::Cpu)
        .unwrap();
    let pairs = |x: &Tensor| {
        let (n, d) = x.dims2().unwrap();
        x.reshape((n, d / 2, 2))
            .unwrap()
            .narrow(2, 0, 1)
            .unwrap()
            .squeeze(2)
            .unwrap()
    };
    assert_close("rope cos", &tables.cos, &pairs(&f["rope_cos"]), 1e-6);
    assert_close("rope sin", &tables.sin, &pairs(&f["rope_sin"]), 1e-6);

    // The Conv3d's (B, dim, T', H', W') -> (B, N, dim).
    let patches = model.patch_embedding().forward(latents).unwrap();
    let expected = f["patch_embedding"]
        .flatten_from(2)
        .unwrap()
        .transpose(1, 2)
        .unwrap();
    assert_close("patch_embedding", &patches, &expected, 1e-5);

    let cond = model.condition_embedder().forward(timestep, text).unwrap();
    assert_close("temb", &cond.temb, &f["temb"], 1e-5);
    let proj = f["timestep_proj"]
        .reshape(cond.timestep_proj.dims())
        .unwrap();
    assert_close("timestep_proj", &cond.timestep_proj, &proj, 1e-5);
    assert_close("text_proj", &cond.text, &f["text_proj"], 1e-5);

    let block0 = model.blocks()[0]
        .forward(&patches, &cond.text, &cond.timestep_proj, &tables)
        .unwrap();
    assert_close("block0", &block0, &f["block0"], rel);

    let out = model.forward(latents, timestep, text).unwrap();
    assert_eq!(
        out.dims(),
        [latents.dim(0).unwrap(), cfg.out_channels(), t, h, w]
    );
    assert_close("output", &out, &f["output"], rel);
}

#[test]
fn wan_tiny_forward_matches_diffusers() {
    check_case(&wan_tiny(), "wan_tiny", 1e-5);
}

#[test]
fn second_config_forward_matches_diffusers() {
    check_case(&wan_dit_b(), "wan_dit_b", 1e-5);
}

/// Tiles smaller than the sequence (45 and 54 tokens; 9 and 7 text tokens) take the
/// online-softmax path in every attention layer; the result must still match the reference.
#[test]
fn tiled_attention_in_the_model_matches_diffusers() {
    for (mut model, case) in [(wan_tiny(), "wan_tiny"), (wan_dit_b(), "wan_dit_b")] {
        model.set_attention_tiles(dit::AttentionTiles {
            queries: 7,
            keys: 5,
        });
        let f = fixture(case);
        let out = model
            .forward(&f["latents"], &f["timestep"], &f["encoder_hidden_states"])
            .unwrap();
        assert_close(case, &out, &f["output"], 1e-5);
    }
}

/// Deterministic values in [-amp, amp) (a 64-bit LCG), shaped `dims`.
fn pseudo_random(dims: &[usize], seed: u64, amp: f32) -> Tensor {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amp
        })
        .collect();
    Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
}

/// `softmax(q k^T / sqrt(d)) v` with the whole score matrix, the textbook formula.
fn naive_attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    let d = q.dim(3).unwrap() as f64;
    let scores = (q.matmul(&k.t().unwrap()).unwrap() / d.sqrt()).unwrap();
    candle_nn::ops::softmax(&scores, 3)
        .unwrap()
        .matmul(v)
        .unwrap()
}

/// Tiled attention equals the naive formula, for tile lengths that do and do not divide the
/// query and key lengths, one tile, self- and cross-attention shapes, and peaked scores
/// (amplitude 4: some rows put almost all their weight on one key, so the online maximum
/// matters).
#[test]
fn tiled_attention_equals_naive_attention() {
    for (n, m, amp) in [(37, 37, 1.0), (50, 23, 4.0), (16, 64, 4.0), (1, 9, 1.0)] {
        let q = pseudo_random(&[2, 3, n, 8], 1, amp);
        let k = pseudo_random(&[2, 3, m, 8], 2, amp);
        let v = pseudo_random(&[2, 3, m, 8], 3, 1.0);
        let expected = naive_attention(&q, &k, &v);
        let sizes = [1, 3, 5, 16, 36, 37, 64, 1000];
        let tiles = sizes.iter().map(|&s| dit::AttentionTiles::square(s)).chain(
            [(7, 2), (2, 7), (64, 5), (5, 64)]
                .map(|(queries, keys)| dit::AttentionTiles { queries, keys }),
        );
        for tile in tiles {
            let ours = dit::attention(&q, &k, &v, tile).unwrap();
            let (diff, _) = max_diff(&ours, &expected);
            // Measured <= 1.3e-6 (values are O(1); the peaked amp-4 cases are the largest).
            assert!(diff < 5e-6, "n={n} m={m} {tile:?}: {diff:e}");
        }
    }
}

#[test]
fn attention_rejects_mismatched_shapes() {
    let q = pseudo_random(&[1, 2, 5, 8], 1, 1.0);
    let k = pseudo_random(&[1, 2, 6, 4], 2, 1.0);
    let tiles = dit::AttentionTiles::default();
    let err = dit::attention(&q, &k, &k, tiles).unwrap_err().to_string();
    assert!(err.contains("do not fit"), "{err}");
    let zero = dit::AttentionTiles {
        queries: 4,
        keys: 0,
    };
    assert!(dit::attention(&q, &q, &q, zero).is_err());
}

/// The RoPE split is `WanRotaryPosEmbed`'s for every head dim (44/42/42 for Wan 2.1's 128),
/// the tables hold `pos * 10000^(-2j/n)` per axis part, and rotating keeps every pair's norm.
#[test]
fn rope_split_tables_and_rotation() {
    let mut cfg = WanTransformerConfig::t2v_1_3b();
    for (head_dim, split) in [
        (128, [44, 42, 42]),
        (16, [8, 4, 4]),
        (20, [8, 6, 6]),
        (24, [8, 8, 8]),
        (64, [24, 20, 20]),
    ] {
        cfg.attention_head_dim = head_dim;
        assert_eq!(dit::WanRotaryPosEmbed::new(&cfg).dims(), split);
    }
    cfg.attention_head_dim = 128;
    let rope = dit::WanRotaryPosEmbed::new(&cfg);
    let grid = [3, 4, 5];
    let tables = rope.forward(grid, &Device::Cpu).unwrap();
    assert_eq!(tables.cos.dims(), [60, 64]);
    // Token (f, h, w) = (2, 3, 1) is row 2*20 + 3*5 + 1; check one pair of each axis part.
    let row = tables
        .sin
        .get(2 * 20 + 3 * 5 + 1)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let angle = |pos: f64, j: usize, n: usize| pos * 10000f64.powf(-(2.0 * j as f64) / n as f64);
    for (index, pos, j, n) in [
        (1, 2.0, 1, 44),
        (22 + 5, 3.0, 5, 42),
        (22 + 21 + 20, 1.0, 20, 42),
    ] {
        assert!(
            (row[index] - angle(pos, j, n).sin() as f32).abs() < 1e-7,
            "pair {index}"
        );
    }
    // Rotation keeps the norm of each (even, odd) channel pair.
    let x = pseudo_random(&[1, 2, 60, 128], 7, 1.0);
    let y = dit::rope(&x, &tables).unwrap();
    let pair_norms = |t: &Tensor| {
        t.reshape((1, 2, 60, 64, 2))
            .unwrap()
            .sqr()
            .unwrap()
            .sum(4)
            .unwrap()
    };
    let (diff, _) = max_diff(&pair_norms(&y), &pair_norms(&x));
    assert!(diff < 1e-5, "{diff:e}");
    // Position 0 is the identity.
    let (diff, _) = max_diff(&y.narrow(2, 0, 1).unwrap(), &x.narrow(2, 0, 1).unwrap());
    assert_eq!(diff, 0.0);
    // Past rope_max_seq_len along an axis is an error that names the axis.
    let err = rope
        .forward([2, 1025, 4], &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("height") && err.contains("1024"), "{err}");
}

/// A config that does not fit the checkpoint fails at load time, naming the tensor and both
/// shapes (here `ffn_dim` 48 against wan-tiny's 32).
#[test]
fn wrong_config_names_the_tensor_and_both_shapes() {
    let model = ModelDir::open(repo().join("tests/fixtures/wan-tiny")).unwrap();
    let mut cfg = model.transformer_config().unwrap();
    cfg.ffn_dim = 48;
    let vb = Weights::open(model.component_dir("transformer").unwrap())
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    let err = WanTransformer3D::new(&cfg, vb).unwrap_err().to_string();
    assert!(err.contains("blocks.0.ffn.net.0.proj.weight"), "{err}");
    assert!(
        err.contains("[32, 32]") && err.contains("[48, 32]"),
        "{err}"
    );
}

/// Inputs that do not fit the model are refused with their shapes, before any work.
#[test]
fn bad_inputs_are_refused() {
    let model = wan_tiny();
    let text = pseudo_random(&[1, 4, 32], 1, 1.0);
    let t = Tensor::new(&[500f32], &Device::Cpu).unwrap();
    // Height 5 is not a multiple of the patch height 2.
    let odd = pseudo_random(&[1, 4, 2, 5, 4], 2, 1.0);
    let err = model.forward(&odd, &t, &text).unwrap_err().to_string();
    assert!(err.contains("multiples of the patch size"), "{err}");
    // Wrong channel count.
    let wrong_c = pseudo_random(&[1, 3, 2, 4, 4], 3, 1.0);
    assert!(model.forward(&wrong_c, &t, &text).is_err());
    // Text of the wrong width, and a timestep per sample missing.
    let ok = pseudo_random(&[1, 4, 2, 4, 4], 4, 1.0);
    let wide = pseudo_random(&[1, 4, 33], 5, 1.0);
    assert!(model.forward(&ok, &t, &wide).is_err());
    let two = Tensor::new(&[500f32, 10.0], &Device::Cpu).unwrap();
    assert!(model.forward(&ok, &two, &text).is_err());
    assert_eq!(
        model.forward(&ok, &t, &text).unwrap().dims(),
        [1, 4, 2, 4, 4]
    );
}

/// The batch is independent: sample 1 of a batch of two equals that sample run alone.
#[test]
fn batch_elements_are_independent() {
    let model = wan_dit_b();
    let f = fixture("wan_dit_b");
    let one = |t: &Tensor| t.narrow(0, 1, 1).unwrap();
    let alone = model
        .forward(
            &one(&f["latents"]),
            &one(&f["timestep"]),
            &one(&f["encoder_hidden_states"]),
        )
        .unwrap();
    assert_close("batch element 1", &alone, &one(&f["output"]), 1e-5);
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// One head of Wan 2.1 1.3B self-attention at 480x832x81 (21 x 30 x 52 = 32,760 tokens, head
/// dim 128): the full score matrix would be 32,760^2 f32 = 4.3 GB; tiled, the peak grows by
/// well under 256 MB (measured: 58 MB, 13 s on 2 cores). Too slow for every run; on demand:
/// `cargo test -p kino-models --test dit -- --ignored --test-threads 1`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "full-size sequence: ~550 GFLOP; run on demand with --ignored"]
fn full_size_attention_stays_memory_bounded() {
    let n = 21 * 30 * 52;
    let q = pseudo_random(&[1, 1, n, 128], 1, 1.0);
    let k = pseudo_random(&[1, 1, n, 128], 2, 1.0);
    let v = pseudo_random(&[1, 1, n, 128], 3, 1.0);
    let before = peak_rss();
    let started = std::time::Instant::now();
    let out = dit::attention(&q, &k, &v, dit::AttentionTiles::default()).unwrap();
    let grown = peak_rss().saturating_sub(before);
    eprintln!(
        "{n} tokens: {:.1} s, peak memory grew by {} MB",
        started.elapsed().as_secs_f64(),
        grown >> 20
    );
    assert_eq!(out.dims(), [1, 1, n, 128]);
    assert!(grown < 256 << 20, "peak memory grew by {grown} bytes");
    // Spot-check the first query row against the formula on the whole key set.
    let expected = naive_attention(&q.narrow(2, 0, 1).unwrap(), &k, &v);
    let (diff, _) = max_diff(&out.narrow(2, 0, 1).unwrap(), &expected);
    assert!(diff < 1e-5, "{diff:e}");
}

/// Loaded in bf16 (f32 on disk), the model runs with the reference's f32 islands and lands
/// near the f32 reference; bf16 keeps 8 bits of mantissa, so only loosely (measured max
/// difference 1.4e-2 against |output| <= 2.05; allowed 5e-2 x 2.05).
#[test]
fn bf16_forward_is_close_to_the_f32_reference() {
    let model = ModelDir::open(repo().join("tests/fixtures/wan-tiny")).unwrap();
    let cfg = model.transformer_config().unwrap();
    let vb = Weights::open(model.component_dir("transformer").unwrap())
        .unwrap()
        .into_var_builder(DType::BF16, &Device::Cpu);
    let dit = WanTransformer3D::new(&cfg, vb).unwrap();
    assert_eq!(dit.dtype(), DType::BF16);
    let f = fixture("wan_tiny");
    let out = dit
        .forward(&f["latents"], &f["timestep"], &f["encoder_hidden_states"])
        .unwrap();
    assert_eq!(out.dtype(), DType::BF16);
    assert_close(
        "bf16 output",
        &out.to_dtype(DType::F32).unwrap(),
        &f["output"],
        5e-2,
    );
}

/// A weight source that remembers which tensors were read.
struct Recording {
    weights: Weights,
    read: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl candle_nn::var_builder::SimpleBackend for Recording {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.read.lock().unwrap().insert(name.to_string());
        let t = self.weights.get(name, s.dims(), dtype, dev);
        t.map_err(candle_core::Error::wrap)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.read.lock().unwrap().insert(name.to_string());
        let t = self.weights.get_unchecked(name, dtype, dev);
        t.map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.weights.contains(name)
    }
}

/// The model reads every tensor of both checkpoints (none is silently ignored) and nothing
/// else.
#[test]
fn every_checkpoint_tensor_is_used() {
    for dir in [
        "tests/fixtures/wan-tiny/transformer",
        "tests/fixtures/dit/wan_dit_b",
    ] {
        let dir = repo().join(dir);
        let cfg = WanTransformerConfig::from_file(&dir.join("config.json")).unwrap();
        let weights = Weights::open(&dir).unwrap();
        let stored: std::collections::BTreeSet<String> =
            weights.names().map(str::to_string).collect();
        let read = std::sync::Arc::default();
        let backend = Recording {
            weights,
            read: std::sync::Arc::clone(&read),
        };
        let vb = candle_nn::VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
        WanTransformer3D::new(&cfg, vb).unwrap();
        assert_eq!(*read.lock().unwrap(), stored, "{}", dir.display());
    }
}
