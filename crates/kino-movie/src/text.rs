//! Text on frames with the font shipped in assets/fonts (DejaVu Sans, Bitstream Vera
//! licence: see assets/fonts/LICENSE-DejaVu.txt), rasterised by ab_glyph with coverage
//! anti-aliasing. Used for title cards and burned-in subtitles.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use kino_media::RgbImage;

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Lays out and draws text with the shipped font.
#[derive(Debug, Clone)]
pub struct TextRenderer {
    font: FontRef<'static>,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TextRenderer {
    /// The shipped font.
    pub fn new() -> Self {
        Self {
            font: FontRef::try_from_slice(FONT).expect("the font compiled into kino-movie parses"),
        }
    }

    /// Width in pixels of `text` at `px` pixels per em.
    pub fn width(&self, text: &str, px: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(px));
        let mut width = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            prev = Some(id);
        }
        width
    }

    /// Height of one line (ascent - descent) at `px`.
    pub fn line_height(&self, px: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(px));
        font.ascent() - font.descent()
    }

    /// Breaks `text` into lines no wider than `max_width` at word boundaries (a word wider
    /// than the line stays whole on its own line).
    pub fn wrap(&self, text: &str, px: f32, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.lines() {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty() && self.width(&candidate, px) > max_width {
                    lines.push(std::mem::replace(&mut line, word.to_string()));
                } else {
                    line = candidate;
                }
            }
            lines.push(line);
        }
        lines
    }

    /// Draws one line with its left end at `x` and its top at `top`, blending `color` by
    /// glyph coverage.
    pub fn draw(
        &self,
        image: &mut RgbImage,
        text: &str,
        px: f32,
        x: f32,
        top: f32,
        color: [u8; 3],
    ) {
        let font = self.font.as_scaled(PxScale::from(px));
        let baseline = top + font.ascent();
        let mut caret = x;
        let mut prev = None;
        let (w, h) = (image.width() as i64, image.height() as i64);
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                caret += font.kern(p, id);
            }
            let glyph = id.with_scale_and_position(PxScale::from(px), point(caret, baseline));
            caret += font.h_advance(id);
            prev = Some(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px_x = bounds.min.x as i64 + gx as i64;
                let px_y = bounds.min.y as i64 + gy as i64;
                if px_x < 0 || px_y < 0 || px_x >= w || px_y >= h {
                    return;
                }
                let a = coverage.clamp(0.0, 1.0);
                let pixel = image.get_pixel_mut(px_x as u32, px_y as u32);
                for (channel, target) in pixel.0.iter_mut().zip(color) {
                    *channel = (*channel as f32 * (1.0 - a) + target as f32 * a).round() as u8;
                }
            });
        }
    }

    /// Draws `text` centred horizontally in the image with its top at `top`.
    pub fn draw_centered(
        &self,
        image: &mut RgbImage,
        text: &str,
        px: f32,
        top: f32,
        color: [u8; 3],
    ) {
        let x = (image.width() as f32 - self.width(text, px)) / 2.0;
        self.draw(image, text, px, x, top, color);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_inside_the_line_box() {
        let text = TextRenderer::new();
        let mut image = RgbImage::new(120, 40);
        text.draw_centered(&mut image, "THE END", 16.0, 10.0, [255, 255, 255]);
        let lit: Vec<(u32, u32)> = image
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] > 128)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(lit.len() > 50, "{} lit pixels", lit.len());
        let width = text.width("THE END", 16.0);
        let left = ((120.0 - width) / 2.0).floor() as u32;
        assert!(lit.iter().all(|&(x, y)| x + 1 >= left
            && (x as f32) <= left as f32 + width + 1.0
            && y >= 10
            && (y as f32) < 10.0 + text.line_height(16.0) + 1.0));
    }

    #[test]
    fn wraps_at_words() {
        let text = TextRenderer::new();
        let lines = text.wrap("one two three four five six", 12.0, 50.0);
        assert!(lines.len() > 1);
        assert!(
            lines
                .iter()
                .all(|l| text.width(l, 12.0) <= 50.0 || !l.contains(' '))
        );
        assert_eq!(lines.join(" "), "one two three four five six");
    }
}
