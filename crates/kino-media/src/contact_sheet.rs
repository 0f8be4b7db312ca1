//! Contact sheets: a grid of evenly spaced frames in one PNG, written beside a video so
//! people can look before they play.

use crate::error::Result;
use crate::image_io::write_png;
use image::{Rgb, RgbImage, imageops};
use std::path::{Path, PathBuf};

/// How a contact sheet is laid out.
#[derive(Debug, Clone, Copy)]
pub struct ContactSheetLayout {
    /// Frames shown (fewer if the video is shorter).
    pub frames: usize,
    /// Columns of the grid.
    pub columns: usize,
    /// Largest thumbnail side in pixels (frames are never enlarged).
    pub max_thumb_side: u32,
    /// Gap between thumbnails in pixels.
    pub gap: u32,
}

impl Default for ContactSheetLayout {
    fn default() -> Self {
        Self {
            frames: 8,
            columns: 4,
            max_thumb_side: 256,
            gap: 4,
        }
    }
}

/// Indices of `count` frames spread evenly over `total`, first and last included.
pub fn evenly_spaced(total: usize, count: usize) -> Vec<usize> {
    let count = count.min(total);
    match count {
        0 => vec![],
        1 => vec![0],
        _ => (0..count).map(|i| i * (total - 1) / (count - 1)).collect(),
    }
}

/// Builds the sheet image.
pub fn contact_sheet(frames: &[RgbImage], layout: &ContactSheetLayout) -> RgbImage {
    let picks = evenly_spaced(frames.len(), layout.frames);
    let Some(first) = frames.first() else {
        return RgbImage::new(1, 1);
    };
    let (w, h) = first.dimensions();
    let scale = (layout.max_thumb_side as f64 / w.max(h) as f64).min(1.0);
    let (tw, th) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    let cols = layout.columns.clamp(1, picks.len().max(1)) as u32;
    let rows = (picks.len() as u32).div_ceil(cols);
    let g = layout.gap;
    let mut sheet = RgbImage::from_pixel(
        cols * tw + (cols + 1) * g,
        rows * th + (rows + 1) * g,
        Rgb([24, 24, 24]),
    );
    for (slot, &index) in picks.iter().enumerate() {
        let thumb = if scale < 1.0 {
            imageops::resize(&frames[index], tw, th, imageops::FilterType::Triangle)
        } else {
            frames[index].clone()
        };
        let (c, r) = (slot as u32 % cols, slot as u32 / cols);
        imageops::replace(
            &mut sheet,
            &thumb,
            (g + c * (tw + g)) as i64,
            (g + r * (th + g)) as i64,
        );
    }
    sheet
}

/// Where the sheet of `video_path` goes: `out.mp4` -> `out.contact.png`.
pub fn contact_sheet_path(video_path: &Path) -> PathBuf {
    let trimmed = PathBuf::from(video_path.to_string_lossy().trim_end_matches('/'));
    let stem = trimmed
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    trimmed.with_file_name(format!("{stem}.contact.png"))
}

/// Builds and writes the sheet beside `video_path`; returns its path.
pub fn write_contact_sheet(
    video_path: &Path,
    frames: &[RgbImage],
    layout: &ContactSheetLayout,
) -> Result<PathBuf> {
    let path = contact_sheet_path(video_path);
    write_png(&path, &contact_sheet(frames, layout))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_includes_ends() {
        assert_eq!(evenly_spaced(24, 8), vec![0, 3, 6, 9, 13, 16, 19, 23]);
        assert_eq!(evenly_spaced(3, 8), vec![0, 1, 2]);
        assert_eq!(evenly_spaced(5, 1), vec![0]);
    }

    #[test]
    fn sheet_paths() {
        assert_eq!(
            contact_sheet_path(Path::new("a/out.mp4")),
            PathBuf::from("a/out.contact.png")
        );
        assert_eq!(
            contact_sheet_path(Path::new("frames/")),
            PathBuf::from("frames.contact.png")
        );
    }

    #[test]
    fn grid_size() {
        let frames: Vec<_> = (0..10)
            .map(|i| RgbImage::from_pixel(64, 32, Rgb([i * 20, 0, 0])))
            .collect();
        let sheet = contact_sheet(&frames, &ContactSheetLayout::default());
        assert_eq!(sheet.dimensions(), (4 * 64 + 5 * 4, 2 * 32 + 3 * 4));
        // the last thumbnail is the last frame
        assert_eq!(
            sheet.get_pixel(4 + 3 * 68 + 1, 4 + 36 + 1),
            &Rgb([180, 0, 0])
        );
    }
}
