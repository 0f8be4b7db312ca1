//! The network trains through the same function it samples with: the DiT's forward with
//! trainable weights (our fused training kernels) equals its forward from a loaded model
//! folder (candle's inference kernels), on the shipped weights.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use kino_models::WanTransformerConfig;
use kino_models::dit::WanTransformer3D;
use kino_train::{MiniModel, Recipe};

/// The recipe the shipped weights were trained by.
fn shipped_recipe() -> Recipe {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/latent-plan.json");
    Recipe::with_overrides(&serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap())
        .unwrap()
}

#[test]
fn the_training_forward_equals_the_inference_forward() {
    let device = Device::Cpu;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-mini");
    // The shipped weights were trained by this recipe and stored in f16.
    let recipe = shipped_recipe();
    let dit_file = dir.join("transformer/diffusion_pytorch_model.safetensors");
    let weights: std::collections::HashMap<String, Tensor> =
        candle_core::safetensors::load(&dit_file, &device)
            .unwrap()
            .into_iter()
            .map(|(name, t)| (name, t.to_dtype(DType::F32).unwrap()))
            .collect();
    let config: WanTransformerConfig = serde_json::from_str(
        &std::fs::read_to_string(dir.join("transformer/config.json")).unwrap(),
    )
    .unwrap();
    let inference = WanTransformer3D::new(
        &config,
        VarBuilder::from_tensors(weights.clone(), DType::F32, &device),
    )
    .unwrap();
    let model = MiniModel::new(&recipe, kino_train::vocabulary::pieces().len(), &device).unwrap();
    for (name, var) in model.named_vars() {
        if let Some(leaf) = name.strip_prefix("transformer.") {
            var.set(&weights[leaf]).unwrap();
        }
    }
    let [t, h, w] = recipe.latent_size();
    let b = 2;
    let input = Tensor::randn(0f32, 1.0, (b, recipe.in_channels(), t, h, w), &device).unwrap();
    let timesteps = Tensor::new(&[900f32, 300.0], &device).unwrap();
    let text = Tensor::randn(
        0f32,
        1.0,
        (b, recipe.max_sequence_length, recipe.text_dim),
        &device,
    )
    .unwrap();
    let expected = inference.forward(&input, &timesteps, &text).unwrap();
    let trained = model.dit.forward(&input, &timesteps, &text).unwrap();
    let diff = kino_testkit::max_abs_diff(&expected, &trained);
    assert!(
        diff < 1e-3,
        "training and inference forwards differ by {diff}"
    );
}

/// The shipped `layout/config.json` is what the export writes for the shipped recipe
/// (the palette anchoring image-to-video plans included).
#[test]
fn the_shipped_layout_config_is_the_recipes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-mini");
    let recipe = shipped_recipe();
    let shipped =
        kino_models::layout::SceneLayoutConfig::from_file(&dir.join("layout/config.json")).unwrap();
    assert_eq!(shipped, kino_train::layout::layout_config(&recipe));
    assert_eq!(shipped.palette.len(), shipped.colours);
}
