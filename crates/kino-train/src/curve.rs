//! The loss curve as a PNG: every step's loss (light) and a running mean (dark) on a log
//! scale, with faint grid lines at each power of ten and at every tenth of the run.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::checkpoint::CheckpointError;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 400;
const MARGIN: u32 = 20;

fn line(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), colour: Rgb<u8>) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let u = i as f32 / steps as f32;
        let (x, y) = (x0 + (x1 - x0) * u, y0 + (y1 - y0) * u);
        if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

/// Draws `losses` (one per step) into `path`, written atomically.
pub fn write_loss_curve(path: &Path, losses: &[f32]) -> Result<(), CheckpointError> {
    let mut img = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    let finite: Vec<f32> = losses
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if finite.len() >= 2 {
        let lo = finite
            .iter()
            .copied()
            .fold(f32::MAX, f32::min)
            .log10()
            .floor();
        let hi = finite
            .iter()
            .copied()
            .fold(f32::MIN, f32::max)
            .log10()
            .ceil();
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let (w, h) = ((WIDTH - 2 * MARGIN) as f32, (HEIGHT - 2 * MARGIN) as f32);
        let x_of = |i: usize| MARGIN as f32 + w * i as f32 / (losses.len() - 1).max(1) as f32;
        let y_of = |v: f32| MARGIN as f32 + h * (hi - v.max(1e-12).log10()) / (hi - lo);
        let grid = Rgb([225, 225, 225]);
        let mut decade = lo;
        while decade <= hi {
            let y = y_of(10f32.powf(decade));
            line(
                &mut img,
                (MARGIN as f32, y),
                ((WIDTH - MARGIN) as f32, y),
                grid,
            );
            decade += 1.0;
        }
        for tenth in 0..=10 {
            let x = MARGIN as f32 + w * tenth as f32 / 10.0;
            line(
                &mut img,
                (x, MARGIN as f32),
                (x, (HEIGHT - MARGIN) as f32),
                grid,
            );
        }
        let raw = Rgb([170, 200, 240]);
        let smooth = Rgb([20, 60, 160]);
        let window = (losses.len() / 50).max(1);
        let mut previous: Option<(f32, f32)> = None;
        let mut previous_mean: Option<(f32, f32)> = None;
        for (i, &v) in losses.iter().enumerate() {
            if !(v.is_finite() && v > 0.0) {
                continue;
            }
            let p = (x_of(i), y_of(v));
            if let Some(q) = previous {
                line(&mut img, q, p, raw);
            }
            previous = Some(p);
            let from = i.saturating_sub(window);
            let slice = &losses[from..=i];
            let m = slice.iter().sum::<f32>() / slice.len() as f32;
            let pm = (x_of(i), y_of(m));
            if let Some(q) = previous_mean {
                line(&mut img, q, pm, smooth);
            }
            previous_mean = Some(pm);
        }
    }
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| CheckpointError::Invalid {
            path: tmp.clone(),
            message: e.to_string(),
        })?;
    std::fs::rename(&tmp, path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}
