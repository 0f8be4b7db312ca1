//! Still images: read PNG/JPEG (for image-to-video and PNG-frame videos), write PNG.

use crate::atomic::AtomicOutput;
use crate::error::{MediaError, Result};
use image::{ImageFormat, ImageReader, RgbImage};
use std::path::Path;

/// Reads a PNG or JPEG file as RGB8 (alpha is dropped). Truncated or corrupt files are an
/// error naming the file.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let reader = ImageReader::open(path)
        .map_err(|e| MediaError::io("cannot open", path, e))?
        .with_guessed_format()
        .map_err(|e| MediaError::io("cannot read", path, e))?;
    match reader.format() {
        Some(ImageFormat::Png) => {}
        Some(ImageFormat::Jpeg) => check_jpeg_complete(path)?,
        Some(other) => {
            return Err(MediaError::corrupt(
                path,
                format!("{other:?} images are not supported (PNG or JPEG)"),
            ));
        }
        None => return Err(MediaError::corrupt(path, "not a PNG or JPEG image")),
    }
    let image = reader
        .decode()
        .map_err(|e| MediaError::corrupt(path, format!("cannot decode image: {e}")))?;
    Ok(image.into_rgb8())
}

/// JPEG decoders fill a truncated scan with grey instead of failing; a complete file has
/// its end-of-image marker (FF D9) after the last start-of-scan (FF DA). Entropy-coded data
/// stuffs every FF with 00, so neither marker can appear inside it by accident.
fn check_jpeg_complete(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::io("cannot read", path, e))?;
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
        _ => Err(MediaError::corrupt(
            path,
            "truncated JPEG (no end-of-image marker after the image data)",
        )),
    }
}

/// Writes an RGB8 image as PNG, atomically.
pub fn write_png(path: &Path, image: &RgbImage) -> Result<()> {
    let out = AtomicOutput::new(path)?;
    image
        .save_with_format(out.temp_path(), ImageFormat::Png)
        .map_err(|e| MediaError::io("cannot write", path, std::io::Error::other(e)))?;
    out.commit()?;
    Ok(())
}
