//! `kino train mini`: runs kino-train with a progress bar (steps, loss, ETA).

use std::path::Path;

use anyhow::Context;
use indicatif::ProgressBar;
use kino_train::{Recipe, TrainOptions, TrainProgress};

use crate::cli::TrainMiniArgs;
use crate::progress;

struct Bar {
    bar: Option<ProgressBar>,
    quiet: bool,
    recent: Vec<f32>,
}

impl TrainProgress for Bar {
    fn begin(&mut self, step: usize, total: usize, parameters: usize) {
        let bar = progress::bar(total as u64, "train", self.quiet);
        bar.set_position(step as u64);
        bar.reset_eta();
        if !self.quiet {
            eprintln!("kino-mini: {parameters} parameters, steps {step} -> {total}");
        }
        self.bar = Some(bar);
    }

    fn step(&mut self, step: usize, loss: f32) {
        self.recent.push(loss);
        if self.recent.len() > 20 {
            self.recent.remove(0);
        }
        if let Some(bar) = &self.bar {
            let mean = self.recent.iter().sum::<f32>() / self.recent.len() as f32;
            bar.set_position(step as u64);
            bar.set_message(format!("loss {mean:.4}"));
        }
    }

    fn checkpoint(&mut self, step: usize, model_dir: &Path) {
        if self.quiet {
            return;
        }
        let mean = self.recent.iter().sum::<f32>() / self.recent.len().max(1) as f32;
        let line = format!(
            "checkpoint at step {step}: loss {mean:.4}, model in {}",
            model_dir.display()
        );
        match &self.bar {
            // A hidden bar (stderr is not a terminal, e.g. a log file) prints nothing itself.
            Some(bar) if !bar.is_hidden() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

/// The recipe a `--recipe FILE` flag names (its fields over the base recipe's), else the base
/// recipe; errors name the file.
pub fn read_recipe(path: Option<&std::path::Path>) -> anyhow::Result<Recipe> {
    let Some(path) = path else {
        return Ok(Recipe::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the recipe file {}", path.display()))?;
    let fields: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the recipe file {} is not JSON", path.display()))?;
    Recipe::with_overrides(&fields)
        .map_err(|e| anyhow::anyhow!("the recipe file {}: {e}", path.display()))
}

/// Trains (or resumes) kino-mini.
pub fn mini(args: &TrainMiniArgs, quiet: bool) -> anyhow::Result<()> {
    let mut recipe = read_recipe(args.recipe.as_deref())?;
    if let Some(batch) = args.batch {
        recipe.batch = batch;
    }
    if let Some(seed) = args.seed {
        recipe.seed = seed;
    }
    if let Some(spread) = args.layout_spread {
        recipe.layout_spread = spread;
    }
    if let Some(spread) = args.region_spread {
        recipe.region_spread = Some(spread);
    }
    if let Some(planes) = args.position_planes {
        recipe.position_planes = planes;
    }
    if let Some(share) = args.first_frame_share {
        recipe.first_frame_share = share;
    }
    if let Some(everywhere) = args.first_frame_everywhere {
        recipe.first_frame_layout = if everywhere {
            kino_models::dit::FirstFrameLayout::EveryFrame
        } else {
            kino_models::dit::FirstFrameLayout::FirstFrameOnly
        };
    }
    if let Some(gain) = args.self_attention_gain {
        recipe.self_attention_gain = gain;
    }
    if let Some(gain) = args.cross_attention_gain {
        recipe.cross_attention_gain = gain;
    }
    if let Some(floor) = args.loss_sigma_floor {
        recipe.loss_sigma_floor = floor;
    }
    if let Some(heads) = args.local_heads {
        recipe.local_heads = heads;
    }
    if let Some(heads) = args.shift_heads {
        recipe.shift_heads = heads;
    }
    if let Some(energy) = args.shift_energy {
        recipe.shift_energy = energy;
    }
    if let Some(gain) = args.shift_gain {
        recipe.shift_gain = Some(gain);
    }
    if let Some(aside) = args.shift_aside {
        recipe.shift_aside = aside;
    }
    if let Some(detail_std) = args.skip_detail_std {
        recipe.skip_detail_std = Some(detail_std);
    }
    if let Some(rate) = args.learning_rate {
        recipe.learning_rate = rate;
    }
    if let Some(warmup) = args.warmup_steps {
        recipe.warmup_steps = warmup;
    }
    let options = TrainOptions {
        out: args.out.clone(),
        recipe,
        steps: args.steps,
        stop_at: args.stop_at,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        samples: !args.no_samples,
        export: args.export.clone(),
        autoencoder_from: args.autoencoder_from.clone(),
        changes: args.change.clone(),
    };
    let mut bar = Bar {
        bar: None,
        quiet,
        recent: Vec::new(),
    };
    let summary = kino_train::train(&options, &mut bar)?;
    if let Some(b) = &bar.bar {
        b.finish_and_clear();
    }
    if !quiet {
        eprintln!(
            "trained {} steps in {:.0} s: loss {:.4} (first steps) -> {:.4} (last steps); model in {}",
            summary.steps,
            summary.seconds,
            summary.first_loss,
            summary.recent_loss,
            summary.model_dir.display()
        );
    }
    Ok(())
}
