//! Subtitles: SubRip (.srt) and WebVTT (.vtt) from a plan's cues, and burning a cue into a
//! frame with the shipped font.

use kino_media::RgbImage;

use crate::plan::{Cue, Plan};
use crate::text::TextRenderer;

/// Milliseconds from the film's start to film frame `frame`.
pub fn frame_ms(frame: usize, fps: f64) -> u64 {
    (frame as f64 * 1000.0 / fps).round() as u64
}

fn clock(ms: u64, separator: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The text a cue shows: `MARA: Hello.`
pub fn cue_text(cue: &Cue) -> String {
    format!("{}: {}", cue.character, cue.text)
}

/// SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, the speaker's name first.
pub fn srt(plan: &Plan) -> String {
    let mut out = String::new();
    for cue in &plan.cues {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            cue.index,
            clock(frame_ms(cue.start_frame, plan.fps), ','),
            clock(frame_ms(cue.end_frame, plan.fps), ','),
            cue_text(cue)
        ));
    }
    out
}

/// WebVTT: the speaker as a voice span (`<v MARA>`), shown by players that style voices.
pub fn vtt(plan: &Plan) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in &plan.cues {
        out.push_str(&format!(
            "{}\n{} --> {}\n<v {}>{}\n\n",
            cue.index,
            clock(frame_ms(cue.start_frame, plan.fps), '.'),
            clock(frame_ms(cue.end_frame, plan.fps), '.'),
            escape_vtt(&cue.character),
            escape_vtt(&cue.text)
        ));
    }
    out
}

fn escape_vtt(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("-->", "--&gt;")
}

/// Draws `text` near the bottom of `frame`: wrapped white lines over a darkened band.
pub fn burn(renderer: &TextRenderer, frame: &mut RgbImage, text: &str) {
    let (w, h) = frame.dimensions();
    // Small frames still get legible text (10 px), large ones 1/14 of the height.
    let px = (h as f32 / 14.0).clamp(10.0, 48.0);
    let lines = renderer.wrap(text, px, w as f32 * 0.92);
    let line_h = renderer.line_height(px);
    let block = line_h * lines.len() as f32;
    let margin = (h as f32 * 0.04).max(1.0);
    let top = (h as f32 - margin - block).max(0.0);
    let band_top = (top - line_h * 0.15).max(0.0) as u32;
    let band_bottom = ((top + block + line_h * 0.15).ceil() as u32).min(h);
    for y in band_top..band_bottom {
        for x in 0..w {
            let p = frame.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (*c as u32 * 2 / 5) as u8;
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        renderer.draw_centered(frame, line, px, top + line_h * i as f32, [255, 255, 255]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        assert_eq!(clock(3_723_004, ','), "01:02:03,004");
        assert_eq!(frame_ms(25, 16.0), 1563);
        assert_eq!(
            escape_vtt("a <b> & c --> d"),
            "a &lt;b&gt; &amp; c --&gt; d"
        );
    }
}
