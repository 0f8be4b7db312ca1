//! What a kino-mini text encoder holds: trains the caption-parse head
//! (`kino_train::caption_parse`) on training captions and reports how many held-out captions
//! it reads entirely right (every object's colour, shape and motion, in order, and the
//! background).
//!
//! ```sh
//! cargo run --release -p kino-train --example caption_probe -- [--encoder MODEL_DIR | --checkpoint RUN_DIR] [--train-encoder] [--steps N]
//! ```
//!
//! With `--encoder`, the text encoder of a kino-mini model folder is loaded and, unless
//! `--train-encoder`, frozen: a probe of what it already holds. Without it the encoder starts
//! from the recipe's initial weights and is trained with the head: what the objective alone
//! can teach a fresh encoder. With `--checkpoint`, the encoder and head of a caption-parse
//! run (`caption_parse_weight` above 0) are loaded from its checkpoint as training left them;
//! `--steps 0` reads the held-out captions with them as they are.

use anyhow::Context;
use candle_core::Device;
use kino_train::caption_parse::{CAPTION_PARSE, ParseTargets, sample_captions};
use kino_train::model::TEXT_ENCODER;
use kino_train::optim::AdamW;
use kino_train::{MiniModel, Recipe, flow, vocabulary};
use kino_world::{Rng, Split};

/// The targets of an empty object slot.
fn empty_slot() -> [u32; 3] {
    ParseTargets::of(&kino_world::SceneSpec::new(
        vec![],
        kino_world::Background::White,
    ))
    .objects[0]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let steps: usize = value("--steps").map_or(Ok(600), |s| s.parse())?;
    let encoder_dir = value("--encoder");
    let checkpoint_dir = value("--checkpoint");
    let train_encoder = (encoder_dir.is_none() && checkpoint_dir.is_none())
        || args.iter().any(|a| a == "--train-encoder");

    let recipe_path = concat!(env!("CARGO_MANIFEST_DIR"), "/recipes/latent.json");
    let text = std::fs::read_to_string(recipe_path).context(recipe_path)?;
    let mut overrides: serde_json::Value = serde_json::from_str(&text)?;
    overrides["caption_parse_weight"] = serde_json::json!(1.0);
    let recipe = Recipe::with_overrides(&overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let device = Device::Cpu;
    let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &device)?;
    let head = model
        .caption_parse
        .as_ref()
        .context("the recipe has a caption-parse head")?;
    if let Some(dir) = &encoder_dir {
        model.load_exported(std::path::Path::new(dir), TEXT_ENCODER)?;
    }
    if let Some(dir) = &checkpoint_dir {
        // A caption-parse run's own encoder and head, as training left them (`w.` tensors).
        let path = std::path::Path::new(dir).join("checkpoint/state.safetensors");
        let stored = candle_core::safetensors::load(&path, &device)
            .with_context(|| path.display().to_string())?;
        for (name, var) in model.named_vars() {
            if name.starts_with(&format!("{TEXT_ENCODER}."))
                || name.starts_with(&format!("{CAPTION_PARSE}."))
            {
                let tensor = stored
                    .get(&format!("w.{name}"))
                    .with_context(|| format!("{}: no tensor w.{name}", path.display()))?;
                var.set(tensor)?;
            }
        }
    }
    let trained: Vec<_> = model
        .named_vars()
        .into_iter()
        .filter(|(name, _)| {
            name.starts_with(&format!("{CAPTION_PARSE}."))
                || (train_encoder && name.starts_with(&format!("{TEXT_ENCODER}.")))
        })
        .collect();
    let mut optimiser = AdamW::new(trained)?;

    let dir = std::env::temp_dir().join(format!("kino-caption-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let tokenizer_path = dir.join("tokenizer.json");
    std::fs::write(&tokenizer_path, vocabulary::tokenizer_json().to_string())?;
    let tokenizer = kino_models::text::WanTokenizer::from_file(&tokenizer_path)?;
    std::fs::remove_dir_all(&dir)?;

    let mut held_rng = Rng::new(0x7072_6f62);
    let (held, held_targets) = sample_captions(Split::HeldOut, 512, &mut held_rng);
    let held: Vec<&str> = held.iter().map(String::as_str).collect();
    // A caption's object count: 2 unless its second slot is "no object".
    let held_objects: Vec<usize> = held_targets
        .iter()
        .map(|t| if t.objects[1] == empty_slot() { 1 } else { 2 })
        .collect();
    let (held_ids, held_mask) =
        flow::tokenize(&tokenizer, &held, recipe.max_sequence_length, &device)?;
    let mut rng = Rng::new(0x7472_6169);
    let batch = 64;
    let report = |step: usize, loss: Option<f32>| -> anyhow::Result<()> {
        let encoded = model.encode_text(&held_ids, &held_mask)?;
        let held_loss = head.loss(&encoded, &held_mask, &held_targets, &vec![true; held.len()])?;
        match loss {
            Some(loss) => print!("step {step}: training loss {loss:.4}, "),
            None => print!("step {step}: "),
        }
        println!("held-out loss {:.4}", held_loss.to_scalar::<f32>()?);
        for (label, objects) in [("one-object", 1), ("two-object", 2)] {
            let rows: Vec<u32> = (0..held.len() as u32)
                .filter(|&i| held_objects[i as usize] == objects)
                .collect();
            let index = candle_core::Tensor::new(rows.as_slice(), &device)?;
            let targets: Vec<_> = rows.iter().map(|&i| held_targets[i as usize]).collect();
            let r = head.reads(
                &encoded.index_select(&index, 0)?,
                &held_mask.index_select(&index, 0)?,
                &targets,
            )?;
            println!(
                "  held-out {label} captions {}: read entirely right {}; objects {}: colour {}, shape {}, motion {}; background {}",
                r.captions, r.whole, r.objects, r.colour, r.shape, r.motion, r.background
            );
        }
        Ok(())
    };
    report(0, None)?;
    for step in 1..=steps {
        let (texts, targets) = sample_captions(Split::Train, batch, &mut rng);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (ids, mask) = flow::tokenize(&tokenizer, &texts, recipe.max_sequence_length, &device)?;
        let mut encoded = model.encode_text(&ids, &mask)?;
        if !train_encoder {
            encoded = encoded.detach();
        }
        let loss = head.loss(&encoded, &mask, &targets, &vec![true; batch])?;
        let grads = loss.backward()?;
        optimiser.step(&grads, 3e-3, 0.0)?;
        if step % 100 == 0 || step == steps {
            report(step, Some(loss.to_scalar::<f32>()?))?;
        }
    }
    Ok(())
}
