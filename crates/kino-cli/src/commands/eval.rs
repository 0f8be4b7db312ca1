//! `kino eval mini`: held-out prompts through the pipeline, judged by the world's oracle.

use anyhow::Context;
use kino_pipeline::{LoadOptions, Pipeline, VideoSize};
use kino_train::eval;

use super::generate::resolve_model;
use crate::cli::EvalMiniArgs;
use crate::exit::UsageError;
use crate::progress;

/// Runs the evaluation and prints the table.
pub fn mini(args: &EvalMiniArgs, quiet: bool) -> anyhow::Result<()> {
    if args.seeds == 0 || args.count == 0 {
        crate::usage_bail!("--seeds and --count must be at least 1");
    }
    let prompts = match &args.prompts {
        Some(path) => eval::read_prompts(path)
            .map_err(|e| anyhow::Error::new(UsageError(format!("--prompts {e}"))))?,
        None => eval::held_out_prompts(args.count),
    };
    let model_dir = resolve_model(&args.model)?;
    let probe = kino_models::ModelDir::open(&model_dir)?;
    let defaults = kino_pipeline::ModelDefaults::for_model(&probe)?;
    let options = LoadOptions {
        plan: VideoSize {
            height: defaults.height,
            width: defaults.width,
            frames: defaults.frames,
        },
        ..LoadOptions::default()
    };
    let pipeline = Pipeline::load(&model_dir, &options)?;
    let total = prompts.len() as u64 * args.seeds;
    let bar = progress::bar(total, "eval", quiet);
    let started = std::time::Instant::now();
    let mut sampling = pipeline.defaults().clone();
    if let Some(steps) = args.steps {
        if steps == 0 {
            crate::usage_bail!("--steps must be at least 1");
        }
        sampling.steps = steps;
    }
    sampling.guidance = args.guidance.unwrap_or(sampling.guidance);
    if let Some(phi) = args.guidance_rescale {
        if !(phi.is_finite() && (0.0..=1.0).contains(&phi)) {
            crate::usage_bail!("--guidance-rescale must be in [0, 1], got {phi}");
        }
        sampling.guidance_rescale = phi;
    }
    if let Some(interval) = args.guidance_interval {
        sampling.guidance_interval = Some([interval.low, interval.high]);
    }
    sampling.keyframe_first = args.keyframe_first.unwrap_or(sampling.keyframe_first);
    if let Some(shift) = args.flow_shift {
        if !(shift.is_finite() && shift > 0.0) {
            crate::usage_bail!("--flow-shift must be a positive number, got {shift}");
        }
        sampling.flow_shift = Some(shift);
    }
    let start = match (args.world_first_frame, args.world_clip) {
        (true, _) => {
            if !pipeline.takes_first_frame() {
                crate::usage_bail!(
                    "--world-first-frame: {} takes no first frame",
                    model_dir.display()
                );
            }
            eval::Start::WorldFirstFrame
        }
        (false, Some(strength)) => {
            if !(strength.is_finite() && (0.0..=1.0).contains(&strength)) {
                crate::usage_bail!("--world-clip must be in [0, 1], got {strength}");
            }
            eval::Start::WorldClip { strength }
        }
        (false, None) => eval::Start::Text,
    };
    let scheduler = args
        .scheduler
        .map_or(kino_pipeline::SchedulerChoice::Model, Into::into);
    let clips = eval::evaluate(
        &pipeline,
        &sampling,
        scheduler,
        &prompts,
        args.seeds,
        start,
        &mut |_| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let scores = eval::score(&clips);

    say!(
        "kino eval mini: {} clips ({} prompts x {} seeds) of {} in {seconds:.1} s",
        clips.len(),
        prompts.len(),
        args.seeds,
        model_dir.display()
    );
    match start {
        eval::Start::Text => {}
        eval::Start::WorldFirstFrame => {
            say!("first frames: the world's, so this judges image-to-video alone");
        }
        eval::Start::WorldClip { strength: 0.0 } => say!(
            "clips: the world's, encoded and decoded by the model's VAE (its latent space's \
             ceiling; a pixel-space model keeps them as they are)"
        ),
        eval::Start::WorldClip { strength } => say!(
            "starts: the world's clips, noised {strength} of the way along the schedule and \
             redrawn (video to video)"
        ),
    }
    say!(
        "{:<22} {:>7} {:>6} {:>9}",
        "attribute",
        "correct",
        "total",
        "accuracy"
    );
    let row = |name: &str, s: &eval::Score| {
        say!(
            "{name:<22} {:>7} {:>6} {:>8.1}%",
            s.correct,
            s.total,
            100.0 * s.accuracy()
        );
    };
    row("colour", &scores.colour);
    row("motion", &scores.motion);
    row("shape", &scores.shape);
    row("count (two objects)", &scores.count);
    for (kind, s) in &scores.motion_by_kind {
        row(&format!("  motion: {kind}"), s);
    }
    row("  motion, colour found", &scores.motion_of_found);
    for (size, s) in &scores.by_prompt_size {
        row(&format!("  colour: {size}"), &s.colour);
        row(&format!("  motion: {size}"), &s.motion);
    }
    let (w, h) = (defaults.width as u32, defaults.height as u32);
    if let Some((sheet, labels)) = eval::worst_case_sheet(&clips, w, h, 12, 4) {
        let tmp = args.sheet.with_extension("png.tmp");
        sheet
            .save_with_format(&tmp, kino_media::image::ImageFormat::Png)
            .with_context(|| format!("cannot write {}", args.sheet.display()))?;
        std::fs::rename(&tmp, &args.sheet)
            .with_context(|| format!("cannot write {}", args.sheet.display()))?;
        say!("worst clips, top to bottom, in {}:", args.sheet.display());
        for label in labels {
            say!("  {label}");
        }
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({ "scores": scores, "clips": clips });
        kino_media::write_bytes(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
