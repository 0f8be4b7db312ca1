//! Golden and invariant tests of `kino_models::text`: prompt cleaning, tokenizer ids, the umT5
//! encoder and the padded prompt embeddings.
//!
//! Golden data: tests/fixtures/umt5/, made by tools/reference/make_umt5_fixtures.py with
//! diffusers 0.42.1 / transformers 5.24.0 / torch 2.15.0 on CPU in float32:
//! - `clean_cases` in manifest.json: `pipeline_wan.prompt_clean` (no ftfy installed);
//! - `<case>.safetensors`: the tokenizer call of `WanPipeline._get_t5_prompt_embeds`
//!   (`input_ids`, `attention_mask`) and that method's own return value (`prompt_embeds`), on
//!   the wan-tiny pipeline (tests/fixtures/wan-tiny, text encoder stored bf16, run in f32);
//! - `config_b/` + `config_b_outputs.safetensors`: `UMT5EncoderModel(...).last_hidden_state`
//!   of a second, differently shaped encoder;
//! - `buckets.safetensors`: `UMT5Attention._relative_position_bucket` (encoder side).
#![allow(clippy::unwrap_used)]

mod common;

use kino_testkit::max_abs_diff;
use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, IndexOp, Tensor};
use kino_models::text::{
    PromptEncoder, TruncationWarning, Umt5Encoder, WanTokenizer, clean_prompt,
    relative_position_bucket,
};
use kino_models::{LoadError, ModelDir, Umt5Config, Weights};
use serde_json::Value;

/// Tolerance on the encoder outputs, f32 against f32. Both sides sum the same few products
/// (d_model 24/32, d_ff 40/64) in a different order; RMS norms keep values near 1, so rounding
/// differences are a few ulps of 1 (1e-7 each) and stay far below this. Measured: see the
/// comment in each test.
const TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/umt5")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).unwrap()
}

fn wan_tokenizer() -> WanTokenizer {
    WanTokenizer::from_file(common::fixture().join("tokenizer/tokenizer.json")).unwrap()
}

fn ids_u32(t: &Tensor) -> Vec<Vec<u32>> {
    t.to_dtype(DType::U32).unwrap().to_vec2().unwrap()
}

struct PromptCase {
    name: String,
    prompts: Vec<String>,
    max_len: usize,
    untruncated: Vec<usize>,
}

fn prompt_cases() -> Vec<PromptCase> {
    let manifest = manifest();
    let cases = manifest["prompt_cases"].as_object().unwrap();
    cases
        .iter()
        .map(|(name, case)| PromptCase {
            name: name.clone(),
            prompts: case["prompts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect(),
            max_len: case["max_sequence_length"].as_u64().unwrap() as usize,
            untruncated: case["untruncated_lengths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap() as usize)
                .collect(),
        })
        .collect()
}

#[test]
fn prompt_clean_matches_reference() {
    let manifest = manifest();
    let cases = manifest["clean_cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let (input, expected) = (case[0].as_str().unwrap(), case[1].as_str().unwrap());
        assert_eq!(clean_prompt(input), expected, "prompt_clean({input:?})");
    }
}

#[test]
fn tokenizer_ids_match_reference() {
    let tokenizer = wan_tokenizer();
    let cases = prompt_cases();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let prompts: Vec<&str> = case.prompts.iter().map(String::as_str).collect();
        let got = tokenizer.tokenize(&prompts, case.max_len).unwrap();
        let want = load(&format!("{}.safetensors", case.name));
        assert_eq!(got.input_ids, ids_u32(&want["input_ids"]), "{}", case.name);
        assert_eq!(
            got.attention_mask,
            ids_u32(&want["attention_mask"]),
            "{}",
            case.name
        );
        let expected_warnings: Vec<TruncationWarning> = case
            .untruncated
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > case.max_len)
            .map(|(i, n)| TruncationWarning {
                prompt_index: i,
                tokens: *n,
                kept: case.max_len,
            })
            .collect();
        assert_eq!(got.warnings, expected_warnings, "{}", case.name);
        for (row, ids) in got.input_ids.iter().enumerate() {
            assert_eq!(ids[got.lengths[row] - 1], 1, "every row ends in </s>");
        }
    }
}

#[test]
fn truncation_warning_names_dropped_tokens() {
    let tokenizer = wan_tokenizer();
    let got = tokenizer
        .tokenize(&["a red ball", "a red ball moves left over the sky"], 4)
        .unwrap();
    assert_eq!(got.input_ids, vec![vec![4, 6, 9, 1], vec![4, 6, 9, 1]]);
    assert_eq!(got.warnings.len(), 1);
    let w = &got.warnings[0];
    assert_eq!(
        (w.prompt_index, w.tokens, w.kept, w.dropped()),
        (1, 9, 4, 5)
    );
    assert!(w.to_string().contains("5 dropped"), "{w}");
    // Room for `</s>` alone: the prompt is dropped whole, not the end marker.
    let got = tokenizer.tokenize(&["a red ball"], 1).unwrap();
    assert_eq!(got.input_ids, vec![vec![1]]);
    assert!(tokenizer.tokenize(&["a"], 0).is_err());
}

#[test]
fn empty_batch_is_an_error() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let encoder = PromptEncoder::load(&model, &Device::Cpu).unwrap();
    let err = encoder.encode(&[]).unwrap_err();
    assert!(err.to_string().contains("no prompts"), "{err}");
}

#[test]
fn prompt_embeds_match_reference() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let encoder = PromptEncoder::load(&model, &Device::Cpu).unwrap();
    assert_eq!(encoder.max_sequence_length(), 512);
    let mut worst = 0f32;
    for case in prompt_cases() {
        let encoder = encoder.clone().with_max_sequence_length(case.max_len);
        let prompts: Vec<&str> = case.prompts.iter().map(String::as_str).collect();
        let (embeds, warnings) = encoder.encode(&prompts).unwrap();
        let want = &load(&format!("{}.safetensors", case.name))["prompt_embeds"];
        assert_eq!(embeds.dims(), want.dims(), "{}", case.name);
        let diff = max_abs_diff(&embeds, want);
        assert!(diff <= TOL, "{}: max abs diff {diff}", case.name);
        worst = worst.max(diff);
        assert_eq!(
            warnings.len(),
            usize::from(case.name == "truncated_16"),
            "{}",
            case.name
        );
    }
    // Measured: 9.8e-7 (values up to about 3.3).
    eprintln!("prompt_embeds max abs diff {worst:e}");
}

#[test]
fn second_config_encoder_matches_reference() {
    let dir = fixtures().join("config_b");
    let cfg = Umt5Config::from_file(&dir.join("config.json")).unwrap();
    assert_eq!((cfg.d_kv, cfg.num_heads, cfg.num_layers), (10, 3, 3));
    assert_ne!(cfg.inner_dim(), cfg.d_model);
    let vb = Weights::open(&dir)
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    let encoder = Umt5Encoder::new(&cfg, vb).unwrap();
    let want = load("config_b_outputs.safetensors");
    // Ids and mask as i64, as torch gives them; padded positions are compared too.
    let got = encoder
        .forward(&want["input_ids"], &want["attention_mask"])
        .unwrap();
    let diff = max_abs_diff(&got, &want["last_hidden_state"]);
    // Measured: 1.3e-6 (values up to about 3.5).
    eprintln!("config_b last_hidden_state max abs diff {diff:e}");
    assert!(diff <= TOL, "max abs diff {diff}");
}

#[test]
fn relative_position_buckets_match_reference() {
    let tables = load("buckets.safetensors");
    let positions: Vec<i64> = tables["relative_position"].to_vec1().unwrap();
    for (buckets, distance) in [(32, 128), (8, 16), (12, 20)] {
        let want: Vec<i64> = tables[&format!("buckets_{buckets}_{distance}")]
            .to_vec1()
            .unwrap();
        for (&rel, &bucket) in positions.iter().zip(&want) {
            assert_eq!(
                relative_position_bucket(rel, buckets, distance) as i64,
                bucket,
                "relative position {rel}, {buckets} buckets, max distance {distance}"
            );
        }
    }
}

#[test]
fn padding_rows_are_zero_and_rows_do_not_depend_on_batch_or_length() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let encoder = PromptEncoder::load(&model, &Device::Cpu)
        .unwrap()
        .with_max_sequence_length(20);
    let prompts = ["a red ball moves left", "the sky"];
    let (batch, _) = encoder.encode(&prompts).unwrap();
    let lengths = encoder.tokenizer().tokenize(&prompts, 20).unwrap().lengths;
    assert_eq!(lengths, vec![6, 3]);
    for (row, &len) in lengths.iter().enumerate() {
        let pad = batch.i((row, len.., ..)).unwrap();
        assert_eq!(
            pad.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        let real = batch.i((row, ..len, ..)).unwrap();
        assert!(
            real.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
        // The same prompt alone, with a shorter padding: padded keys are masked out and the
        // relative bias depends only on distances, so the real rows are unchanged.
        let alone = encoder.clone().with_max_sequence_length(len + 2);
        let (single, _) = alone.encode(&prompts[row..=row]).unwrap();
        let single = single.i((0, ..len, ..)).unwrap();
        // Matrix kernels tile (and so sum) by the matrix's shape, so the rows agree to float
        // rounding, not bit for bit (1.1e-6 with the AVX-512 kernels); a key that leaked
        // through the mask would move them by orders more.
        let diff = max_abs_diff(&single, &real);
        assert!(diff <= 1e-5, "{diff}");
    }
}

#[test]
fn tokenizer_json_is_read_as_t5tokenizer_does() {
    // The fixture's tokenizer.json has a Lowercase normalizer, which transformers 5.24's
    // T5Tokenizer drops: "The" is not "the".
    let tokenizer = wan_tokenizer();
    let upper = tokenizer.tokenize(&["The"], 8).unwrap();
    let lower = tokenizer.tokenize(&["the"], 8).unwrap();
    assert_eq!(lower.input_ids[0][..2], [5, 1]);
    assert_ne!(upper.input_ids, lower.input_ids);
}

#[test]
fn bad_tokenizer_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    std::fs::write(
        &path,
        r#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
    )
    .unwrap();
    let err = WanTokenizer::from_file(&path).unwrap_err();
    assert!(matches!(err, LoadError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("Unigram"), "{err}");
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(
        WanTokenizer::from_file(&path).unwrap_err(),
        LoadError::Tokenizer { .. }
    ));
    let missing = WanTokenizer::from_file(tmp.path().join("absent.json")).unwrap_err();
    assert!(matches!(missing, LoadError::Io { .. }), "{missing}");
}

#[test]
fn bf16_encoder_stays_close_to_f32() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let prompts = ["a red ball moves left", "the sky"];
    let f32_encoder = PromptEncoder::load(&model, &Device::Cpu)
        .unwrap()
        .with_max_sequence_length(12);
    let bf16_encoder = PromptEncoder::load_as(&model, &Device::Cpu, DType::BF16)
        .unwrap()
        .with_max_sequence_length(12);
    let (full, _) = f32_encoder.encode(&prompts).unwrap();
    let (half, _) = bf16_encoder.encode(&prompts).unwrap();
    assert_eq!(half.dtype(), DType::BF16);
    let diff = max_abs_diff(&half.to_dtype(DType::F32).unwrap(), &full);
    // bf16 keeps 8 bits of mantissa: about 1e-2 relative per rounding, on values up to ~3.
    // Measured: 2.5e-2. This checks that bf16 runs and stays sane, not parity with the
    // reference's bf16 run (not in the fixtures).
    eprintln!("bf16 vs f32 max abs diff {diff:e}");
    assert!(diff < 0.1, "max abs diff {diff}");
}

#[test]
fn precompiled_normalizer_ids_match_reference() {
    // A tokenizer.json with a SentencePiece Precompiled normalizer, as real umT5 files have
    // (made by make_umt5_fixtures.py: full-width letters, the fi ligature and circled 1 are
    // mapped to ASCII). Reference: the pipeline's tokenizer call through T5Tokenizer.
    let manifest = manifest();
    let case = &manifest["precompiled"];
    let prompts: Vec<&str> = case["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let max_len = case["max_sequence_length"].as_u64().unwrap() as usize;
    let tokenizer =
        WanTokenizer::from_file(fixtures().join("precompiled_tokenizer/tokenizer.json")).unwrap();
    let got = tokenizer.tokenize(&prompts, max_len).unwrap();
    let want = load("precompiled_ids.safetensors");
    assert_eq!(got.input_ids, ids_u32(&want["input_ids"]));
    assert_eq!(got.attention_mask, ids_u32(&want["attention_mask"]));
    // The full-width "ａ red ball" became "a red ball".
    assert_eq!(got.input_ids[0], got.input_ids[3]);
}
