//! `kino bench train`: how fast kino-mini trains, per optimiser step and per clip.

use crate::cli::BenchTrainArgs;
use anyhow::Context;
use kino_train::{TrainOptions, TrainProgress};
use std::time::Instant;

/// Records when each step finished, per training stage (the autoencoder's, then the DiT's).
struct StepClock {
    last: Instant,
    /// Step durations of each stage begun so far.
    stages: Vec<Vec<f64>>,
    quiet: bool,
}

impl TrainProgress for StepClock {
    fn begin(&mut self, _step: usize, _total: usize, _parameters: usize) {
        self.stages.push(Vec::new());
        self.last = Instant::now();
    }

    fn step(&mut self, step: usize, loss: f32) {
        let now = Instant::now();
        let took = (now - self.last).as_secs_f64();
        self.last = now;
        if let Some(stage) = self.stages.last_mut() {
            stage.push(took);
        }
        if !self.quiet {
            eprintln!("step {step}: {took:.3} s (loss {loss:.4})");
        }
    }
}

/// Trains `warmup + steps` steps of the recipe (of each stage: an autoencoder recipe's
/// autoencoder stops there too) in a temporary folder and prints each stage's timed steps'
/// mean and median, clips per second and peak memory.
pub fn run(args: &BenchTrainArgs, quiet: bool) -> anyhow::Result<()> {
    if args.steps == 0 {
        crate::usage_bail!("--steps must be at least 1");
    }
    let mut recipe = super::train::read_recipe(args.recipe.as_deref())?;
    if let Some(batch) = args.batch {
        if batch == 0 {
            crate::usage_bail!("--batch must be at least 1");
        }
        recipe.batch = batch;
        if let Some(ae) = &mut recipe.autoencoder {
            ae.batch = batch;
        }
    }
    let total = args.warmup + args.steps;
    if let Some(ae) = &mut recipe.autoencoder {
        ae.steps = ae.steps.max(total);
        ae.stop_at = Some(total);
    }
    let dir = std::env::temp_dir().join(format!("kino-bench-train-{}", std::process::id()));
    let options = TrainOptions {
        out: dir.clone(),
        recipe: recipe.clone(),
        steps: Some(total),
        stop_at: None,
        resume: false,
        checkpoint_every: total,
        samples: false,
        export: None,
        autoencoder_from: args.autoencoder_from.clone(),
        changes: Vec::new(),
    };
    let mut clock = StepClock {
        last: Instant::now(),
        stages: Vec::new(),
        quiet,
    };
    let result = kino_train::train(&options, &mut clock);
    let _ = std::fs::remove_dir_all(&dir);
    result.context("benchmark training run")?;
    let name = if args.recipe.is_some() {
        "file"
    } else {
        "base"
    };
    say!(
        "recipe={name} size={}x{}x{} tokens={} threads={}",
        recipe.frames,
        recipe.height,
        recipe.width,
        recipe.tokens(),
        candle_core::utils::get_num_threads()
    );
    let stage_names: &[&str] = if recipe.autoencoder.is_some() && args.autoencoder_from.is_none() {
        &["autoencoder", "dit"]
    } else {
        &["dit"]
    };
    // Stages are reported from the last: a borrowed autoencoder may still report a begin.
    let skipped = clock.stages.len().saturating_sub(stage_names.len());
    for (stage, seconds) in stage_names.iter().zip(&clock.stages[skipped..]) {
        let batch = match (&recipe.autoencoder, *stage) {
            (Some(ae), "autoencoder") => ae.batch,
            _ => recipe.batch,
        };
        let mut timed = seconds[args.warmup.min(seconds.len())..].to_vec();
        timed.sort_by(f64::total_cmp);
        let mean = timed.iter().sum::<f64>() / timed.len().max(1) as f64;
        let median = timed.get(timed.len() / 2).copied().unwrap_or(f64::NAN);
        say!(
            "stage={stage} batch={batch} mean_step_seconds={mean:.3} median_step_seconds={median:.3} clips_per_second={:.2}",
            batch as f64 / median
        );
    }
    if let Some(mb) = super::bench_dit::peak_rss_mb() {
        say!("peak_rss_mb={mb:.0}");
    }
    Ok(())
}
