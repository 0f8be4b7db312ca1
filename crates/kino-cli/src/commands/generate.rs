//! `kino generate`: the front door. Checks every flag, then finds the model; until a model
//! engine lands it stops with an error naming exactly what is missing.

use super::output;
use crate::cli::GenerateArgs;
use anyhow::{Context, bail};
use kino_media::VideoSpec;
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

/// Checks flags, resolves the model, and runs it.
pub fn run(args: &GenerateArgs, _quiet: bool) -> anyhow::Result<()> {
    let format = output::format_of(&args.output)?;
    let spec = VideoSpec {
        width: args.width.unwrap_or(256),
        height: args.height.unwrap_or(256),
        fps: args.fps.unwrap_or(12.0),
    };
    let frames = args.frames.unwrap_or(25);
    output::check_spec(format, &spec, frames)?;
    if args.steps == Some(0) {
        crate::usage_bail!("--steps must be at least 1");
    }
    if let Some(g) = args.guidance.filter(|g| !g.is_finite() || *g < 0.0) {
        crate::usage_bail!("--guidance must be a finite number >= 0, got {g}");
    }
    let model_dir = if args.model == "mini" {
        mini_candidates().into_iter().find(|p| p.join("model_index.json").is_file()).with_context(|| {
            "kino-mini's weights are not installed (looked for models/kino-mini/model_index.json); \
             kino-mini is trained in a later milestone; meanwhile `kino world render PROMPT -o OUT` renders \
             simple captions without a model, or pass --model DIR with a diffusers-layout model"
        })?
    } else {
        check_model_dir(Path::new(&args.model))?
    };
    let index = read_model_index(&model_dir)?;
    bail!(
        "{}: found a {} model, but the engine that runs diffusers models has not landed yet (it is the Wan 2.1 milestone)",
        model_dir.display(),
        index
    )
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
