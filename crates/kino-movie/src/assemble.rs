//! Assembly: the cached shots become one film, streamed frame by frame into a kino-media
//! writer (only the shot being cut and the tail of the one before are in memory).
//!
//! - a cut: shot B's first frame follows shot A's last;
//! - a dissolve of `d` frames: A's last `d` frames and B's first `d` frames overlap; the
//!   `j`-th (0-based) film frame of the overlap is `A * (1 - w) + B * w` with
//!   `w = (j + 1) / (d + 1)`, rounded;
//! - a fade out over `f` frames scales the `j`-th of a shot's last `f` frames by
//!   `(f - 1 - j) / f` (the last is black); a fade in scales the `j`-th of its first `f`
//!   frames by `j / f` (the first is black);
//! - burned-in subtitles are drawn on the film frames their cue covers.

use std::path::PathBuf;

use kino_media::{ContactSheetLayout, RgbImage, VideoWriter, WrittenVideo};

use crate::cache::{ShotCache, ShotKey};
use crate::error::{MovieError, Result};
use crate::plan::Plan;
use crate::subtitles::{burn, cue_text};
use crate::text::TextRenderer;

/// What to add while assembling.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssembleOptions {
    /// Draw the subtitles into the picture.
    pub burn_subtitles: bool,
    /// Write `<film>.contact.png` with one frame (the middle one) of every shot.
    pub contact_sheet: bool,
}

/// What assembly wrote.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The film.
    pub video: WrittenVideo,
    /// The contact sheet, if written.
    pub contact_sheet: Option<PathBuf>,
}

/// Writes the film of `plan` from the cached shots named by `keys` (one per shot, in
/// order) into `writer`; `on_frame(written, total)` after each film frame.
pub fn assemble(
    plan: &Plan,
    cache: &ShotCache,
    keys: &[ShotKey],
    mut writer: Box<dyn VideoWriter>,
    options: &AssembleOptions,
    on_frame: &mut dyn FnMut(usize, usize),
) -> Result<Assembled> {
    if keys.len() != plan.shots.len() {
        return Err(MovieError::InvalidSetting(format!(
            "{} cache keys for {} shots",
            keys.len(),
            plan.shots.len()
        )));
    }
    let text = TextRenderer::new();
    let mut sheet = Vec::new();
    let mut written = 0usize;
    let mut tail: Vec<RgbImage> = Vec::new();
    let mut emit = |mut frame: RgbImage, written: &mut usize| -> Result<()> {
        if options.burn_subtitles
            && let Some(cue) = plan
                .cues
                .iter()
                .find(|c| (c.start_frame..c.end_frame).contains(written))
        {
            burn(&text, &mut frame, &cue_text(cue));
        }
        writer.write_frame(&frame)?;
        *written += 1;
        on_frame(*written, plan.total_frames);
        Ok(())
    };
    for (shot, key) in plan.shots.iter().zip(keys) {
        let mut frames = cache.frames(key)?;
        sheet.push(frames[frames.len() / 2].clone());
        let n = frames.len();
        let fade_in = shot.fade_in.min(n);
        for (j, frame) in frames[..fade_in].iter_mut().enumerate() {
            scale(frame, j as f32 / shot.fade_in as f32);
        }
        let fade_out = shot.fade_out.min(n);
        for (j, frame) in frames[n - fade_out..].iter_mut().enumerate() {
            scale(frame, (fade_out - 1 - j) as f32 / fade_out as f32);
        }
        if tail.len() != shot.dissolve_in || shot.dissolve_in + shot.dissolve_out > n {
            return Err(MovieError::InvalidSetting(format!(
                "shot {}: a dissolve of {} frames does not fit",
                shot.number, shot.dissolve_in
            )));
        }
        let d = shot.dissolve_in;
        for (j, (a, b)) in tail.drain(..).zip(&frames[..d]).enumerate() {
            let w = (j + 1) as f32 / (d + 1) as f32;
            emit(blend(&a, b, w), &mut written)?;
        }
        let keep = n - shot.dissolve_out;
        let mut rest = frames.split_off(d);
        tail = rest.split_off(keep - d);
        for frame in rest {
            emit(frame, &mut written)?;
        }
    }
    for frame in tail.drain(..) {
        emit(frame, &mut written)?;
    }
    let video = writer.finish()?;
    if video.frames != plan.total_frames {
        return Err(MovieError::InvalidSetting(format!(
            "wrote {} frames, the plan has {}",
            video.frames, plan.total_frames
        )));
    }
    let contact_sheet = if options.contact_sheet && !sheet.is_empty() {
        let layout = ContactSheetLayout {
            frames: sheet.len(),
            columns: sheet.len().min(6),
            ..ContactSheetLayout::default()
        };
        Some(kino_media::write_contact_sheet(
            &video.path,
            &sheet,
            &layout,
        )?)
    } else {
        None
    };
    Ok(Assembled {
        video,
        contact_sheet,
    })
}

fn scale(frame: &mut RgbImage, gain: f32) {
    for c in frame.iter_mut() {
        *c = (*c as f32 * gain).round() as u8;
    }
}

fn blend(a: &RgbImage, b: &RgbImage, w: f32) -> RgbImage {
    let mut out = a.clone();
    for (o, &y) in out.iter_mut().zip(b.iter()) {
        *o = (*o as f32 * (1.0 - w) + y as f32 * w).round() as u8;
    }
    out
}
