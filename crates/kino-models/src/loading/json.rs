//! Reading a JSON file into a typed struct, with errors that name the file and the field.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::LoadError;

/// Reads `path` and deserialises it as `T`.
///
/// Errors name the file and, where serde can tell, the field as a path such as
/// `patch_size[1]` ("invalid type: string \"two\", expected usize").
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
    parse_json(path, &text)
}

/// Deserialises `text` (the contents of `path`) as `T`.
pub(crate) fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        LoadError::Json {
            path: path.to_path_buf(),
            field: Some(field),
            message: e.into_inner().to_string(),
        }
    })
}
