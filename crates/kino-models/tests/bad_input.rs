//! Broken copies of tests/fixtures/wan-tiny: each failure is an error that names the file and
//! the field or tensor to look at, never a panic.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use candle_core::{DType, Device};
use kino_models::{LoadError, ModelDir, Weights};

/// The error's message, after checking that it mentions every one of `parts`.
fn message_naming(err: &LoadError, parts: &[&str]) -> String {
    let msg = err.to_string();
    for part in parts {
        assert!(msg.contains(part), "{msg:?} does not mention {part:?}");
    }
    msg
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn missing_component_folder_names_it() {
    let tmp = common::fixture_copy();
    std::fs::remove_dir_all(tmp.path().join("vae")).unwrap();
    let err = ModelDir::open(tmp.path()).unwrap_err();
    assert!(matches!(err, LoadError::MissingComponent { ref component, .. } if component == "vae"));
    message_naming(&err, &["component `vae`", &show(&tmp.path().join("vae"))]);
}

#[test]
fn missing_model_index_names_it() {
    let tmp = common::fixture_copy();
    std::fs::remove_file(tmp.path().join("model_index.json")).unwrap();
    let err = ModelDir::open(tmp.path()).unwrap_err();
    message_naming(&err, &[&show(&tmp.path().join("model_index.json"))]);
    let err = ModelDir::open(tmp.path().join("nowhere")).unwrap_err();
    message_naming(&err, &["nowhere"]);
}

#[test]
fn unlisted_component_is_an_error() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let err = model.weights("transformer_2").unwrap_err();
    message_naming(&err, &["model_index.json", "no component `transformer_2`"]);
}

#[test]
fn corrupt_safetensors_header_names_the_file() {
    let tmp = common::fixture_copy();
    let file = tmp.path().join("vae/diffusion_pytorch_model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8..24].copy_from_slice(b"not json at all!");
    std::fs::write(&file, &bytes).unwrap();
    let err = Weights::open(file.parent().unwrap()).unwrap_err();
    assert!(matches!(err, LoadError::CorruptSafetensors { .. }), "{err}");
    message_naming(
        &err,
        &[
            "corrupt safetensors file",
            &show(&file),
            "not a JSON object",
        ],
    );

    // A header length beyond the end of the file.
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let err = Weights::open(file.parent().unwrap()).unwrap_err();
    message_naming(&err, &[&show(&file), "header length"]);

    // Truncated data: offsets point past the end.
    std::fs::write(
        &file,
        &std::fs::read(common::fixture().join("vae/diffusion_pytorch_model.safetensors")).unwrap()
            [..20_000],
    )
    .unwrap();
    let err = Weights::open(file.parent().unwrap()).unwrap_err();
    message_naming(&err, &[&show(&file), "outside the"]);

    // Too short even for the length prefix.
    std::fs::write(&file, b"abc").unwrap();
    let err = Weights::open(file.parent().unwrap()).unwrap_err();
    message_naming(&err, &[&show(&file), "too short"]);
}

#[test]
fn wrong_shape_names_tensor_file_and_both_shapes() {
    let weights = Weights::open(common::fixture().join("transformer")).unwrap();
    let name = "blocks.1.attn1.to_q.weight";
    let (file, _) = weights.info(name).unwrap();
    let err = weights
        .get(name, &[32, 16], DType::F32, &Device::Cpu)
        .unwrap_err();
    let msg = message_naming(&err, &[&show(file), name, "[32, 32]", "[32, 16]"]);
    assert_eq!(
        msg,
        format!(
            "failed to load transformer weights from {}: tensor {name} has shape [32, 32], expected [32, 16]",
            show(file)
        )
    );
}

#[test]
fn missing_tensor_names_tensor_and_files() {
    let weights = Weights::open(common::fixture().join("transformer")).unwrap();
    let err = weights
        .get(
            "blocks.7.attn1.to_q.weight",
            &[32, 32],
            DType::F32,
            &Device::Cpu,
        )
        .unwrap_err();
    assert!(matches!(err, LoadError::MissingTensor { .. }));
    message_naming(
        &err,
        &[
            "transformer",
            "blocks.7.attn1.to_q.weight",
            "diffusion_pytorch_model-00001-of-00003.safetensors",
        ],
    );
    assert!(!weights.contains("blocks.7.attn1.to_q.weight"));
}

#[test]
fn index_pointing_at_the_wrong_shard_names_that_shard() {
    let tmp = common::fixture_copy();
    let dir = tmp.path().join("transformer");
    let index = dir.join("diffusion_pytorch_model.safetensors.index.json");
    let weights = Weights::open(&dir).unwrap();
    let (file, _) = weights.info("proj_out.weight").unwrap();
    let right = file.file_name().unwrap().to_string_lossy().into_owned();
    let wrong = ["00001", "00002", "00003"]
        .iter()
        .map(|n| format!("diffusion_pytorch_model-{n}-of-00003.safetensors"))
        .find(|s| *s != right)
        .unwrap();
    common::edit(
        &index,
        &format!("\"proj_out.weight\": \"{right}\""),
        &format!("\"proj_out.weight\": \"{wrong}\""),
    );
    let err = Weights::open(&dir)
        .unwrap()
        .get("proj_out.weight", &[16, 32], DType::F32, &Device::Cpu)
        .unwrap_err();
    message_naming(&err, &["proj_out.weight", &wrong]);
}

#[test]
fn missing_shard_names_index_and_shard() {
    let tmp = common::fixture_copy();
    let shard = tmp
        .path()
        .join("transformer/diffusion_pytorch_model-00002-of-00003.safetensors");
    std::fs::remove_file(&shard).unwrap();
    let err = Weights::open(tmp.path().join("transformer")).unwrap_err();
    assert!(matches!(err, LoadError::MissingShard { .. }));
    message_naming(
        &err,
        &[
            &show(&shard),
            "diffusion_pytorch_model.safetensors.index.json",
        ],
    );
}

#[test]
fn folder_without_weights_is_an_error() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let err = model.weights("tokenizer").unwrap_err();
    assert!(matches!(err, LoadError::NoWeights { .. }));
    message_naming(&err, &["no *.safetensors", "tokenizer"]);
}

#[test]
fn several_unindexed_files_are_ambiguous_unless_one_is_the_standard_name() {
    let tmp = common::fixture_copy();
    let dir = tmp.path().join("vae");
    let standard = dir.join("diffusion_pytorch_model.safetensors");
    std::fs::copy(
        &standard,
        dir.join("diffusion_pytorch_model.fp16.safetensors"),
    )
    .unwrap();
    assert!(
        Weights::open(&dir).unwrap().files()[0].ends_with("diffusion_pytorch_model.safetensors")
    );
    std::fs::rename(&standard, dir.join("other.safetensors")).unwrap();
    let err = Weights::open(&dir).unwrap_err();
    message_naming(&err, &["several weight files", "other.safetensors"]);
}

/// Writes a broken config into a copy and returns the error of reading it.
fn transformer_config_error(from: &str, to: &str) -> (tempfile::TempDir, LoadError) {
    let tmp = common::fixture_copy();
    common::edit(&tmp.path().join("transformer/config.json"), from, to);
    let err = ModelDir::open(tmp.path())
        .unwrap()
        .transformer_config()
        .unwrap_err();
    (tmp, err)
}

#[test]
fn patch_size_with_two_entries_names_the_field() {
    let (tmp, err) = transformer_config_error(
        "\"patch_size\": [\n    1,\n    2,\n    2\n  ]",
        "\"patch_size\": [2, 2]",
    );
    assert!(matches!(err, LoadError::InvalidConfig { ref field, .. } if field == "patch_size"));
    message_naming(
        &err,
        &[
            &show(&tmp.path().join("transformer/config.json")),
            "`patch_size`",
            "expected 3",
        ],
    );
}

#[test]
fn string_where_a_number_goes_names_the_field() {
    let (tmp, err) = transformer_config_error("\"num_layers\": 2", "\"num_layers\": \"two\"");
    message_naming(
        &err,
        &[
            &show(&tmp.path().join("transformer/config.json")),
            "`num_layers`",
            "invalid type: string \"two\"",
        ],
    );
}

#[test]
fn missing_required_field_is_named() {
    let (_tmp, err) = transformer_config_error("\"ffn_dim\": 32,", "");
    message_naming(
        &err,
        &["transformer/config.json", "missing field `ffn_dim`"],
    );
}

#[test]
fn malformed_json_names_the_file() {
    let (_tmp, err) = transformer_config_error("\"ffn_dim\": 32,", "\"ffn_dim\": 32,,");
    message_naming(&err, &["transformer/config.json", "line"]);
}

#[test]
fn image_to_video_transformer_is_refused() {
    let (_tmp, err) = transformer_config_error("\"image_dim\": null", "\"image_dim\": 1280");
    message_naming(&err, &["`image_dim`", "text-to-video"]);
}

#[test]
fn vae_latent_stats_must_match_z_dim() {
    let tmp = common::fixture_copy();
    let path = tmp.path().join("vae/config.json");
    common::edit(&path, "\"z_dim\": 4", "\"z_dim\": 16");
    let err = ModelDir::open(tmp.path())
        .unwrap()
        .vae_config()
        .unwrap_err();
    message_naming(
        &err,
        &[&show(&path), "`latents_mean`", "expected z_dim = 16"],
    );
}

#[test]
fn t5_instead_of_umt5_is_refused() {
    let tmp = common::fixture_copy();
    let path = tmp.path().join("text_encoder/config.json");
    common::edit(&path, "\"model_type\": \"umt5\"", "\"model_type\": \"t5\"");
    let err = ModelDir::open(tmp.path())
        .unwrap()
        .text_encoder_config()
        .unwrap_err();
    message_naming(&err, &[&show(&path), "`model_type`", "\"umt5\""]);
}

#[test]
fn model_index_with_a_malformed_component_names_it() {
    let tmp = common::fixture_copy();
    let path = tmp.path().join("model_index.json");
    common::edit(&path, "\"AutoencoderKLWan\"", "7");
    let err = ModelDir::open(tmp.path()).unwrap_err();
    message_naming(&err, &[&show(&path), "`vae`", "[library, class]"]);
}
