//! Typed configs, one per component, each mirroring its `config.json` field by field.
//!
//! Fields follow the reference's constructor arguments. Unknown fields are ignored (configs
//! carry bookkeeping such as `_diffusers_version`, `architectures`). A field is required when
//! every released Wan 2.1 config has it (the architecture: widths, depths, patch size); it
//! gets the reference's default only when it was added to the reference later, so that older
//! files still load (`rope_max_seq_len`, the Wan 2.2 VAE options). After parsing, `validate`
//! rejects values that cannot describe a working text-to-video model, naming the field.

mod transformer;
mod umt5;
mod vae;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use transformer::WanTransformerConfig;
pub use umt5::Umt5Config;
pub use vae::WanVaeConfig;

use crate::LoadError;
use crate::loading::read_json;

/// A config value that parses but cannot work: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The field, as named in `config.json`.
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

/// `Err(ConfigIssue)` unless `ok`.
pub(crate) fn ensure(
    ok: bool,
    field: &'static str,
    message: impl FnOnce() -> String,
) -> Result<(), ConfigIssue> {
    if ok {
        Ok(())
    } else {
        Err(ConfigIssue {
            field,
            message: message(),
        })
    }
}

/// `Err` unless the optional `_class_name` (or `model_type`) is `expected`.
pub(crate) fn ensure_class(
    found: Option<&str>,
    field: &'static str,
    expected: &str,
) -> Result<(), ConfigIssue> {
    ensure(found.is_none_or(|c| c == expected), field, || {
        format!("is {:?}, expected {expected:?}", found.unwrap_or_default())
    })
}

/// Reads `path` as `T` and validates it, naming the file in every error.
pub(crate) fn load_config<T: DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), ConfigIssue>,
) -> Result<T, LoadError> {
    let config: T = read_json(path)?;
    validate(&config).map_err(|issue| LoadError::InvalidConfig {
        path: path.to_path_buf(),
        field: issue.field.to_string(),
        message: issue.message,
    })?;
    Ok(config)
}
