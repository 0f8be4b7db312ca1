//! Checkpoints: everything a run needs to continue exactly where it stopped (weights, AdamW
//! moments, EMA weights, the step, the recipe and the loss history), written to a temporary
//! folder and swapped in by rename, so `kill -9` at any instant leaves the previous complete
//! checkpoint (at worst under its `.old` name, which [`load`] also reads).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::recipe::Recipe;

/// What a checkpoint's `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Optimiser steps completed.
    pub step: usize,
    /// The recipe the run follows.
    pub recipe: Recipe,
    /// Mean loss of each step so far.
    pub losses: Vec<f32>,
    /// Seconds spent training so far, across resumes.
    pub seconds: f64,
    /// Recipe fields changed when the run was resumed (`--change`), oldest first; `recipe`
    /// holds their current values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::recipe_change::RecipeChange>,
}

/// The folder names inside a run's output folder.
const CURRENT: &str = "checkpoint";
const PREVIOUS: &str = "checkpoint.old";
const INCOMING: &str = "checkpoint.tmp";
const TENSORS: &str = "state.safetensors";
const INFO: &str = "state.json";

/// Errors reading or writing a checkpoint, each naming the path.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what a checkpoint holds.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a run's or a stage's folder (and its parents) if it is not there yet.
pub fn create_dir(dir: &Path) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// Writes `tensors` and `info` as the run's checkpoint in `out`, atomically.
pub fn save(
    out: &Path,
    tensors: &HashMap<String, Tensor>,
    info: &CheckpointInfo,
) -> Result<(), CheckpointError> {
    let incoming = out.join(INCOMING);
    if incoming.exists() {
        std::fs::remove_dir_all(&incoming).map_err(io(&incoming))?;
    }
    std::fs::create_dir_all(&incoming).map_err(io(&incoming))?;
    let tensor_path = incoming.join(TENSORS);
    candle_core::safetensors::save(tensors, &tensor_path).map_err(|e| {
        CheckpointError::Invalid {
            path: tensor_path.clone(),
            message: e.to_string(),
        }
    })?;
    let info_path = incoming.join(INFO);
    let json = serde_json::to_string(info).map_err(|e| CheckpointError::Invalid {
        path: info_path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&info_path, json).map_err(io(&info_path))?;
    let (current, previous) = (out.join(CURRENT), out.join(PREVIOUS));
    if current.exists() {
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(io(&previous))?;
        }
        std::fs::rename(&current, &previous).map_err(io(&current))?;
    }
    std::fs::rename(&incoming, &current).map_err(io(&incoming))?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(io(&previous))?;
    }
    Ok(())
}

/// The newest complete checkpoint in `out`, if any.
pub fn latest(out: &Path) -> Option<PathBuf> {
    [CURRENT, PREVIOUS]
        .iter()
        .map(|name| out.join(name))
        .find(|dir| dir.join(TENSORS).is_file() && dir.join(INFO).is_file())
}

impl CheckpointInfo {
    /// A run at step 0 of `recipe`: nothing trained yet.
    pub fn new(recipe: Recipe) -> Self {
        Self {
            step: 0,
            recipe,
            losses: Vec::new(),
            seconds: 0.0,
            changes: Vec::new(),
        }
    }
}

/// Reads a checkpoint folder's `state.json` alone (the step and recipe, without the
/// tensors).
pub fn read_info(dir: &Path) -> Result<CheckpointInfo, CheckpointError> {
    let info_path = dir.join(INFO);
    let text = std::fs::read_to_string(&info_path).map_err(io(&info_path))?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
        path: info_path.clone(),
        message: e.to_string(),
    })
}

/// Reads a checkpoint folder written by [`save`].
pub fn load(
    dir: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, CheckpointInfo), CheckpointError> {
    let info = read_info(dir)?;
    let tensor_path = dir.join(TENSORS);
    let tensors = candle_core::safetensors::load(&tensor_path, device).map_err(|e| {
        CheckpointError::Invalid {
            path: tensor_path.clone(),
            message: e.to_string(),
        }
    })?;
    Ok((tensors, info))
}

/// What a checkpoint holds of a run's weights and optimiser: the AdamW moments
/// (`m.NAME`, `v.NAME`) and each variable's value as `w.NAME`.
pub fn weights_and_moments(
    optimiser: &crate::optim::AdamW,
    vars: &[(String, candle_core::Var)],
) -> HashMap<String, Tensor> {
    let mut tensors = optimiser.state();
    for (name, var) in vars {
        tensors.insert(format!("w.{name}"), var.as_tensor().clone());
    }
    tensors
}

/// Sets each variable to its `w.NAME` value in `tensors`; a missing one is an error naming it
/// (and `what` the checkpoint is of).
pub fn restore_weights(
    tensors: &HashMap<String, Tensor>,
    vars: &[(String, candle_core::Var)],
    what: &str,
) -> Result<(), candle_core::Error> {
    for (name, var) in vars {
        let t = tensors.get(&format!("w.{name}")).ok_or_else(|| {
            candle_core::Error::Msg(format!("{what} checkpoint has no weight w.{name}"))
        })?;
        var.set(t)?;
    }
    Ok(())
}
