//! Title cards: white lines of text centred on black, the first line (the title) larger.

use kino_media::RgbImage;

use crate::text::TextRenderer;

/// A `width` x `height` card showing `lines` (each wrapped to 90% of the width), the block
/// centred vertically.
pub fn render_card(text: &TextRenderer, lines: &[String], width: u32, height: u32) -> RgbImage {
    let mut image = RgbImage::new(width, height);
    let title_px = (height as f32 / 7.0).clamp(6.0, 120.0);
    let body_px = (height as f32 / 13.0).clamp(5.0, 64.0);
    let max_width = width as f32 * 0.9;
    let mut laid: Vec<(String, f32)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let px = if i == 0 { title_px } else { body_px };
        if line.trim().is_empty() {
            laid.push((String::new(), px));
            continue;
        }
        for wrapped in text.wrap(line, px, max_width) {
            laid.push((wrapped, px));
        }
    }
    let gap = |px: f32| text.line_height(px) * 1.15;
    let total: f32 = laid.iter().map(|(_, px)| gap(*px)).sum();
    let mut top = (height as f32 - total) / 2.0;
    for (line, px) in &laid {
        text.draw_centered(&mut image, line, *px, top, [255, 255, 255]);
        top += gap(*px);
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_white_on_black_and_centred() {
        let text = TextRenderer::new();
        let card = render_card(&text, &["THE END".to_string()], 160, 90);
        let lit: Vec<(u32, u32)> = card
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0.iter().all(|&c| c > 200))
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(lit.len() > 30);
        let (cx, cy) = lit
            .iter()
            .fold((0.0, 0.0), |(a, b), &(x, y)| (a + x as f64, b + y as f64));
        let (cx, cy) = (cx / lit.len() as f64, cy / lit.len() as f64);
        assert!(
            (cx - 80.0).abs() < 8.0 && (cy - 45.0).abs() < 8.0,
            "{cx} {cy}"
        );
        assert_eq!(card.get_pixel(0, 0).0, [0, 0, 0]);
    }
}
