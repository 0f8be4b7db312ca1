//! Checking output flags early and writing frames with a progress bar and contact sheet.

use crate::cli::{FormatArg, OutputArgs};
use crate::exit::UsageError;
use crate::progress;
use anyhow::Context;
use kino_media::{ContactSheetLayout, RgbImage, VideoFormat, VideoSpec, VideoWriter, WrittenVideo};

/// The container chosen by `--format`, else by the output's extension (a usage error if
/// neither names one).
pub fn format_of(args: &OutputArgs) -> anyhow::Result<VideoFormat> {
    Ok(match args.format {
        Some(FormatArg::Mp4) => VideoFormat::Mp4,
        Some(FormatArg::Gif) => VideoFormat::Gif,
        Some(FormatArg::Y4m) => VideoFormat::Y4m,
        Some(FormatArg::Png) => VideoFormat::Png,
        None => VideoFormat::from_path(&args.output).map_err(|e| UsageError(e.to_string()))?,
    })
}

/// Checks size, rate and frame count against Kino's and the container's limits, before
/// any work starts; failures are usage errors naming the flag's value.
pub fn check_spec(format: VideoFormat, spec: &VideoSpec, frames: u32) -> anyhow::Result<()> {
    let usage = |e: kino_media::MediaError| anyhow::Error::new(UsageError(e.to_string()));
    spec.validate().map_err(usage)?;
    match format {
        VideoFormat::Mp4 => {
            kino_media::check_mp4_size(spec.width, spec.height).map_err(usage)?;
            if frames < 2 {
                crate::usage_bail!(
                    "an MP4 needs at least 2 frames, got {frames}; lengthen the clip or write a .png"
                );
            }
        }
        VideoFormat::Gif if spec.fps > kino_media::MAX_GIF_FPS => {
            crate::usage_bail!(
                "GIF plays at most {} fps, got {}; use .mp4",
                kino_media::MAX_GIF_FPS,
                spec.fps
            );
        }
        _ => {}
    }
    Ok(())
}

/// Opens the writer (failing fast on an unwritable path) before frames are made.
pub fn open(
    args: &OutputArgs,
    format: VideoFormat,
    spec: VideoSpec,
) -> anyhow::Result<Box<dyn VideoWriter>> {
    kino_media::create_writer(&args.output, Some(format), spec)
        .with_context(|| format!("cannot write {}", args.output.display()))
}

/// Streams `count` frames made by `next(i)` into the writer with one progress bar, keeping
/// only the frames the contact sheet shows; then writes the sheet unless
/// `--no-contact-sheet`, and prints a summary unless `--quiet`.
pub fn write_frames(
    args: &OutputArgs,
    mut writer: Box<dyn VideoWriter>,
    count: usize,
    quiet: bool,
    mut next: impl FnMut(usize) -> anyhow::Result<RgbImage>,
) -> anyhow::Result<WrittenVideo> {
    let layout = ContactSheetLayout::default();
    let picks = kino_media::evenly_spaced(count, layout.frames);
    let mut sheet_frames = Vec::with_capacity(picks.len());
    let bar = progress::bar(count as u64, "frames", quiet);
    for i in 0..count {
        let frame = next(i)?;
        writer.write_frame(&frame)?;
        if picks.binary_search(&i).is_ok() {
            sheet_frames.push(frame);
        }
        bar.inc(1);
    }
    let written = writer.finish()?;
    bar.finish_and_clear();
    if !args.no_contact_sheet {
        let sheet = kino_media::write_contact_sheet(&written.path, &sheet_frames, &layout)?;
        if !quiet {
            say!("contact sheet {}", sheet.display());
        }
    }
    if !quiet {
        say!(
            "wrote {} ({} {}x{}, {} frames at {} fps, {:.2} s, {} KiB)",
            written.path.display(),
            written.format,
            written.width,
            written.height,
            written.frames,
            written.fps,
            written.frames as f64 / written.fps,
            written.bytes.div_ceil(1024)
        );
    }
    Ok(written)
}
