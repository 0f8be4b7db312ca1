//! `kino generate`: checks every flag, finds the model, runs kino-pipeline, and writes the
//! video (and, with `--frames-out`, the float frames for comparison with other
//! implementations).

use super::output;
use crate::cli::{GenerateArgs, SchedulerArg};
use crate::exit::UsageError;
use crate::progress;
use anyhow::{Context, bail};
use candle_core::{Device, Tensor};
use indicatif::ProgressBar;
use kino_media::{RgbImage, VideoSpec};
use kino_models::ModelDir;
use kino_pipeline::{
    GenerateRequest, LoadOptions, Pipeline, PipelineError, Progress, SchedulerChoice, SizeRules,
    Stage, VideoSize,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where `--model mini` is looked for, in order.
fn mini_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("KINO_MINI_DIR") {
        out.push(PathBuf::from(dir));
    }
    out.push(PathBuf::from("models/kino-mini"));
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/kino -> repository root
        if let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
            out.push(root.join("models/kino-mini"));
        }
    }
    out
}

/// Checks flags, resolves the model, generates, and writes the video (and `--frames-out`).
pub fn run(args: &GenerateArgs, quiet: bool) -> anyhow::Result<()> {
    let format = output::format_of(&args.output)?;
    let spec = VideoSpec {
        width: args.width,
        height: args.height,
        fps: args.fps.unwrap_or(kino_pipeline::WAN_FPS),
    };
    output::check_spec(format, &spec, args.frames)?;
    check_flags(args)?;
    let model_dir = if args.model == "mini" {
        mini_candidates().into_iter().find(|p| p.join("model_index.json").is_file()).with_context(|| {
            "kino-mini's weights are not installed (looked for models/kino-mini/model_index.json); \
             kino-mini is trained in a later milestone; meanwhile `kino world render PROMPT -o OUT` renders \
             simple captions without a model, or pass --model DIR with a diffusers-layout model"
        })?
    } else {
        check_model_dir(Path::new(&args.model))?
    };
    let class = read_model_index(&model_dir)?;
    if class != "WanPipeline" {
        bail!(
            "{}: a {class} model; kino generate runs WanPipeline (Wan 2.1 text-to-video) models",
            model_dir.display()
        );
    }
    let model = ModelDir::open(&model_dir)?;
    let rules = SizeRules::for_model(&model)?;
    let request = request(args, &rules)?;
    request.validate(&rules).map_err(usage_if_invalid)?;

    let writer = output::open(&args.output, format, spec)?;
    let options = LoadOptions {
        plan: VideoSize {
            height: request.height,
            width: request.width,
            frames: request.frames,
        },
        force: args.force,
        ..LoadOptions::default()
    };
    if !quiet {
        eprintln!("loading {}", model_dir.display());
    }
    let pipeline = Pipeline::load(&model_dir, &options)?;
    let mut progress = BarProgress::new(quiet);
    let video = pipeline.generate(&request, &mut progress)?;
    progress.finish();

    if let Some(path) = &args.frames_out {
        save_frames(path, &video.frames)?;
        if !quiet {
            println!("frames {}", path.display());
        }
    }
    let frames = video.to_rgb8()?;
    output::write_frames(&args.output, writer, frames.len(), quiet, |i| {
        Ok(
            RgbImage::from_raw(args.width, args.height, frames[i].clone())
                .expect("generated frames have the requested size"),
        )
    })?;
    Ok(())
}

/// The checks that need no model: sizes, frame count, steps, guidance, shift, prompt length.
/// Wan 2.1's rules (multiples of 16, 4k + 1 frames); the model's own are checked once it is
/// found.
fn check_flags(args: &GenerateArgs) -> anyhow::Result<()> {
    for (flag, v) in [("--height", args.height), ("--width", args.width)] {
        if v == 0 || !v.is_multiple_of(16) {
            crate::usage_bail!("{flag} must be a positive multiple of 16, got {v}");
        }
    }
    if args.frames == 0 || !(args.frames - 1).is_multiple_of(4) {
        let below = (args.frames.max(1) - 1) / 4 * 4 + 1;
        crate::usage_bail!(
            "--frames must be 4k + 1 (1, 5, 9, ..., 81), got {}; try {below} or {}",
            args.frames,
            below + 4
        );
    }
    if args.steps == 0 {
        crate::usage_bail!("--steps must be at least 1");
    }
    if !args.guidance.is_finite() || args.guidance < 0.0 {
        crate::usage_bail!(
            "--guidance must be a finite number >= 0, got {}",
            args.guidance
        );
    }
    if let Some(s) = args.flow_shift.filter(|s| !(s.is_finite() && *s > 0.0)) {
        crate::usage_bail!("--flow-shift must be a positive number, got {s}");
    }
    if args.max_sequence_length == 0 {
        crate::usage_bail!("--max-sequence-length must be at least 1");
    }
    Ok(())
}

/// The library request the flags describe, with `--noise` read.
fn request(args: &GenerateArgs, rules: &SizeRules) -> anyhow::Result<GenerateRequest> {
    let noise = match &args.noise {
        Some(path) => Some(load_noise(path, rules, args)?),
        None => None,
    };
    Ok(GenerateRequest {
        prompt: args.prompt.clone(),
        negative_prompt: args.negative.clone(),
        height: args.height as usize,
        width: args.width as usize,
        frames: args.frames as usize,
        steps: args.steps as usize,
        guidance: args.guidance,
        flow_shift: args.flow_shift,
        seed: args.seed,
        max_sequence_length: args.max_sequence_length,
        scheduler: match args.scheduler {
            None => SchedulerChoice::Model,
            Some(SchedulerArg::Unipc) => SchedulerChoice::UniPc,
            Some(SchedulerArg::Euler) => SchedulerChoice::Euler,
        },
        noise,
    })
}

/// Tensor "noise" of a safetensors file; a wrong shape is a usage error naming the one wanted.
fn load_noise(path: &Path, rules: &SizeRules, args: &GenerateArgs) -> anyhow::Result<Tensor> {
    let mut tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("--noise {}: cannot read it as safetensors", path.display()))?;
    let want = rules.latent_shape(
        args.height as usize,
        args.width as usize,
        args.frames as usize,
    );
    let Some(noise) = tensors.remove("noise") else {
        let mut names: Vec<_> = tensors.keys().cloned().collect();
        names.sort();
        crate::usage_bail!(
            "--noise {}: no tensor named \"noise\" (it holds: {})",
            path.display(),
            names.join(", ")
        );
    };
    if noise.dims() != want {
        crate::usage_bail!(
            "--noise {}: tensor \"noise\" has shape {:?}, expected {want:?} for {} frames of {}x{}",
            path.display(),
            noise.dims(),
            args.frames,
            args.width,
            args.height
        );
    }
    Ok(noise)
}

/// Writes `frames` as tensor "frames" under a temporary name, renamed into place when done.
fn save_frames(path: &Path, frames: &Tensor) -> anyhow::Result<()> {
    let out = kino_media::AtomicOutput::new(path)
        .with_context(|| format!("--frames-out {}", path.display()))?;
    candle_core::safetensors::save(
        &HashMap::from([("frames", frames.clone())]),
        out.temp_path(),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    out.commit()?;
    Ok(())
}

/// Request errors become usage errors (exit code 2); others stay failures.
fn usage_if_invalid(err: PipelineError) -> anyhow::Error {
    match err {
        PipelineError::InvalidRequest { .. } => anyhow::Error::new(UsageError(err.to_string())),
        other => other.into(),
    }
}

/// Stages on stderr and a bar over the denoising steps (hidden with --quiet); warnings
/// always.
struct BarProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl BarProgress {
    fn new(quiet: bool) -> Self {
        Self { quiet, bar: None }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for BarProgress {
    fn stage(&mut self, stage: Stage) {
        self.finish();
        if self.quiet {
            return;
        }
        match stage {
            Stage::LoadTextEncoder => eprintln!("loading the text encoder"),
            Stage::EncodePrompt => eprintln!("encoding the prompt"),
            Stage::Denoise => {}
            Stage::Decode => eprintln!("decoding"),
        }
    }

    fn step(&mut self, index: usize, total: usize) {
        let quiet = self.quiet;
        let bar = self
            .bar
            .get_or_insert_with(|| progress::bar(total as u64, "denoise", quiet));
        bar.set_position(index as u64 + 1);
    }

    fn warning(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}

/// Checks that `dir` looks like a diffusers model folder, naming what is missing.
fn check_model_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if !dir.exists() {
        bail!("--model {}: no such folder", dir.display());
    }
    if !dir.is_dir() {
        bail!(
            "--model {}: not a folder (expected a diffusers model folder with model_index.json)",
            dir.display()
        );
    }
    if !dir.join("model_index.json").is_file() {
        bail!(
            "--model {}: not a diffusers model folder: model_index.json is missing",
            dir.display()
        );
    }
    Ok(dir.to_path_buf())
}

/// The pipeline class named in model_index.json, after checking each component folder.
fn read_model_index(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("model_index.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let index: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let class = index
        .get("_class_name")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: no \"_class_name\"", path.display()))?
        .to_string();
    if let Some(map) = index.as_object() {
        for (name, value) in map.iter().filter(|(k, _)| !k.starts_with('_')) {
            let is_component = value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.is_string()));
            if is_component && !dir.join(name).is_dir() {
                bail!(
                    "{}: component folder {name}/ named in model_index.json is missing",
                    dir.display()
                );
            }
        }
    }
    Ok(class)
}
