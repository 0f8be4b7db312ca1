//! `kino bench encode`: how fast frames become a file.

use crate::cli::BenchEncodeArgs;
use anyhow::Context;
use kino_media::{RgbImage, VideoFormat, VideoSpec};
use std::time::Instant;

/// Renders world frames (untimed), then times encoding them `repeat` times.
pub fn encode(args: &BenchEncodeArgs, quiet: bool) -> anyhow::Result<()> {
    let format = match args.format {
        crate::cli::FormatArg::Mp4 => VideoFormat::Mp4,
        crate::cli::FormatArg::Gif => VideoFormat::Gif,
        crate::cli::FormatArg::Y4m => VideoFormat::Y4m,
        crate::cli::FormatArg::Png => VideoFormat::Png,
    };
    let spec = VideoSpec {
        width: args.width,
        height: args.height,
        fps: args.fps,
    };
    super::output::check_spec(format, &spec, args.frames)?;
    if args.repeat == 0 {
        crate::usage_bail!("--repeat must be at least 1");
    }
    let scene =
        kino_world::parse("a red ball moving right and a blue square spinning on green grass")
            .context("benchmark caption")?
            .spec;
    let settings = kino_world::RenderSettings {
        width: args.width,
        height: args.height,
        fps: args.fps,
        frames: args.frames,
        seed: 0,
    };
    let clip = kino_world::render(&scene, &settings)?;
    let frames: Vec<RgbImage> = clip
        .frames
        .into_iter()
        .map(|b| {
            RgbImage::from_raw(args.width, args.height, b)
                .expect("world frames match the requested size")
        })
        .collect();
    let dir = tempfile_dir()?;
    let mut seconds = Vec::new();
    let mut bytes = 0;
    for run in 0..args.repeat {
        let path = dir.join(format!("bench-{run}.{}", format.name()));
        let start = Instant::now();
        let mut writer = kino_media::create_writer(&path, Some(format), spec)?;
        for f in &frames {
            writer.write_frame(f)?;
        }
        let written = writer.finish()?;
        seconds.push(start.elapsed().as_secs_f64());
        bytes = written.bytes;
        if !quiet {
            eprintln!("run {}: {:.3} s", run + 1, seconds[run as usize]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    seconds.sort_by(f64::total_cmp);
    let best = seconds[0];
    let median = seconds[seconds.len() / 2];
    say!(
        "format={format} width={} height={} frames={}",
        args.width,
        args.height,
        args.frames
    );
    say!("best_seconds={best:.4} median_seconds={median:.4}");
    say!("frames_per_second={:.1}", args.frames as f64 / median);
    say!("bytes={bytes}");
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kino-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
