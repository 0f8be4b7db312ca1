//! The diffusers directory layout: `model_index.json` and one folder per component.
//!
//! Mirrors what `DiffusionPipeline.save_pretrained` writes (diffusers
//! `pipelines/pipeline_utils.py`): `_class_name`, `_diffusers_version`, and for each component
//! `"name": [library, class]`, with `[null, null]` for an optional component that is absent
//! (WanPipeline's `transformer_2`). Other keys are the pipeline's own settings
//! (`boundary_ratio`, `expand_timesteps`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::json::read_json;
use super::weights::Weights;
use crate::LoadError;
use crate::config::{Umt5Config, WanTransformerConfig, WanVaeConfig};

/// The file name diffusers gives a pipeline's index.
pub const MODEL_INDEX_FILE: &str = "model_index.json";

/// One component listed in `model_index.json`: which library and class saved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `diffusers` or `transformers`.
    pub library: String,
    /// The class, e.g. `WanTransformer3DModel`, `UMT5EncoderModel`, `T5TokenizerFast`.
    pub class_name: String,
}

/// The parsed `model_index.json` of a diffusers pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelIndex {
    /// `_class_name`, e.g. `WanPipeline`.
    pub pipeline_class: String,
    /// `_diffusers_version` of the diffusers that wrote it, when recorded.
    pub diffusers_version: Option<String>,
    /// Present components by name (also their folder names). Absent optional components
    /// (`[null, null]`) are left out.
    pub components: BTreeMap<String, Component>,
    /// The pipeline's own settings (keys that are not components), e.g. `boundary_ratio`.
    pub settings: BTreeMap<String, Value>,
}

impl ModelIndex {
    /// Reads and parses a `model_index.json` file.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let raw: BTreeMap<String, Value> = read_json(path)?;
        Self::from_map(path, raw)
    }

    fn from_map(path: &Path, raw: BTreeMap<String, Value>) -> Result<Self, LoadError> {
        let bad = |field: &str, message: String| LoadError::InvalidConfig {
            path: path.to_path_buf(),
            field: field.to_string(),
            message,
        };
        let mut pipeline_class = None;
        let mut diffusers_version = None;
        let mut components = BTreeMap::new();
        let mut settings = BTreeMap::new();
        for (key, value) in raw {
            match key.as_str() {
                "_class_name" => match value {
                    Value::String(s) => pipeline_class = Some(s),
                    other => return Err(bad(&key, format!("expected a string, found {other}"))),
                },
                "_diffusers_version" => diffusers_version = value.as_str().map(str::to_string),
                // Kino's own generation defaults travel in a key diffusers ignores.
                "_kino_defaults" => {
                    settings.insert(key, value);
                }
                _ if key.starts_with('_') => {}
                _ => match &value {
                    Value::Array(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                        (Value::Null, Value::Null) => {}
                        (Value::String(library), Value::String(class_name)) => {
                            let component = Component {
                                library: library.clone(),
                                class_name: class_name.clone(),
                            };
                            components.insert(key, component);
                        }
                        _ => {
                            return Err(bad(
                                &key,
                                format!("expected [library, class] strings, found {value}"),
                            ));
                        }
                    },
                    _ => {
                        settings.insert(key, value);
                    }
                },
            }
        }
        let pipeline_class = pipeline_class.ok_or_else(|| {
            bad(
                "_class_name",
                "missing; expected e.g. \"WanPipeline\"".into(),
            )
        })?;
        Ok(Self {
            pipeline_class,
            diffusers_version,
            components,
            settings,
        })
    }
}

/// A model directory in diffusers layout whose listed component folders all exist.
#[derive(Debug, Clone)]
pub struct ModelDir {
    root: PathBuf,
    index: ModelIndex,
}

impl ModelDir {
    /// Opens `root`: parses its `model_index.json` and checks that every listed component has
    /// its folder (the error names the missing folder).
    pub fn open(root: impl AsRef<Path>) -> Result<Self, LoadError> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(LoadError::io(
                &root,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let index = ModelIndex::from_file(&root.join(MODEL_INDEX_FILE))?;
        for name in index.components.keys() {
            if !root.join(name).is_dir() {
                return Err(LoadError::MissingComponent {
                    dir: root,
                    component: name.clone(),
                });
            }
        }
        Ok(Self { root, index })
    }

    /// The directory this model was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The parsed `model_index.json`.
    pub fn index(&self) -> &ModelIndex {
        &self.index
    }

    /// Whether `model_index.json` lists the component (and so its folder exists).
    pub fn has_component(&self, name: &str) -> bool {
        self.index.components.contains_key(name)
    }

    /// The folder of a listed component, e.g. `component_dir("vae")`.
    pub fn component_dir(&self, name: &str) -> Result<PathBuf, LoadError> {
        if self.index.components.contains_key(name) {
            Ok(self.root.join(name))
        } else {
            Err(LoadError::UnknownComponent {
                path: self.root.join(MODEL_INDEX_FILE),
                component: name.to_string(),
            })
        }
    }

    /// Opens a component's weights (single-file or sharded safetensors).
    pub fn weights(&self, name: &str) -> Result<Weights, LoadError> {
        Weights::open(self.component_dir(name)?)
    }

    /// `transformer/config.json`, parsed and validated.
    pub fn transformer_config(&self) -> Result<WanTransformerConfig, LoadError> {
        WanTransformerConfig::from_file(&self.component_dir("transformer")?.join("config.json"))
    }

    /// `vae/config.json`, parsed and validated.
    pub fn vae_config(&self) -> Result<WanVaeConfig, LoadError> {
        WanVaeConfig::from_file(&self.component_dir("vae")?.join("config.json"))
    }

    /// `text_encoder/config.json`, parsed and validated.
    pub fn text_encoder_config(&self) -> Result<Umt5Config, LoadError> {
        Umt5Config::from_file(&self.component_dir("text_encoder")?.join("config.json"))
    }

    /// `tokenizer/tokenizer.json` (the file the `tokenizers` crate loads); an error if absent.
    pub fn tokenizer_json(&self) -> Result<PathBuf, LoadError> {
        existing_file(self.component_dir("tokenizer")?.join("tokenizer.json"))
    }

    /// `scheduler/scheduler_config.json` (diffusers names a scheduler's config so, not
    /// `config.json`); an error if absent.
    pub fn scheduler_config(&self) -> Result<PathBuf, LoadError> {
        existing_file(
            self.component_dir("scheduler")?
                .join("scheduler_config.json"),
        )
    }
}

fn existing_file(path: PathBuf) -> Result<PathBuf, LoadError> {
    if path.is_file() {
        Ok(path)
    } else {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        Err(LoadError::io(path, missing))
    }
}
