//! A model folder's `_kino_defaults`: the guidance options it may set reach the request, and
//! values out of range are refused with the key and the file named.
#![allow(clippy::unwrap_used)]

use kino_models::ModelDir;
use kino_pipeline::{GuidanceInterval, ModelDefaults};

/// A model folder with no components and these `_kino_defaults` entries over kino-mini's.
fn folder(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let index = format!(
        r#"{{
  "_class_name": "WanPipeline",
  "_kino_defaults": {{
    "fps": 8.0, "frames": 16, "guidance": 4.0, "height": 32, "width": 32,
    "max_sequence_length": 24, "steps": 20{extra}
  }}
}}"#
    );
    std::fs::write(dir.path().join("model_index.json"), index).unwrap();
    dir
}

fn defaults(extra: &str) -> Result<ModelDefaults, String> {
    let dir = folder(extra);
    let model = ModelDir::open(dir.path()).unwrap();
    ModelDefaults::for_model(&model).map_err(|e| e.to_string())
}

#[test]
fn guidance_options_reach_the_request() {
    let plain = defaults("").unwrap();
    let request = plain.request("a red ball");
    assert_eq!(request.guidance_rescale, 0.0);
    assert_eq!(request.guidance_interval, None);

    let set = defaults(r#", "guidance_rescale": 0.5, "guidance_interval": [0.2, 0.9]"#).unwrap();
    let request = set.request("a red ball");
    assert_eq!(request.guidance_rescale, 0.5);
    assert_eq!(
        request.guidance_interval,
        Some(GuidanceInterval::new(0.2, 0.9).unwrap())
    );
}

#[test]
fn out_of_range_guidance_options_are_named() {
    for (extra, key) in [
        (r#", "guidance_rescale": 1.5"#, "guidance_rescale"),
        (r#", "guidance_interval": [0.9, 0.2]"#, "guidance_interval"),
        (r#", "guidance_interval": [0.1, 2.0]"#, "guidance_interval"),
    ] {
        let message = defaults(extra).unwrap_err();
        assert!(
            message.contains(key) && message.contains("model_index.json"),
            "{extra}: {message}"
        );
    }
}
