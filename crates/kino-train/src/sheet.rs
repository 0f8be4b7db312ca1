//! Sheets of clips for people to look at: one row per clip, eight evenly spaced frames,
//! scaled up with square pixels (the model's native pixels, not smoothed).

use std::path::Path;

use image::{Rgb, RgbImage};
use kino_pipeline::{NoProgress, Pipeline, PipelineError};

/// Frames per row.
const COLUMNS: usize = 8;
/// Pixels between frames.
const GAP: u32 = 2;

/// One row per clip (RGB8 frames of `width` x `height`), eight evenly spaced frames each,
/// scaled `zoom` times.
pub fn clips_sheet(clips: &[&[Vec<u8>]], width: u32, height: u32, zoom: u32) -> RgbImage {
    let (cw, ch) = (width * zoom + GAP, height * zoom + GAP);
    let mut sheet = RgbImage::from_pixel(
        COLUMNS as u32 * cw + GAP,
        clips.len() as u32 * ch + GAP,
        Rgb([32, 32, 32]),
    );
    for (row, frames) in clips.iter().enumerate() {
        let picks = kino_media::evenly_spaced(frames.len(), COLUMNS);
        for (col, &index) in picks.iter().enumerate() {
            let frame = &frames[index];
            for y in 0..height * zoom {
                for x in 0..width * zoom {
                    let i = (((y / zoom) * width + x / zoom) * 3) as usize;
                    if let Some(px) = frame.get(i..i + 3) {
                        sheet.put_pixel(
                            GAP + col as u32 * cw + x,
                            GAP + row as u32 * ch + y,
                            Rgb([px[0], px[1], px[2]]),
                        );
                    }
                }
            }
        }
    }
    sheet
}

/// Prompts a training run samples at every checkpoint: held-out combinations, one per motion
/// family, so progress on motion is visible.
pub const SAMPLE_PROMPTS: [&str; 6] = [
    "a blue ball moving to the left on green grass",
    "an orange star drifting to the right over the sea",
    "a red square falling in the desert",
    "a yellow triangle rising against the blue sky",
    "a white ball bouncing on a black background",
    "a purple square growing on green grass",
];

/// Why a sample sheet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// Loading the model or generating a sample failed.
    #[error("sampling: {0}")]
    Generate(#[from] PipelineError),
    /// Writing the PNG failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The sheet's path.
        path: std::path::PathBuf,
        /// What went wrong.
        source: image::ImageError,
    },
}

/// Generates [`SAMPLE_PROMPTS`] (seed 0, native size) with the model in `model_dir` and
/// writes their sheet to `path` (atomically).
pub fn write_samples_sheet(model_dir: &Path, path: &Path) -> Result<(), SheetError> {
    let pipeline = Pipeline::load(model_dir, &kino_pipeline::LoadOptions::default())?;
    let defaults = pipeline.defaults().clone();
    let mut clips = Vec::new();
    for prompt in SAMPLE_PROMPTS {
        let request = kino_pipeline::GenerateRequest {
            output_size: None,
            ..defaults.request(prompt)
        };
        clips.push(pipeline.generate(&request, &mut NoProgress)?.to_rgb8()?);
    }
    let rows: Vec<&[Vec<u8>]> = clips.iter().map(Vec::as_slice).collect();
    let zoom = (128 / defaults.height.max(1) as u32).max(1);
    let sheet = clips_sheet(&rows, defaults.width as u32, defaults.height as u32, zoom);
    let tmp = path.with_extension("png.tmp");
    let write_error = |source| SheetError::Write {
        path: path.to_path_buf(),
        source,
    };
    sheet
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(write_error)?;
    std::fs::rename(&tmp, path).map_err(|e| write_error(image::ImageError::IoError(e)))
}
