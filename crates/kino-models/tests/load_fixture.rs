//! Loading tests/fixtures/wan-tiny, a tiny random-weight WanPipeline that diffusers 0.42.1
//! saved (tools/reference/make_tiny_wan.py): configs parse to what the script used, weights
//! open sharded and single-file, every tensor reads, dtypes convert.
#![allow(clippy::unwrap_used)]

mod common;

use candle_core::{DType, Device, Tensor};
use kino_models::loading::StoredDType;
use kino_models::{ModelDir, Umt5Config, WanTransformerConfig, WanVaeConfig, Weights};

/// Compares our reader with candle's own (in-memory) safetensors loader, tensor by tensor.
fn assert_same_as_candle(weights: &Weights) {
    let mut seen = 0;
    for path in weights.files() {
        for (name, expected) in candle_core::safetensors::load(path, &Device::Cpu).unwrap() {
            let ours = weights
                .get_unchecked(&name, expected.dtype(), &Device::Cpu)
                .unwrap();
            assert_eq!(ours.dims(), expected.dims(), "{name}");
            let diff = kino_testkit::max_abs_diff(
                &ours.to_dtype(DType::F32).unwrap(),
                &expected.to_dtype(DType::F32).unwrap(),
            );
            assert_eq!(diff, 0.0, "{name}");
            seen += 1;
        }
    }
    assert_eq!(seen, weights.names().count());
}

#[test]
fn model_index_lists_the_wan_components() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let index = model.index();
    assert_eq!(index.pipeline_class, "WanPipeline");
    assert_eq!(index.diffusers_version.as_deref(), Some("0.42.1"));
    let names: Vec<&str> = index.components.keys().map(String::as_str).collect();
    // transformer_2 is `[null, null]` in the file: an absent optional component.
    assert_eq!(
        names,
        [
            "scheduler",
            "text_encoder",
            "tokenizer",
            "transformer",
            "vae"
        ]
    );
    let te = &index.components["text_encoder"];
    assert_eq!(
        (te.library.as_str(), te.class_name.as_str()),
        ("transformers", "UMT5EncoderModel")
    );
    let tr = &index.components["transformer"];
    assert_eq!(
        (tr.library.as_str(), tr.class_name.as_str()),
        ("diffusers", "WanTransformer3DModel")
    );
    assert_eq!(
        index.settings["expand_timesteps"],
        serde_json::Value::Bool(false)
    );
    assert!(index.settings["boundary_ratio"].is_null());
    assert!(
        model
            .tokenizer_json()
            .unwrap()
            .ends_with("tokenizer/tokenizer.json")
    );
    assert!(
        model
            .scheduler_config()
            .unwrap()
            .ends_with("scheduler/scheduler_config.json")
    );
}

#[test]
fn configs_match_what_the_script_used() {
    let model = ModelDir::open(common::fixture()).unwrap();
    // make_tiny_wan.py: TRANSFORMER
    let expected = WanTransformerConfig {
        patch_size: vec![1, 2, 2],
        num_attention_heads: 2,
        attention_head_dim: 16,
        in_channels: 4,
        out_channels: Some(4),
        text_dim: 32,
        freq_dim: 16,
        ffn_dim: 32,
        num_layers: 2,
        ..WanTransformerConfig::t2v_1_3b()
    };
    let transformer = model.transformer_config().unwrap();
    assert_eq!(transformer, expected);
    assert_eq!(transformer.inner_dim(), 32);
    assert_eq!(transformer.rope_dims(), [8, 4, 4]);

    // make_tiny_wan.py: VAE
    let expected = WanVaeConfig {
        base_dim: 4,
        z_dim: 4,
        dim_mult: vec![1, 2, 2, 2],
        num_res_blocks: 1,
        latents_mean: vec![-0.75, -0.5, 0.25, 1.5],
        latents_std: vec![2.75, 1.5, 2.25, 1.25],
        ..WanVaeConfig::wan_2_1()
    };
    let vae = model.vae_config().unwrap();
    assert_eq!(vae, expected);
    assert_eq!(
        (vae.spatial_compression(), vae.temporal_compression()),
        (8, 4)
    );

    // make_tiny_wan.py: text_encoder_config (47 = the script's tokenizer vocabulary)
    let expected = Umt5Config {
        vocab_size: 47,
        d_model: 32,
        d_kv: 16,
        d_ff: 64,
        num_layers: 2,
        num_heads: 2,
        relative_attention_num_buckets: 8,
        relative_attention_max_distance: 16,
        dropout_rate: 0.0,
        ..Umt5Config::umt5_xxl()
    };
    assert_eq!(model.text_encoder_config().unwrap(), expected);
}

#[test]
fn presets_are_valid() {
    let t = WanTransformerConfig::t2v_1_3b();
    t.validate().unwrap();
    assert_eq!(t.inner_dim(), 1536);
    assert_eq!(t.rope_dims(), [44, 42, 42]);
    WanVaeConfig::wan_2_1().validate().unwrap();
    Umt5Config::umt5_xxl().validate().unwrap();
}

#[test]
fn sharded_transformer_reads_every_indexed_tensor() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let weights = model.weights("transformer").unwrap();
    assert_eq!(weights.component(), "transformer");
    let index = weights.index_file().unwrap().to_path_buf();
    assert!(index.ends_with("diffusion_pytorch_model.safetensors.index.json"));
    assert_eq!(weights.files().len(), 3);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let weight_map = json["weight_map"].as_object().unwrap();
    for (name, shard) in weight_map {
        let (file, info) = weights.info(name).unwrap();
        assert!(file.ends_with(shard.as_str().unwrap()), "{name}");
        assert_eq!(info.dtype, StoredDType::F32);
        let t = weights
            .get(name, &info.shape, DType::F32, &Device::Cpu)
            .unwrap();
        assert_eq!(t.dims(), info.shape.as_slice());
    }
    assert_eq!(weight_map.len(), weights.names().count());
    assert_same_as_candle(&weights);
}

#[test]
fn tensor_shapes_follow_the_configs() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let cfg = model.transformer_config().unwrap();
    let weights = model.weights("transformer").unwrap();
    let (d, cpu) = (cfg.inner_dim(), &Device::Cpu);
    let [pt, ph, pw] = cfg.patch();
    let patch = [d, cfg.in_channels, pt, ph, pw];
    weights
        .get("patch_embedding.weight", &patch, DType::F32, cpu)
        .unwrap();
    let proj_out = [cfg.out_channels() * pt * ph * pw, d];
    weights
        .get("proj_out.weight", &proj_out, DType::F32, cpu)
        .unwrap();
    let text = [d, cfg.text_dim];
    weights
        .get(
            "condition_embedder.text_embedder.linear_1.weight",
            &text,
            DType::F32,
            cpu,
        )
        .unwrap();
    let time = [d, cfg.freq_dim];
    weights
        .get(
            "condition_embedder.time_embedder.linear_1.weight",
            &time,
            DType::F32,
            cpu,
        )
        .unwrap();
    for i in 0..cfg.num_layers {
        let ffn = format!("blocks.{i}.ffn.net.0.proj.weight");
        weights
            .get(&ffn, &[cfg.ffn_dim, d], DType::F32, cpu)
            .unwrap();
        weights
            .get(
                &format!("blocks.{i}.scale_shift_table"),
                &[1, 6, d],
                DType::F32,
                cpu,
            )
            .unwrap();
    }

    let te = model.text_encoder_config().unwrap();
    let weights = model.weights("text_encoder").unwrap();
    weights
        .get(
            "shared.weight",
            &[te.vocab_size, te.d_model],
            DType::F32,
            cpu,
        )
        .unwrap();
    for i in 0..te.num_layers {
        // umT5: every layer has its own relative attention bias.
        let bias =
            format!("encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight");
        let shape = [te.relative_attention_num_buckets, te.num_heads];
        weights.get(&bias, &shape, DType::F32, cpu).unwrap();
    }

    let vae = model.vae_config().unwrap();
    let weights = model.weights("vae").unwrap();
    let z = vae.z_dim;
    weights
        .get("post_quant_conv.weight", &[z, z, 1, 1, 1], DType::F32, cpu)
        .unwrap();
    weights
        .get(
            "quant_conv.weight",
            &[2 * z, 2 * z, 1, 1, 1],
            DType::F32,
            cpu,
        )
        .unwrap();
}

#[test]
fn single_file_vae_reads() {
    let weights = Weights::open(common::fixture().join("vae")).unwrap();
    assert!(weights.index_file().is_none());
    assert_eq!(weights.files().len(), 1);
    assert!(weights.files()[0].ends_with("vae/diffusion_pytorch_model.safetensors"));
    assert_same_as_candle(&weights);
}

#[test]
fn bf16_text_encoder_converts_to_every_float_dtype() {
    let weights = Weights::open(common::fixture().join("text_encoder")).unwrap();
    assert!(weights.files()[0].ends_with("text_encoder/model.safetensors"));
    let name = "encoder.block.0.layer.0.SelfAttention.q.weight";
    let (_, info) = weights.info(name).unwrap();
    assert_eq!(info.dtype, StoredDType::BF16);
    let cpu = &Device::Cpu;
    let bf16 = weights.get(name, &[32, 32], DType::BF16, cpu).unwrap();
    let f32 = weights.get(name, &[32, 32], DType::F32, cpu).unwrap();
    let f16 = weights.get(name, &[32, 32], DType::F16, cpu).unwrap();
    assert_eq!(
        (bf16.dtype(), f32.dtype(), f16.dtype()),
        (DType::BF16, DType::F32, DType::F16)
    );
    // bf16 -> f32 is exact.
    let widened = bf16
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(
        widened,
        f32.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // bf16 -> f16 keeps these small weights to f16 precision.
    let close = (f16.to_dtype(DType::F32).unwrap() - &f32)
        .unwrap()
        .abs()
        .unwrap();
    let max = close
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(max < 1e-3, "{max}");
    assert_same_as_candle(&weights);
}

#[test]
fn var_builder_loads_by_reference_names() {
    let model = ModelDir::open(common::fixture()).unwrap();
    let vb = model
        .weights("transformer")
        .unwrap()
        .into_var_builder(DType::F32, &Device::Cpu);
    let q: Tensor = vb
        .pp("blocks")
        .pp(1)
        .pp("attn1")
        .pp("to_q")
        .get((32, 32), "weight")
        .unwrap();
    assert_eq!(q.dims(), [32, 32]);
    assert!(vb.contains_tensor("blocks.0.attn2.to_k.bias"));
    assert!(!vb.contains_tensor("blocks.2.attn2.to_k.bias"));
    let err = vb
        .pp("blocks")
        .pp(0)
        .pp("attn1")
        .pp("to_q")
        .get((32, 16), "weight")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("tensor blocks.0.attn1.to_q.weight has shape [32, 32], expected [32, 16]"),
        "{msg}"
    );
}
