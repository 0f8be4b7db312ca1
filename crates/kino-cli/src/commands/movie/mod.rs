//! `kino movie plan` and `kino movie render`: flags into kino-movie's plan settings and film
//! request; the model comes from kino-pipeline (see model.rs). The script is read and
//! planned, and the model folder checked, before anything is written.

mod model;
mod progress;

use std::path::{Path, PathBuf};

use kino_media::VideoSpec;
use kino_models::ModelDir;
use kino_movie::{FilmRequest, MovieError, Plan, PlanSettings, Script, ShotContent};
use kino_pipeline::{LoadOptions, ModelDefaults, SizeRules};

use super::generate::resolve_model;
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

/// The model's folder, size rules and defaults.
struct Model {
    dir: PathBuf,
    rules: SizeRules,
    defaults: ModelDefaults,
}

fn open_model(name: &str) -> anyhow::Result<Model> {
    let dir = resolve_model(name)?;
    let model = ModelDir::open(&dir)?;
    Ok(Model {
        rules: SizeRules::for_model(&model)?,
        defaults: ModelDefaults::for_model(&model)?,
        dir,
    })
}

/// The film's size and rate: the flags, else the model's output size and fps.
fn settings(film: &FilmArgs, defaults: &ModelDefaults) -> PlanSettings {
    PlanSettings {
        width: film
            .width
            .unwrap_or(defaults.output_width.unwrap_or(defaults.width) as u32),
        height: film
            .height
            .unwrap_or(defaults.output_height.unwrap_or(defaults.height) as u32),
        fps: film.fps.unwrap_or(defaults.fps),
        seed: film.seed,
        ..PlanSettings::default()
    }
}

fn load(script: &Path) -> anyhow::Result<Script> {
    kino_movie::load_script(script).map_err(usage_if_bad_input)
}

fn make_plan(script: &Script, path: &Path, settings: &PlanSettings) -> anyhow::Result<Plan> {
    kino_movie::plan_script(script, path, settings).map_err(usage_if_bad_input)
}

fn plan(args: &MoviePlanArgs) -> anyhow::Result<()> {
    let script = load(&args.script)?;
    // Planning needs only the model's defaults; without the model, plan with Wan 2.1's
    // rate and a small size, and say so.
    let defaults = match open_model(&args.film.model) {
        Ok(model) => model.defaults,
        Err(err) => {
            let fallback = ModelDefaults {
                width: 256,
                height: 256,
                ..ModelDefaults::wan_2_1()
            };
            let s = settings(&args.film, &fallback);
            eprintln!(
                "note: {}; planning at {}x{}, {} fps",
                crate::exit::one_line(&err),
                s.width,
                s.height,
                s.fps
            );
            fallback
        }
    };
    let plan = make_plan(&script, &args.script, &settings(&args.film, &defaults))?;
    if args.json {
        let json = serde_json::json!({
            "duration_seconds": plan.duration_seconds(),
            "plan": plan,
        });
        say!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "{}", describe(&plan));
        }
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
            shot.heading
                .as_deref()
                .map(|h| format!(" {h}"))
                .unwrap_or_default(),
            secs(shot.start_frame),
            secs(shot.end_frame()),
            shot.frames,
        ));
        match &shot.content {
            ShotContent::Generated {
                prompt,
                seed,
                first_frame,
            } => {
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
    let script = load(&args.script)?;
    if args.jobs == 0 {
        crate::usage_bail!("--jobs must be at least 1");
    }
    if args.steps == Some(0) {
        crate::usage_bail!("--steps must be at least 1");
    }
    if let Some(g) = args.guidance.filter(|g| !g.is_finite() || *g < 0.0) {
        crate::usage_bail!("--guidance must be a finite number >= 0, got {g}");
    }
    let model = open_model(&args.film.model)?;
    let plan = make_plan(
        &script,
        &args.script,
        &settings(&args.film, &model.defaults),
    )?;
    let spec = VideoSpec {
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
    };
    output::check_spec(format, &spec, plan.total_frames as u32)?;

    // A model with a native size renders at it and is resized to the film's; others render
    // at the film's size, which must suit them.
    let native = model.defaults.output_height.is_some() || model.defaults.output_width.is_some();
    let size = if native {
        (model.defaults.height, model.defaults.width)
    } else {
        let m = model.rules.pixel_multiple as u32;
        for (flag, v) in [("--width", plan.width), ("--height", plan.height)] {
            if !v.is_multiple_of(m) {
                crate::usage_bail!(
                    "{flag} must be a multiple of {m} for {}, got {v}",
                    model.dir.display()
                );
            }
        }
        (plan.height as usize, plan.width as usize)
    };
    let mut template = model.defaults.request("");
    template.negative_prompt = args.negative.clone();
    template.steps = args.steps.map_or(template.steps, |v| v as usize);
    template.guidance = args.guidance.unwrap_or(template.guidance);
    (template.height, template.width) = size;
    template.output_size = native.then_some((plan.height as usize, plan.width as usize));
    let load = LoadOptions {
        force: args.force,
        ..LoadOptions::default()
    };
    let renderer = model::PipelineRenderer::new(
        &model.dir,
        model.rules,
        model.defaults.keyframes,
        template,
        load,
        &plan,
    )?;
    if let Some(shot) = plan.shots.iter().find(|s| {
        matches!(
            &s.content,
            ShotContent::Generated {
                first_frame: Some(_),
                ..
            }
        )
    }) && !renderer.takes_first_frame()?
    {
        crate::usage_bail!(
            "{}: shot {} (line {}) starts from an image, but {} was not trained with a \
             first-frame condition; remove its `image` or use a model that takes one (kino-mini)",
            args.script.display(),
            shot.number,
            shot.line,
            model.dir.display()
        );
    }

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
        say!(
            "shots rendered={} cached={} cards={} render_seconds={:.2}",
            r.rendered.len(),
            r.cached.len(),
            r.cards_drawn,
            r.seconds
        );
        let v = &film.assembled.video;
        say!(
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
            say!("wrote {}", path.display());
        }
        say!("shot cache {}", film.cache_dir.display());
    }
    Ok(())
}
