//! `kino world render`: a caption straight to video through the procedural world.

use super::output;
use crate::cli::WorldRenderArgs;
use crate::exit::UsageError;
use anyhow::Context;
use kino_media::{RgbImage, VideoSpec};

/// Longest clip `world render` makes, in seconds.
const MAX_SECONDS: f64 = 3600.0;

/// Renders the caption to the output file.
pub fn render(args: &WorldRenderArgs, quiet: bool) -> anyhow::Result<()> {
    if !args.seconds.is_finite() || args.seconds <= 0.0 || args.seconds > MAX_SECONDS {
        crate::usage_bail!(
            "--seconds must be above 0 and at most {MAX_SECONDS}, got {}",
            args.seconds
        );
    }
    let spec = VideoSpec {
        width: args.width,
        height: args.height,
        fps: args.fps,
    };
    let format = output::format_of(&args.output)?;
    let frames = (args.seconds * args.fps).round().max(1.0) as u32;
    output::check_spec(format, &spec, frames)?;

    let parsed =
        kino_world::parse(&args.prompt).map_err(|e| UsageError(format!("caption: {e}")))?;
    if !parsed.ignored.is_empty() {
        eprintln!(
            "warning: ignored words not in the world's vocabulary: {}",
            parsed.ignored.join(", ")
        );
    }
    let settings = kino_world::RenderSettings {
        width: args.width,
        height: args.height,
        fps: args.fps,
        frames,
        seed: args.seed,
    };
    let renderer = kino_world::Renderer::new(&parsed.spec, &settings)
        .map_err(|e| UsageError(e.to_string()))?;
    let writer = output::open(&args.output, format, spec)?;
    let mut truth = renderer.empty_truth();
    output::write_frames(&args.output, writer, frames as usize, quiet, |i| {
        let (buf, objects) = renderer.frame(i as u32);
        for (track, object) in truth.objects.iter_mut().zip(objects) {
            track.frames.push(object);
        }
        Ok(RgbImage::from_raw(args.width, args.height, buf)
            .expect("world frames match the requested size"))
    })?;
    if let Some(truth_path) = &args.truth {
        let json = serde_json::to_vec_pretty(&truth).context("cannot serialise ground truth")?;
        kino_media::write_bytes(truth_path, &json)?;
    }
    Ok(())
}
