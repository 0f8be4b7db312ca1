//! A component's weights: one safetensors file, or shards listed by a
//! `*.safetensors.index.json` (`{"metadata": {..}, "weight_map": {tensor: shard file}}`, as
//! diffusers' and transformers' `save_pretrained` write it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::{SimpleBackend, VarBuilder};
use serde::Deserialize;

use super::json::read_json;
use super::safetensors_file::{SafetensorsFile, TensorInfo};
use crate::LoadError;

/// The file names diffusers and transformers write, preferred when a folder holds several
/// candidates (e.g. a `*.fp16.safetensors` variant beside the full-precision file).
const PREFERRED_STEMS: [&str; 2] = ["diffusion_pytorch_model", "model"];

const SINGLE_SUFFIX: &str = ".safetensors";
const INDEX_SUFFIX: &str = ".safetensors.index.json";

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// The tensors of one component, read on demand by name with shape and dtype checks.
#[derive(Debug, Clone)]
pub struct Weights {
    component: String,
    index_file: Option<PathBuf>,
    files: Vec<SafetensorsFile>,
    /// Tensor name -> position in `files`.
    locations: BTreeMap<String, usize>,
}

impl Weights {
    /// Opens the weights in `dir`: the shard index if there is one (each shard it names must
    /// exist), else the single `*.safetensors` file. Reads every header, no tensor data.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let component = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".to_string());
        let (indexes, singles) = list_candidates(dir)?;
        if !indexes.is_empty() {
            let index = pick(dir, &indexes, INDEX_SUFFIX)?;
            Self::open_sharded(component, dir, &index)
        } else if !singles.is_empty() {
            let single = pick(dir, &singles, SINGLE_SUFFIX)?;
            let file = SafetensorsFile::open(&dir.join(single))?;
            let locations = file.tensors.keys().map(|name| (name.clone(), 0)).collect();
            Ok(Self {
                component,
                index_file: None,
                files: vec![file],
                locations,
            })
        } else {
            Err(LoadError::NoWeights {
                dir: dir.to_path_buf(),
            })
        }
    }

    fn open_sharded(component: String, dir: &Path, index_name: &str) -> Result<Self, LoadError> {
        let index_path = dir.join(index_name);
        let index: ShardIndex = read_json(&index_path)?;
        let mut shard_names: Vec<&String> = index.weight_map.values().collect();
        shard_names.sort();
        shard_names.dedup();
        let mut files = Vec::with_capacity(shard_names.len());
        for shard in &shard_names {
            let path = dir.join(shard);
            if !path.is_file() {
                return Err(LoadError::MissingShard {
                    index: index_path,
                    shard: path,
                });
            }
            files.push(SafetensorsFile::open(&path)?);
        }
        let mut locations = BTreeMap::new();
        // Tensors a shard holds but the index forgot are still found.
        for (i, file) in files.iter().enumerate() {
            for name in file.tensors.keys() {
                locations.insert(name.clone(), i);
            }
        }
        // The index decides where a listed tensor is; if that shard lacks it, `get` says so.
        for (name, shard) in &index.weight_map {
            let i = shard_names.binary_search(&shard).unwrap_or_default();
            locations.insert(name.clone(), i);
        }
        Ok(Self {
            component,
            index_file: Some(index_path),
            files,
            locations,
        })
    }

    /// The component name used in errors (the folder name, e.g. `transformer`).
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The shard index file, when the weights are sharded.
    pub fn index_file(&self) -> Option<&Path> {
        self.index_file.as_deref()
    }

    /// The safetensors files, in shard order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.locations.keys().map(String::as_str)
    }

    /// Whether a tensor of this name is stored.
    pub fn contains(&self, name: &str) -> bool {
        self.lookup(name).is_ok()
    }

    /// Where tensor `name` is stored (file, dtype, shape), or a missing-tensor error.
    pub fn info(&self, name: &str) -> Result<(&Path, &TensorInfo), LoadError> {
        self.lookup(name)
            .map(|(file, info)| (file.path.as_path(), info))
    }

    /// Reads tensor `name`, checks it has `expected_shape`, converts it to `dtype` and puts it
    /// on `device`.
    pub fn get(
        &self,
        name: &str,
        expected_shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let (file, info) = self.lookup(name)?;
        if info.shape != expected_shape {
            return Err(LoadError::ShapeMismatch {
                component: self.component.clone(),
                path: file.path.clone(),
                name: name.to_string(),
                found: info.shape.clone().into(),
                expected: expected_shape.into(),
            });
        }
        file.read(&self.component, name, info, dtype, device)
    }

    /// Reads tensor `name` whatever its shape, as `dtype` on `device`.
    pub fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let (file, info) = self.lookup(name)?;
        file.read(&self.component, name, info, dtype, device)
    }

    /// A candle-nn `VarBuilder` over these weights, so that model code can load by the
    /// reference's tensor names (`vb.pp("blocks").pp(i)`). Its errors carry this crate's
    /// messages (tensor, file, both shapes).
    pub fn into_var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }

    fn lookup(&self, name: &str) -> Result<(&SafetensorsFile, &TensorInfo), LoadError> {
        let missing = |files: Vec<PathBuf>| LoadError::MissingTensor {
            component: self.component.clone(),
            name: name.to_string(),
            files,
        };
        let Some(&i) = self.locations.get(name) else {
            return Err(missing(self.files.iter().map(|f| f.path.clone()).collect()));
        };
        let file = &self.files[i];
        match file.tensors.get(name) {
            Some(info) => Ok((file, info)),
            None => Err(missing(vec![file.path.clone()])),
        }
    }
}

impl SimpleBackend for Weights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        Weights::get(self, name, s.dims(), dtype, dev).map_err(candle_core::Error::wrap)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        Weights::get_unchecked(self, name, dtype, dev).map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// The shard-index and single-file names in `dir`, each sorted.
fn list_candidates(dir: &Path) -> Result<(Vec<String>, Vec<String>), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError::io(dir, e))?;
    let (mut indexes, mut singles) = (Vec::new(), Vec::new());
    for entry in entries {
        let entry = entry.map_err(|e| LoadError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(INDEX_SUFFIX) {
            indexes.push(name);
        } else if name.ends_with(SINGLE_SUFFIX) {
            singles.push(name);
        }
    }
    indexes.sort();
    singles.sort();
    Ok((indexes, singles))
}

/// The one candidate, or the one diffusers/transformers would have written, or an error.
fn pick(dir: &Path, names: &[String], suffix: &str) -> Result<String, LoadError> {
    if let [only] = names {
        return Ok(only.clone());
    }
    PREFERRED_STEMS
        .iter()
        .map(|stem| format!("{stem}{suffix}"))
        .find(|preferred| names.contains(preferred))
        .ok_or_else(|| LoadError::AmbiguousWeights {
            dir: dir.to_path_buf(),
            names: names.to_vec(),
        })
}
