//! `kino movie plan` and `kino movie render`: flags into kino-movie's plan settings and film
//! request; the model comes from kino-pipeline (see model.rs). The script is read and
//! planned, and the model folder checked, before anything is written.

mod model;
mod progress;

use std::path::Path;

use anyhow::bail;
use kino_media::VideoSpec;
use kino_models::ModelDir;
use kino_movie::{FilmRequest, MovieError, Plan, PlanSettings, ShotContent};
use kino_pipeline::{GenerateRequest, LoadOptions, SizeRules};

use super::generate::{read_model_index, resolve_model_dir};
use super::output;
use crate::cli_movie::{FilmArgs, MovieCommand, MoviePlanArgs, MovieRenderArgs};
use crate::exit::UsageError;

/// Runs `kino movie ...`.
pub fn run(command: MovieCommand, quiet: bool) -> anyhow::Result<()> {
    match command {
        MovieCommand::Plan(args) => plan(&args),
        MovieCommand::Render(args) => render(&args, quiet),
    }
}

/// Script errors (bad line, empty, no scenes) and bad settings exit with 2.
fn usage_if_bad_input(err: MovieError) -> anyhow::Error {
    if err.is_usage() {
        anyhow::Error::new(UsageError(err.to_string()))
    } else {
        err.into()
    }
}

fn settings(film: &FilmArgs) -> PlanSettings {
    PlanSettings {
        width: film.width,
        height: film.height,
        fps: film.fps,
        seed: film.seed,
        ..PlanSettings::default()
    }
}

fn load_plan(script: &Path, film: &FilmArgs) -> anyhow::Result<Plan> {
    kino_movie::plan_file(script, &settings(film)).map_err(usage_if_bad_input)
}

fn plan(args: &MoviePlanArgs) -> anyhow::Result<()> {
    let plan = load_plan(&args.script, &args.film)?;
    if args.json {
        let json = serde_json::json!({
            "duration_seconds": plan.duration_seconds(),
            "plan": plan,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", describe(&plan));
    }
    Ok(())
}

/// The plan as text: a header, then per shot its timing, transition, prompt and lines.
fn describe(plan: &Plan) -> String {
    let secs = |frames: usize| frames as f64 / plan.fps;
    let mut out = format!(
        "{}: {} shots, {:.2} s ({} frames at {} fps), {}x{}\n",
        plan.title.as_deref().unwrap_or("untitled"),
        plan.shots.len(),
        plan.duration_seconds(),
        plan.total_frames,
        plan.fps,
        plan.width,
        plan.height
    );
    if let Some(style) = &plan.context.style {
        out.push_str(&format!("style: {style}\n"));
    }
    for (name, description) in &plan.context.characters {
        out.push_str(&format!("character {name}: {description}\n"));
    }
    for shot in &plan.shots {
        let into = if shot.fade_in > 0 {
            format!("fade in {:.2}s", secs(shot.fade_in))
        } else if shot.dissolve_in > 0 {
            format!("dissolve {:.2}s", secs(shot.dissolve_in))
        } else {
            "cut".to_string()
        };
        let out_of = if shot.dissolve_out > 0 {
            format!("dissolve {:.2}s", secs(shot.dissolve_out))
        } else if shot.fade_out > 0 {
            format!("fade out {:.2}s", secs(shot.fade_out))
        } else {
            "cut".to_string()
        };
        out.push_str(&format!(
            "\nshot {} (line {}){}: {:.2}s-{:.2}s, {} frames; in: {into}, out: {out_of}\n",
            shot.number,
            shot.line,
            shot.heading.as_deref().map(|h| format!(" {h}")).unwrap_or_default(),
            secs(shot.start_frame),
            secs(shot.end_frame()),
            shot.frames,
        ));
        match &shot.content {
            ShotContent::Generated { prompt, seed, first_frame } => {
                out.push_str(&format!("  seed {seed}\n  prompt: {prompt}\n"));
                if let Some(image) = first_frame {
                    out.push_str(&format!("  first frame: {}\n", image.display()));
                }
            }
            ShotContent::Card { lines } => {
                out.push_str(&format!("  title card: {}\n", lines.join(" / ")));
            }
        }
        for line in &shot.dialogue {
            let how = line
                .parenthetical
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            out.push_str(&format!("  {}{how}: {}\n", line.character, line.text));
        }
    }
    out
}

fn render(args: &MovieRenderArgs, quiet: bool) -> anyhow::Result<()> {
    let format = output::format_of(&args.output)?;
    let plan = load_plan(&args.script, &args.film)?;
    let spec = VideoSpec {
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
    };
    output::check_spec(format, &spec, plan.total_frames as u32)?;
    if args.jobs == 0 {
        crate::usage_bail!("--jobs must be at least 1");
    }
    if args.steps == 0 {
        crate::usage_bail!("--steps must be at least 1");
    }
    if !args.guidance.is_finite() || args.guidance < 0.0 {
        crate::usage_bail!("--guidance must be a finite number >= 0, got {}", args.guidance);
    }
    if let Some(shot) = plan.shots.iter().find(|s| {
        matches!(&s.content, ShotContent::Generated { first_frame: Some(_), .. })
    }) {
        crate::usage_bail!(
            "{}: shot {} (line {}) asks to start from an image, but kino's models make video \
             from text only; remove its `image`",
            args.script.display(),
            shot.number,
            shot.line
        );
    }

    let model_dir = resolve_model_dir(&args.model)?;
    let class = read_model_index(&model_dir)?;
    if class != "WanPipeline" {
        bail!(
            "{}: a {class} model; kino movie renders with WanPipeline (Wan 2.1 text-to-video) models",
            model_dir.display()
        );
    }
    let rules = SizeRules::for_model(&ModelDir::open(&model_dir)?)?;
    let m = rules.pixel_multiple as u32;
    for (flag, v) in [("--width", plan.width), ("--height", plan.height)] {
        if !v.is_multiple_of(m) {
            crate::usage_bail!("{flag} must be a multiple of {m} for {}, got {v}", model_dir.display());
        }
    }
    let template = GenerateRequest {
        negative_prompt: args.negative.clone(),
        steps: args.steps as usize,
        guidance: args.guidance,
        ..GenerateRequest::default()
    };
    let mut renderer = model::PipelineRenderer::new(&model_dir, rules, template, LoadOptions::default())?;
    renderer.load.force = args.force;
    renderer.load.plan = model::planned_size(&plan, |f| renderer.model_frames(f));

    let request = FilmRequest {
        output: args.output.output.clone(),
        format: Some(format),
        jobs: args.jobs,
        burn_subtitles: args.burn_subtitles,
        contact_sheet: !args.output.no_contact_sheet,
    };
    let mut bars = progress::Bars::new(quiet);
    let film = kino_movie::make_film(&plan, &renderer, &request, &mut bars);
    bars.finish();
    let film = film.map_err(usage_if_bad_input)?;
    if !quiet {
        let r = &film.render;
        println!(
            "shots rendered={} cached={} cards={} render_seconds={:.2}",
            r.rendered.len(),
            r.cached.len(),
            r.cards_drawn,
            r.seconds
        );
        let v = &film.assembled.video;
        println!(
            "wrote {} ({} {}x{}, {} frames at {} fps, {:.2} s, {} KiB)",
            v.path.display(),
            v.format,
            v.width,
            v.height,
            v.frames,
            v.fps,
            v.frames as f64 / v.fps,
            v.bytes.div_ceil(1024)
        );
        for path in [&film.srt, &film.vtt, &film.otio]
            .into_iter()
            .chain(film.assembled.contact_sheet.as_ref())
        {
            println!("wrote {}", path.display());
        }
        println!("shot cache {}", film.cache_dir.display());
    }
    Ok(())
}
