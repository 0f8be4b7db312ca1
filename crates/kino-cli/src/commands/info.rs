//! `kino info`: what a video, image, safetensors file or model folder is.

use crate::cli::InfoArgs;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Prints a description of the path.
pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let path = &args.path;
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    let value = if path.is_dir() && path.join("model_index.json").is_file() {
        model_folder(path)?
    } else if path.extension().is_some_and(|e| e == "safetensors") {
        safetensors(path)?
    } else {
        serde_json::to_value(kino_media::probe(path)?).expect("plain struct serialises")
    };
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON value serialises")
        );
    } else if let Some(map) = value.as_object() {
        say!("{}", path.display());
        for (k, v) in map {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            say!("  {k:<17} {shown}");
        }
    }
    Ok(())
}

/// Tensor count, dtypes and parameter count from a safetensors header (nothing else read).
fn safetensors(path: &Path) -> anyhow::Result<serde_json::Value> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let total = file.metadata()?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).with_context(|| {
        format!(
            "{}: truncated safetensors file (no header length)",
            path.display()
        )
    })?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100_000_000 || header_len + 8 > total {
        bail!(
            "{}: corrupt safetensors header (claims {header_len} bytes in a {total}-byte file)",
            path.display()
        );
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .with_context(|| format!("{}: corrupt safetensors header", path.display()))?;
    let (mut tensors, mut params) = (0u64, 0u64);
    let mut dtypes: BTreeMap<String, u64> = BTreeMap::new();
    for (name, entry) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let shape = entry
            .get("shape")
            .and_then(|s| s.as_array())
            .with_context(|| format!("{}: tensor {name} has no shape", path.display()))?;
        params += shape
            .iter()
            .map(|d| d.as_u64().unwrap_or(0))
            .product::<u64>();
        let dtype = entry
            .get("dtype")
            .and_then(|d| d.as_str())
            .unwrap_or("?")
            .to_string();
        *dtypes.entry(dtype).or_default() += 1;
        tensors += 1;
    }
    Ok(serde_json::json!({
        "kind": "safetensors",
        "tensors": tensors,
        "parameters": params,
        "dtypes": dtypes,
        "bytes": total,
    }))
}

/// The pipeline class and each component's class from a diffusers model folder.
fn model_folder(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let path = dir.join("model_index.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let index: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let mut components = BTreeMap::new();
    if let Some(map) = index.as_object() {
        for (name, v) in map.iter().filter(|(k, _)| !k.starts_with('_')) {
            if let Some(class) = v.as_array().and_then(|a| a.get(1)).and_then(|c| c.as_str()) {
                let present = if dir.join(name).is_dir() {
                    ""
                } else {
                    " (missing)"
                };
                components.insert(name.clone(), format!("{class}{present}"));
            }
        }
    }
    Ok(serde_json::json!({
        "kind": "diffusers model folder",
        "pipeline": index.get("_class_name"),
        "diffusers_version": index.get("_diffusers_version"),
        "components": components,
    }))
}
