//! `kino generate`: checks every flag, finds the model, runs kino-pipeline, and writes the
//! video (and, with `--frames-out`, the float frames for comparison with other
//! implementations).

use super::output;
use crate::cli::GenerateArgs;
use crate::exit::UsageError;
use crate::progress;
use anyhow::{Context, bail};
use candle_core::{Device, Tensor};
use indicatif::ProgressBar;
use kino_media::{RgbImage, VideoSpec};
use kino_models::ModelDir;
use kino_pipeline::{
    GenerateRequest, LoadOptions, ModelDefaults, Pipeline, PipelineError, Progress,
    SchedulerChoice, SizeRules, Stage, VideoSize,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where `--model mini` is looked for, in order: `$KINO_MINI_DIR`, `./models/kino-mini`, the
/// repository the binary was built in, and the repository around `target/<profile>/kino`.
pub fn mini_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("KINO_MINI_DIR") {
        out.push(PathBuf::from(dir));
    }
    out.push(PathBuf::from("models/kino-mini"));
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-mini"));
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/kino -> repository root
        if let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
            out.push(root.join("models/kino-mini"));
        }
    }
    out
}

/// The model folder `--model` names: `mini` (kino-mini, shipped in the repository) or a
/// diffusers-layout folder, checked for `model_index.json` and its component folders.
pub fn resolve_model(model: &str) -> anyhow::Result<PathBuf> {
    let dir = if model == "mini" {
        mini_candidates()
            .into_iter()
            .find(|p| p.join("model_index.json").is_file())
            .with_context(|| {
                "kino-mini's weights are not installed (looked for models/kino-mini/model_index.json \
                 in the working folder and the repository); run `kino train mini` to make them, \
                 set KINO_MINI_DIR, or pass --model DIR with a diffusers-layout model"
            })?
    } else {
        check_model_dir(Path::new(model))?
    };
    let class = read_model_index(&dir)?;
    if class != "WanPipeline" {
        bail!(
            "{}: a {class} model; kino runs WanPipeline (Wan 2.1 text-to-video) models",
            dir.display()
        );
    }
    Ok(dir)
}

/// Checks flags, resolves the model, generates, and writes the video (and `--frames-out`).
pub fn run(args: &GenerateArgs, quiet: bool) -> anyhow::Result<()> {
    let format = output::format_of(&args.output)?;
    check_flags(args)?;
    let model_dir = resolve_model(&args.model)?;
    let model = ModelDir::open(&model_dir)?;
    let rules = SizeRules::for_model(&model)?;
    let defaults = ModelDefaults::for_model(&model)?;
    let request = request(args, &rules, &defaults)?;
    request
        .validate_with_keyframes(&rules, defaults.keyframes)
        .map_err(usage_if_invalid)?;
    let (out_height, out_width) = request
        .output_size
        .unwrap_or((request.height, request.width));
    let spec = VideoSpec {
        width: out_width as u32,
        height: out_height as u32,
        fps: args.fps.unwrap_or(defaults.fps),
    };
    output::check_spec(format, &spec, request.frames as u32)?;

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
    let video = pipeline
        .generate(&request, &mut progress)
        .map_err(usage_if_invalid)?;
    progress.finish();

    if let Some(path) = &args.save_plan {
        let Some(plan) = &video.plan else {
            crate::usage_bail!(
                "--save-plan {}: this model has no layout stage, so the clip followed no plan",
                path.display()
            );
        };
        let text = serde_json::to_string_pretty(plan)?;
        kino_media::write_bytes(path, (text + "\n").as_bytes())
            .with_context(|| format!("--save-plan {}", path.display()))?;
        if !quiet {
            say!("plan {}", path.display());
        }
    }
    if let Some(path) = &args.frames_out {
        save_frames(path, &video.frames)?;
        if !quiet {
            say!("frames {}", path.display());
        }
    }
    let frames = video.to_rgb8()?;
    output::write_frames(&args.output, writer, frames.len(), quiet, |i| {
        Ok(
            RgbImage::from_raw(spec.width, spec.height, frames[i].clone())
                .expect("generated frames have the requested size"),
        )
    })?;
    Ok(())
}

/// The checks that need no model: counts and scales that are wrong for any model.
fn check_flags(args: &GenerateArgs) -> anyhow::Result<()> {
    for (flag, v) in [("--height", args.height), ("--width", args.width)] {
        if v == Some(0) {
            crate::usage_bail!("{flag} must be at least 1");
        }
    }
    if args.frames == Some(0) {
        crate::usage_bail!("--frames must be at least 1");
    }
    if args.steps == Some(0) {
        crate::usage_bail!("--steps must be at least 1");
    }
    if let Some(g) = args.guidance.filter(|g| !g.is_finite() || *g < 0.0) {
        crate::usage_bail!("--guidance must be a finite number >= 0, got {g}");
    }
    if let Some(s) = args.flow_shift.filter(|s| !(s.is_finite() && *s > 0.0)) {
        crate::usage_bail!("--flow-shift must be a positive number, got {s}");
    }
    if let Some(phi) = args
        .guidance_rescale
        .filter(|phi| !(phi.is_finite() && (0.0..=1.0).contains(phi)))
    {
        crate::usage_bail!("--guidance-rescale must be in [0, 1], got {phi}");
    }
    if args.max_sequence_length == Some(0) {
        crate::usage_bail!("--max-sequence-length must be at least 1");
    }
    if let Some(fps) = args.fps.filter(|f| !(f.is_finite() && *f > 0.0)) {
        crate::usage_bail!("--fps must be a positive number, got {fps}");
    }
    Ok(())
}

/// The library request the flags describe over the model's defaults, with `--noise` and
/// `--first-frame` read. For a model that upscales its output (kino-mini), --width/--height
/// set the output size; otherwise they set the generated size.
fn request(
    args: &GenerateArgs,
    rules: &SizeRules,
    defaults: &ModelDefaults,
) -> anyhow::Result<GenerateRequest> {
    let mut request = defaults.request(&args.prompt);
    request.negative_prompt = args.negative.clone();
    match request.output_size {
        Some((h, w)) => {
            request.output_size = Some((
                args.height.map_or(h, |v| v as usize),
                args.width.map_or(w, |v| v as usize),
            ));
        }
        None => {
            request.height = args.height.map_or(request.height, |v| v as usize);
            request.width = args.width.map_or(request.width, |v| v as usize);
        }
    }
    request.frames = args.frames.map_or(request.frames, |v| v as usize);
    request.steps = args.steps.map_or(request.steps, |v| v as usize);
    request.guidance = args.guidance.unwrap_or(request.guidance);
    request.guidance_rescale = args.guidance_rescale.unwrap_or(request.guidance_rescale);
    request.guidance_interval = args.guidance_interval.or(request.guidance_interval);
    request.max_sequence_length = args
        .max_sequence_length
        .unwrap_or(request.max_sequence_length);
    request.flow_shift = args.flow_shift.or(request.flow_shift);
    request.seed = args.seed;
    request.scheduler = args
        .scheduler
        .map_or(SchedulerChoice::Model, SchedulerChoice::from);
    if let Some(path) = &args.noise {
        request.noise = Some(load_noise(path, rules, &request)?);
    }
    if let Some(keyframe_first) = args.keyframe_first {
        request.keyframe_first = keyframe_first;
    }
    if let Some(path) = &args.first_frame {
        request.first_frame = Some(load_first_frame(path, request.height, request.width)?);
    }
    if let Some(path) = &args.init_video {
        request.init_video = Some(load_init_video(path, &request)?);
    }
    if let Some(path) = &args.plan {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("--plan {}", path.display()))?;
        let plan = serde_json::from_str(&text)
            .with_context(|| format!("--plan {}: not a plan", path.display()))?;
        request.plan = Some(plan);
    }
    if let Some(strength) = args.strength {
        if !(strength.is_finite() && strength > 0.0 && strength <= 1.0) {
            crate::usage_bail!("--strength must be above 0 and at most 1, got {strength}");
        }
        request.strength = strength;
    }
    Ok(request)
}

/// The first `request.frames` frames of a video file or PNG folder as `(frames, height,
/// width, 3)` f32 in `[0, 1]`, each resized (bilinear) to the size the model generates at.
fn load_init_video(path: &Path, request: &GenerateRequest) -> anyhow::Result<Tensor> {
    let video = kino_media::read_video(path, kino_pipeline::WAN_FPS)
        .with_context(|| format!("--init-video {}", path.display()))?;
    let have = video.frames().len();
    if have < request.frames {
        crate::usage_bail!(
            "--init-video {}: {have} frames, fewer than the {} to generate (set --frames)",
            path.display(),
            request.frames
        );
    }
    let frames = video.frames()[..request.frames]
        .iter()
        .map(|frame| {
            let (w, h) = (frame.width() as usize, frame.height() as usize);
            let pixels = Tensor::from_vec(frame.as_raw().clone(), (h, w, 3), &Device::Cpu)?
                .to_dtype(candle_core::DType::F32)?
                .affine(1.0 / 255.0, 0.0)?;
            resize_frame(pixels, request.height, request.width)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Tensor::stack(&frames, 0)?)
}

/// A frame `(h, w, 3)` resized (bilinear) to `(height, width, 3)`.
fn resize_frame(pixels: Tensor, height: usize, width: usize) -> anyhow::Result<Tensor> {
    let (h, w, _) = pixels.dims3()?;
    if (h, w) == (height, width) {
        return Ok(pixels);
    }
    Ok(pixels
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()?
        .upsample_bilinear2d(height, width, false)?
        .squeeze(0)?
        .permute((1, 2, 0))?
        .contiguous()?)
}

/// An image file as `(height, width, 3)` f32 in `[0, 1]`, resized (bilinear) to the size the
/// model generates at.
fn load_first_frame(path: &Path, height: usize, width: usize) -> anyhow::Result<Tensor> {
    let image = kino_media::read_image(path)
        .with_context(|| format!("--first-frame {}", path.display()))?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let pixels = Tensor::from_vec(image.into_raw(), (h, w, 3), &Device::Cpu)?
        .to_dtype(candle_core::DType::F32)?
        .affine(1.0 / 255.0, 0.0)?;
    resize_frame(pixels, height, width)
}

/// Tensor "noise" of a safetensors file; a wrong shape is a usage error naming the one wanted.
fn load_noise(path: &Path, rules: &SizeRules, request: &GenerateRequest) -> anyhow::Result<Tensor> {
    let mut tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("--noise {}: cannot read it as safetensors", path.display()))?;
    let want = rules.latent_shape(request.height, request.width, request.frames);
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
            request.frames,
            request.width,
            request.height
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
        PipelineError::InvalidRequest { field, message } => {
            let flag = match field {
                "output_size" => "--width/--height".to_string(),
                "negative_prompt" => "--negative".to_string(),
                other => format!("--{}", other.replace('_', "-")),
            };
            anyhow::Error::new(UsageError(format!("{flag}: {message}")))
        }
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
            Stage::EncodeVideo => eprintln!("encoding the init video"),
            Stage::Denoise => {}
            Stage::Decode => eprintln!("decoding"),
            Stage::Interpolate => eprintln!("interpolating the frames between keyframes"),
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
