//! Writes kino-mini as a diffusers-layout model folder, the layout the Wan loader reads:
//! `model_index.json`, `transformer/`, `text_encoder/`, `tokenizer/`, `scheduler/`, and, for a
//! latent recipe, `vae/` (the clip autoencoder; pixel-space recipes have none). `model_index.json` also carries the generation
//! defaults under `_kino_defaults`, a key diffusers ignores.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use serde_json::{Value, json};

use crate::autoencoder::{ClipAutoencoder, VAE, config_json};
use crate::checkpoint::CheckpointError;
use crate::model::{TEXT_ENCODER, TRANSFORMER};
use crate::recipe::Recipe;
use crate::vocabulary;

/// The layout stage's component folder ([`Recipe::layout_planes`]).
pub const LAYOUT: &str = "layout";

/// The output size kino-mini's clips are upscaled to by default.
pub const DEFAULT_OUTPUT_SIDE: usize = 256;

/// `model_index.json`.
pub fn model_index(recipe: &Recipe) -> Value {
    json!({
        "_class_name": "WanPipeline",
        "_diffusers_version": "0.42.1",
        "_kino_defaults": {
            "height": recipe.height,
            "width": recipe.width,
            "frames": recipe.clip_frames.or(recipe.world_frames).unwrap_or(recipe.frames),
            "segment_frames": recipe.world_frames.map(|_| recipe.frames),
            "keyframes": recipe.clip_frames.map(|_| recipe.frames),
            "fps": recipe.fps,
            "steps": recipe.sample_steps,
            "guidance": recipe.guidance,
            "max_sequence_length": recipe.max_sequence_length,
            "output_height": DEFAULT_OUTPUT_SIDE,
            "output_width": DEFAULT_OUTPUT_SIDE,
            "vocabulary": "kino-world",
            "keyframe_first": recipe.keyframe_first,
            "first_frame_layout": recipe.first_frame_layout,
            "self_condition": recipe.self_condition,
            "skip_detail_std": recipe.skip_detail_std
        },
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": match recipe.autoencoder {
            Some(_) => json!(["diffusers", "AutoencoderKLWan"]),
            None => json!([null, null]),
        },
        "layout": if recipe.layout_planes {
            json!(["kino", "SceneLayoutModel"])
        } else {
            json!([null, null])
        }
    })
}

/// The `layout/` component's tensors: the caption-parse head as the stage's `reader.*`,
/// the path generator as its `generator.*`.
fn layout_tensors(weights: &[(String, Tensor)]) -> Vec<(String, &Tensor)> {
    let parse = format!("{}.", crate::caption_parse::CAPTION_PARSE);
    let generator = format!("{}.", crate::layout::LAYOUT_GENERATOR);
    weights
        .iter()
        .filter_map(|(n, t)| {
            if let Some(rest) = n.strip_prefix(&parse) {
                Some((format!("reader.{rest}"), t))
            } else {
                n.strip_prefix(&generator)
                    .map(|rest| (format!("generator.{rest}"), t))
            }
        })
        .collect()
}

fn write_json(path: &Path, value: &Value) -> Result<(), CheckpointError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CheckpointError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::write(path, text + "\n").map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the model folder `dir` (replacing it atomically, keeping a `MODEL_CARD.md`,
/// `README.md` or `LICENSE` already there) from `weights` named `transformer.*` /
/// `text_encoder.*`.
pub fn write_model_dir(
    dir: &Path,
    recipe: &Recipe,
    weights: &[(String, Tensor)],
    autoencoder: Option<&ClipAutoencoder>,
) -> Result<(), CheckpointError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let incoming = parent.join(format!(".{name}.tmp"));
    if incoming.exists() {
        std::fs::remove_dir_all(&incoming).map_err(io(&incoming))?;
    }
    for sub in [TRANSFORMER, TEXT_ENCODER, "tokenizer", "scheduler"] {
        std::fs::create_dir_all(incoming.join(sub)).map_err(io(&incoming.join(sub)))?;
    }
    let vocab_size = vocabulary::pieces().len();
    write_json(&incoming.join("model_index.json"), &model_index(recipe))?;
    write_json(
        &incoming.join(TRANSFORMER).join("config.json"),
        &recipe.transformer_config(),
    )?;
    write_json(
        &incoming.join(TEXT_ENCODER).join("config.json"),
        &recipe.text_encoder_config(vocab_size),
    )?;
    write_json(
        &incoming.join("tokenizer").join("tokenizer.json"),
        &vocabulary::tokenizer_json(),
    )?;
    write_json(
        &incoming.join("tokenizer").join("tokenizer_config.json"),
        &vocabulary::tokenizer_config_json(recipe.max_sequence_length),
    )?;
    write_json(
        &incoming.join("scheduler").join("scheduler_config.json"),
        &recipe.scheduler_config(),
    )?;
    let mut components = vec![
        (TRANSFORMER, "diffusion_pytorch_model.safetensors"),
        (TEXT_ENCODER, "model.safetensors"),
    ];
    if recipe.layout_planes {
        let layout_dir = incoming.join(LAYOUT);
        std::fs::create_dir_all(&layout_dir).map_err(io(&layout_dir))?;
        let config = serde_json::to_value(crate::layout::layout_config(recipe)).map_err(|e| {
            CheckpointError::Invalid {
                path: layout_dir.clone(),
                message: e.to_string(),
            }
        })?;
        write_json(&layout_dir.join("config.json"), &config)?;
        components.push((LAYOUT, kino_models::layout::LAYOUT_WEIGHTS));
    }
    for (component, file) in components {
        let prefix = format!("{component}.");
        let named: Vec<(String, &Tensor)> = if component == LAYOUT {
            layout_tensors(weights)
        } else {
            weights
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(&prefix).map(|s| (s.to_string(), t)))
                .collect()
        };
        let tensors: HashMap<String, Tensor> = named
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_dtype(recipe.export_dtype.dtype())?)))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| CheckpointError::Invalid {
                path: incoming.join(component),
                message: e.to_string(),
            })?;
        let path = incoming.join(component).join(file);
        candle_core::safetensors::save(&tensors, &path).map_err(|e| CheckpointError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    if let Some(ae) = autoencoder {
        let vae_dir = incoming.join(VAE);
        std::fs::create_dir_all(&vae_dir).map_err(io(&vae_dir))?;
        write_json(&vae_dir.join("config.json"), &config_json(&ae.config))?;
        let path = vae_dir.join("diffusion_pytorch_model.safetensors");
        let tensors: HashMap<String, Tensor> = ae
            .weights
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.to_dtype(recipe.export_dtype.dtype())?)))
            .collect::<candle_core::Result<_>>()
            .map_err(|e| CheckpointError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        candle_core::safetensors::save(&tensors, &path).map_err(|e| CheckpointError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    // Files people keep beside the weights survive a re-export.
    for keep in ["MODEL_CARD.md", "README.md", "LICENSE"] {
        let old = dir.join(keep);
        if old.is_file() {
            std::fs::copy(&old, incoming.join(keep)).map_err(io(&old))?;
        }
    }
    if dir.exists() {
        let old = parent.join(format!(".{name}.old"));
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(dir, &old).map_err(io(dir))?;
        std::fs::rename(&incoming, dir).map_err(io(&incoming))?;
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        std::fs::rename(&incoming, dir).map_err(io(&incoming))?;
    }
    Ok(())
}
