//! The whole job in one call: render the plan's shots into the cache beside the output,
//! assemble the film, and write its subtitles (.srt, .vtt) and timeline (.otio) beside it.
//! Every file appears atomically; the film is opened only after every shot is rendered.

use std::path::{Path, PathBuf};

use kino_media::{VideoFormat, VideoSpec};

use crate::assemble::{AssembleOptions, Assembled, assemble};
use crate::cache::{ShotCache, cache_dir_for};
use crate::error::Result;
use crate::plan::Plan;
use crate::render::{FilmProgress, RenderOptions, RenderReport, ShotRenderer, render_shots};
use crate::{otio, subtitles};

/// Where and how to make a film.
#[derive(Debug, Clone)]
pub struct FilmRequest {
    /// The film (`film.mp4`); its siblings take its stem.
    pub output: PathBuf,
    /// Container (default: from the output's extension).
    pub format: Option<VideoFormat>,
    /// Shots rendered at once.
    pub jobs: usize,
    /// Draw subtitles into the picture.
    pub burn_subtitles: bool,
    /// Write `<stem>.contact.png`.
    pub contact_sheet: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct FilmReport {
    /// What rendering did (rendered vs cached shots).
    pub render: RenderReport,
    /// The film and its contact sheet.
    pub assembled: Assembled,
    /// SubRip subtitles.
    pub srt: PathBuf,
    /// WebVTT subtitles.
    pub vtt: PathBuf,
    /// OpenTimelineIO timeline.
    pub otio: PathBuf,
    /// The shot cache folder.
    pub cache_dir: PathBuf,
}

/// `film.mp4` -> `film.<ext>` beside it.
pub fn sibling(output: &Path, ext: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    output.with_file_name(format!("{stem}.{ext}"))
}

/// Renders, assembles and writes the film of `plan` and its companions.
pub fn make_film(
    plan: &Plan,
    renderer: &dyn ShotRenderer,
    request: &FilmRequest,
    progress: &mut dyn FilmProgress,
) -> Result<FilmReport> {
    // Fail before any work if the film cannot be written where asked (its folder missing).
    drop(kino_media::AtomicOutput::new(&request.output)?);
    let cache_dir = cache_dir_for(&request.output);
    let cache = ShotCache::new(&cache_dir);
    let render = render_shots(
        plan,
        renderer,
        &cache,
        &RenderOptions { jobs: request.jobs },
        progress,
    )?;
    let spec = VideoSpec {
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
    };
    let writer = kino_media::create_writer(&request.output, request.format, spec)?;
    let options = AssembleOptions {
        burn_subtitles: request.burn_subtitles,
        contact_sheet: request.contact_sheet,
    };
    let assembled = assemble(
        plan,
        &cache,
        &render.keys,
        writer,
        &options,
        &mut |done, total| progress.assembling(done, total),
    )?;
    let srt = sibling(&request.output, "srt");
    kino_media::write_bytes(&srt, subtitles::srt(plan).as_bytes())?;
    let vtt = sibling(&request.output, "vtt");
    kino_media::write_bytes(&vtt, subtitles::vtt(plan).as_bytes())?;
    let otio_path = sibling(&request.output, "otio");
    let timeline = otio::timeline(plan, &cache, &render.keys);
    let json = serde_json::to_vec_pretty(&timeline).expect("a JSON value always serialises");
    kino_media::write_bytes(&otio_path, &json)?;
    Ok(FilmReport {
        render,
        assembled,
        srt,
        vtt,
        otio: otio_path,
        cache_dir,
    })
}
