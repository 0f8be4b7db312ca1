//! `kino bench train`: how fast kino-mini trains, per optimiser step and per clip.

use crate::cli::BenchTrainArgs;
use anyhow::Context;
use kino_train::{Recipe, TrainOptions, TrainProgress};
use std::time::Instant;

/// Records when each step finished.
struct StepClock {
    last: Instant,
    seconds: Vec<f64>,
    quiet: bool,
}

impl TrainProgress for StepClock {
    fn step(&mut self, step: usize, loss: f32) {
        let now = Instant::now();
        let took = (now - self.last).as_secs_f64();
        self.last = now;
        self.seconds.push(took);
        if !self.quiet {
            eprintln!("step {step}: {took:.3} s (loss {loss:.4})");
        }
    }
}

/// Trains `warmup + steps` steps of the shipped recipe in a temporary folder and prints the
/// timed steps' mean and median, clips per second and peak memory.
pub fn run(args: &BenchTrainArgs, quiet: bool) -> anyhow::Result<()> {
    if args.steps == 0 {
        crate::usage_bail!("--steps must be at least 1");
    }
    let mut recipe = Recipe::default();
    if let Some(batch) = args.batch {
        if batch == 0 {
            crate::usage_bail!("--batch must be at least 1");
        }
        recipe.batch = batch;
    }
    let dir = std::env::temp_dir().join(format!("kino-bench-train-{}", std::process::id()));
    let total = args.warmup + args.steps;
    let options = TrainOptions {
        out: dir.clone(),
        recipe: recipe.clone(),
        steps: Some(total),
        stop_at: None,
        resume: false,
        checkpoint_every: total,
        samples: false,
        export: None,
    };
    let mut clock = StepClock {
        last: Instant::now(),
        seconds: Vec::new(),
        quiet,
    };
    let result = kino_train::train(&options, &mut clock);
    let _ = std::fs::remove_dir_all(&dir);
    result.context("benchmark training run")?;
    let mut timed = clock.seconds[args.warmup.min(clock.seconds.len())..].to_vec();
    timed.sort_by(f64::total_cmp);
    let mean = timed.iter().sum::<f64>() / timed.len().max(1) as f64;
    let median = timed.get(timed.len() / 2).copied().unwrap_or(f64::NAN);
    say!(
        "recipe=kino-mini batch={} size={}x{}x{} tokens={} threads={}",
        recipe.batch,
        recipe.frames,
        recipe.height,
        recipe.width,
        recipe.tokens(),
        candle_core::utils::get_num_threads()
    );
    say!("mean_step_seconds={mean:.3} median_step_seconds={median:.3}");
    say!("clips_per_second={:.2}", recipe.batch as f64 / median);
    if let Some(mb) = super::bench_dit::peak_rss_mb() {
        say!("peak_rss_mb={mb:.0}");
    }
    Ok(())
}
