//! What a kino-mini DiT's patch tokens hold part-way through its blocks: trains a fresh
//! token-read head (`kino_train::token_read`) on the frozen tokens of training clips, then
//! reports, for held-out clips at fixed noise levels, how often the tokens an object covers
//! are read with that object's colour and motion, and how often each token's per-keyframe
//! presence is read right. One-object and two-object clips apart.
//!
//! ```sh
//! cargo run --release -p kino-train --example token_probe -- --model MODEL_DIR [--recipe FILE] [--block K] [--steps N]
//! ```
//!
//! `MODEL_DIR` is an exported latent kino-mini folder (`models/kino-mini`, a run's `model/`);
//! `--recipe` the recipe it was trained with (default `recipes/latent.json`; only its shape
//! fields matter here); `--block` how many blocks the tokens have passed (default 3);
//! `--steps` the head's training steps of 32 clips (default 300).

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use kino_train::autoencoder::train_autoencoder;
use kino_train::data::split_batch;
use kino_train::flow::{self, DitBatch, StepDraws};
use kino_train::model::{TEXT_ENCODER, TRANSFORMER};
use kino_train::optim::AdamW;
use kino_train::token_read::{TOKEN_READ, TokenTargets};
use kino_train::{MiniModel, Quiet, Recipe, vocabulary};
use kino_world::{Rng, Split};

/// Counts of one report row.
#[derive(Default)]
struct Reads {
    object_tokens: usize,
    colour: usize,
    motion: usize,
    presence: usize,
    presence_total: usize,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let model_dir = std::path::PathBuf::from(value("--model").context("--model MODEL_DIR")?);
    let steps: usize = value("--steps").map_or(Ok(300), |s| s.parse())?;
    let block: usize = value("--block").map_or(Ok(3), |s| s.parse())?;
    let recipe_path = value("--recipe")
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/recipes/latent.json").to_string());
    let text = std::fs::read_to_string(&recipe_path).context(recipe_path.clone())?;
    let mut overrides: serde_json::Value = serde_json::from_str(&text)?;
    overrides["token_read_weight"] = serde_json::json!(1.0);
    overrides["token_read_block"] = serde_json::json!(block);
    overrides["caption_parse_weight"] = serde_json::json!(0.0);
    overrides["caption_parse_warm_up"] = serde_json::json!(0);
    let recipe = Recipe::with_overrides(&overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let device = Device::Cpu;

    let scratch = std::env::temp_dir().join(format!("kino-token-probe-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let ae_recipe = recipe.autoencoder.clone().context("a latent recipe")?;
    let ae = train_autoencoder(&recipe, &ae_recipe, &scratch, Some(&model_dir), &mut Quiet)?;
    let tokenizer_path = scratch.join("tokenizer.json");
    std::fs::write(&tokenizer_path, vocabulary::tokenizer_json().to_string())?;
    let tokenizer = kino_models::text::WanTokenizer::from_file(&tokenizer_path)?;
    std::fs::remove_dir_all(&scratch)?;

    let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &device)?;
    for component in [TRANSFORMER, TEXT_ENCODER] {
        model.load_exported(&model_dir, component)?;
    }
    let head = model.token_read.as_ref().context("a token-read head")?;
    let trained: Vec<_> = model
        .named_vars()
        .into_iter()
        .filter(|(name, _)| name.starts_with(&format!("{TOKEN_READ}.")))
        .collect();
    let mut optimiser = AdamW::new(trained)?;

    // The frozen tokens and the targets of a batch at noise levels `sigmas`.
    let tokens_of = |batch: &kino_train::data::Batch,
                     sigmas: Vec<f64>,
                     rng: &mut Rng|
     -> anyhow::Result<(Tensor, Vec<TokenTargets>)> {
        let n = batch.captions.len();
        let mut draws = StepDraws::new(&recipe, n, rng);
        draws.sigmas = sigmas;
        draws.first_frames = vec![false; n];
        draws.caption_dropped = vec![false; n];
        let latent = DitBatch::latents(batch, &ae, &draws.first_frames)?;
        let (_, c, t, h, w) = latent.clips.dims5()?;
        let noise = Tensor::from_vec(draws.noise.clone(), (n, c, t, h, w), &device)?;
        let s = Tensor::from_vec(
            draws.sigmas.iter().map(|&s| s as f32).collect::<Vec<_>>(),
            (n, 1, 1, 1, 1),
            &device,
        )?;
        let noisy = (&latent.clips + (&noise - &latent.clips)?.broadcast_mul(&s)?)?;
        let condition = Tensor::zeros((n, c + 1, t, h, w), DType::F32, &device)?;
        let timesteps = Tensor::from_vec(
            draws
                .sigmas
                .iter()
                .map(|&s| (s * 1000.0) as f32)
                .collect::<Vec<_>>(),
            n,
            &device,
        )?;
        let captions: Vec<&str> = batch.captions.iter().map(String::as_str).collect();
        let (ids, mask) =
            flow::tokenize(&tokenizer, &captions, recipe.max_sequence_length, &device)?;
        let text = model.encode_text(&ids, &mask)?;
        let input = Tensor::cat(&[&noisy, &condition], 1)?;
        let (_, tokens) = model
            .dit
            .forward_tapped(&input, &timesteps, &text, Some(block))?;
        let grid = (h / recipe.patch[1], w / recipe.patch[2]);
        let targets = batch
            .specs
            .iter()
            .zip(&batch.boxes)
            .map(|(spec, boxes)| TokenTargets::of(spec, boxes, grid, (recipe.width, recipe.height)))
            .collect();
        Ok((tokens.context("tapped tokens")?.detach(), targets))
    };

    let mut rng = Rng::new(0x746f_6b70); // "tokp"
    for step in 1..=steps {
        let batch = split_batch(&recipe, Split::Train, 32, &mut rng, &device)?;
        let sigmas = StepDraws::new(&recipe, 32, &mut rng).sigmas;
        let (tokens, targets) = tokens_of(&batch, sigmas, &mut rng)?;
        let loss = head.loss(&tokens, &targets)?;
        optimiser.step(&loss.backward()?, 3e-3, 0.0)?;
        if step % 50 == 0 {
            eprintln!("step {step}: loss {:.4}", loss.to_scalar::<f32>()?);
        }
    }

    let none_colour = kino_world::Colour::ALL.len() as u32;
    let mut held_rng = Rng::new(0x6865_6c64); // "held"
    let held = split_batch(&recipe, Split::HeldOut, 96, &mut held_rng, &device)?;
    println!(
        "{}: tokens after block {block}, head trained {steps} steps; 96 held-out clips",
        model_dir.display()
    );
    for sigma in [0.25, 0.5, 0.75, 0.9] {
        let mut rows = [Reads::default(), Reads::default()];
        for start in (0..96).step_by(32) {
            let part = kino_train::data::Batch {
                clips: held.clips.narrow(0, start, 32)?,
                captions: held.captions[start..start + 32].to_vec(),
                objects: held.objects.narrow(0, start, 32)?,
                specs: held.specs[start..start + 32].to_vec(),
                boxes: held.boxes[start..start + 32].to_vec(),
                poses: held.poses[start..start + 32].to_vec(),
            };
            let mut noise_rng = Rng::new(start as u64 ^ 0x6e6f);
            let (tokens, targets) = tokens_of(&part, vec![sigma; 32], &mut noise_rng)?;
            let (read, present) = head.read(&tokens)?;
            let per_clip = targets[0].classes.len();
            let frames = recipe.frames;
            for (i, t) in targets.iter().enumerate() {
                let row = &mut rows[usize::from(part.specs[i].objects.len() > 1)];
                for (k, c) in t.classes.iter().enumerate() {
                    let got = read[i * per_clip + k];
                    if c[0] != none_colour {
                        row.object_tokens += 1;
                        row.colour += usize::from(got[0] == c[0]);
                        row.motion += usize::from(got[2] == c[2]);
                    }
                    for f in 0..frames {
                        let y = t.presence[k * frames + f] > 0.5;
                        let z = present[(i * per_clip + k) * frames + f];
                        row.presence_total += 1;
                        row.presence += usize::from(y == z);
                    }
                }
            }
        }
        for (label, r) in ["one-object", "two-object"].iter().zip(&rows) {
            println!(
                "  sigma {sigma}: {label} clips: object tokens {}: colour {:.1}%, motion {:.1}%; presence {:.1}%",
                r.object_tokens,
                100.0 * r.colour as f64 / r.object_tokens.max(1) as f64,
                100.0 * r.motion as f64 / r.object_tokens.max(1) as f64,
                100.0 * r.presence as f64 / r.presence_total.max(1) as f64,
            );
        }
    }
    Ok(())
}
