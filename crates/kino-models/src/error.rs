//! The one error type of the loading layer: each variant names the file (and the field or
//! tensor) a user must look at.

use std::path::PathBuf;

/// Why a model directory, a config or a weight could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("failed to read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// `model_index.json` lists a component whose folder is not there.
    #[error(
        "model directory {} lists component `{component}`, but the folder {} does not exist",
        dir.display(),
        dir.join(component).display()
    )]
    MissingComponent {
        /// The model directory.
        dir: PathBuf,
        /// The component (and folder) name, e.g. `transformer`.
        component: String,
    },

    /// A component was asked for that `model_index.json` does not list.
    #[error("{} lists no component `{component}`", path.display())]
    UnknownComponent {
        /// The `model_index.json` file.
        path: PathBuf,
        /// The component asked for.
        component: String,
    },

    /// A JSON file is malformed or a field has the wrong type, or a required one is missing.
    #[error("invalid {}: {}{message}", path.display(), field_prefix(field))]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The field, as a path like `patch_size[1]`, when known.
        field: Option<String>,
        /// What was wrong.
        message: String,
    },

    /// A config parsed but one of its values cannot describe a working model.
    #[error("invalid {}: field `{field}`: {message}", path.display())]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },

    /// A component folder has neither a `*.safetensors` file nor a shard index.
    #[error("no *.safetensors file or *.safetensors.index.json in {}", dir.display())]
    NoWeights {
        /// The component folder.
        dir: PathBuf,
    },

    /// A component folder holds several weight files and none is the one diffusers or
    /// transformers would pick.
    #[error("{} holds several weight files ({}) and no shard index to say which to use", dir.display(), names.join(", "))]
    AmbiguousWeights {
        /// The component folder.
        dir: PathBuf,
        /// The candidate file names.
        names: Vec<String>,
    },

    /// A shard index names a shard file that is not there.
    #[error("shard index {} names {}, which does not exist", index.display(), shard.display())]
    MissingShard {
        /// The `*.safetensors.index.json` file.
        index: PathBuf,
        /// The missing shard.
        shard: PathBuf,
    },

    /// A safetensors file's header is unreadable or inconsistent with the file.
    #[error("corrupt safetensors file {}: {reason}", path.display())]
    CorruptSafetensors {
        /// The safetensors file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// A tensor the model needs is in none of the component's weight files.
    #[error(
        "failed to load {component} weights: tensor {name} is not in {}",
        files_list(files)
    )]
    MissingTensor {
        /// The component (folder name), e.g. `transformer`.
        component: String,
        /// The tensor name.
        name: String,
        /// The files searched (or the shard the index pointed to).
        files: Vec<PathBuf>,
    },

    /// A tensor is stored with a different shape than the config implies.
    #[error(
        "failed to load {component} weights from {}: tensor {name} has shape {found:?}, expected {expected:?}",
        path.display()
    )]
    ShapeMismatch {
        /// The component (folder name).
        component: String,
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape in the file.
        found: Box<[usize]>,
        /// The shape the caller expected.
        expected: Box<[usize]>,
    },

    /// A tensor is stored in a dtype this loader does not read (only F32, F16, BF16 are).
    #[error(
        "failed to load {component} weights from {}: tensor {name} is stored as {dtype}, which is not one of F32, F16, BF16",
        path.display()
    )]
    UnsupportedDtype {
        /// The component (folder name).
        component: String,
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The dtype string in the safetensors header.
        dtype: String,
    },

    /// A tensor operation (dtype conversion, device copy) failed.
    #[error("failed to load {component} weights: tensor {name}: {source}")]
    Tensor {
        /// The component (folder name).
        component: String,
        /// The tensor name.
        name: String,
        /// candle's error.
        source: Box<candle_core::Error>,
    },

    /// A `tokenizer.json` could not be parsed by the `tokenizers` crate.
    #[error("invalid tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The `tokenizer.json` file.
        path: PathBuf,
        /// What the tokenizers crate said.
        message: String,
    },
}

impl LoadError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

fn field_prefix(field: &Option<String>) -> String {
    match field {
        Some(f) if !f.is_empty() && f != "." => format!("field `{f}`: "),
        _ => String::new(),
    }
}

fn files_list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}
