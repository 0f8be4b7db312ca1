//! RGB <-> Y'CbCr, ITU-R BT.601 limited ("TV") range: what H.264 decoders, ffmpeg and
//! browsers assume for SD-style content and what our streams signal in their VUI/headers.

/// Planar 4:2:0 picture; chroma planes are `ceil(w/2) x ceil(h/2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Yuv420 {
    /// Luma width.
    pub width: usize,
    /// Luma height.
    pub height: usize,
    /// Luma plane, `width * height`.
    pub y: Vec<u8>,
    /// Blue-difference plane.
    pub u: Vec<u8>,
    /// Red-difference plane.
    pub v: Vec<u8>,
}

impl Yuv420 {
    /// Chroma plane width.
    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }

    /// Chroma plane height.
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }
}

const KR: f32 = 0.299;
const KB: f32 = 0.114;
const KG: f32 = 1.0 - KR - KB;

#[inline]
fn clamp_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Luma of one RGB pixel, limited range.
#[inline]
pub fn luma(r: f32, g: f32, b: f32) -> u8 {
    clamp_u8(16.0 + 219.0 / 255.0 * (KR * r + KG * g + KB * b))
}

/// Chroma (Cb, Cr) of one RGB pixel, limited range.
#[inline]
pub fn chroma(r: f32, g: f32, b: f32) -> (u8, u8) {
    let y = KR * r + KG * g + KB * b;
    let cb = (b - y) / (2.0 * (1.0 - KB));
    let cr = (r - y) / (2.0 * (1.0 - KR));
    (
        clamp_u8(128.0 + 224.0 / 255.0 * cb),
        clamp_u8(128.0 + 224.0 / 255.0 * cr),
    )
}

/// One pixel back to RGB. `full_range` selects JPEG-style 0..255 levels.
#[inline]
pub fn to_rgb(y: u8, cb: u8, cr: u8, full_range: bool) -> [u8; 3] {
    let (yn, cbn, crn) = if full_range {
        (y as f32, cb as f32 - 128.0, cr as f32 - 128.0)
    } else {
        (
            (y as f32 - 16.0) * 255.0 / 219.0,
            (cb as f32 - 128.0) * 255.0 / 224.0,
            (cr as f32 - 128.0) * 255.0 / 224.0,
        )
    };
    let r = yn + 2.0 * (1.0 - KR) * crn;
    let b = yn + 2.0 * (1.0 - KB) * cbn;
    let g = (yn - KR * r - KB * b) / KG;
    [clamp_u8(r), clamp_u8(g), clamp_u8(b)]
}

/// Converts an RGB8 image to 4:2:0; each chroma sample is the mean of its (up to) 2x2 block.
pub fn rgb_to_yuv420(rgb: &[u8], width: usize, height: usize) -> Yuv420 {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let mut y = vec![0u8; width * height];
    let mut u = vec![0u8; cw * ch];
    let mut v = vec![0u8; cw * ch];
    for (row, (src, dst)) in rgb
        .chunks_exact(width * 3)
        .zip(y.chunks_exact_mut(width))
        .enumerate()
    {
        let _ = row;
        for (px, out) in src.chunks_exact(3).zip(dst.iter_mut()) {
            *out = luma(px[0] as f32, px[1] as f32, px[2] as f32);
        }
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for yy in (cy * 2)..(cy * 2 + 2).min(height) {
                for xx in (cx * 2)..(cx * 2 + 2).min(width) {
                    let i = (yy * width + xx) * 3;
                    r += rgb[i] as f32;
                    g += rgb[i + 1] as f32;
                    b += rgb[i + 2] as f32;
                    n += 1.0;
                }
            }
            let (cb, cr) = chroma(r / n, g / n, b / n);
            u[cy * cw + cx] = cb;
            v[cy * cw + cx] = cr;
        }
    }
    Yuv420 {
        width,
        height,
        y,
        u,
        v,
    }
}

/// Converts a planar picture with chroma subsampled by (`sx`, `sy`) (1 or 2 each) to RGB8.
pub fn planar_to_rgb(
    planes: [&[u8]; 3],
    width: usize,
    height: usize,
    (sx, sy): (usize, usize),
    full_range: bool,
) -> Vec<u8> {
    let cw = width.div_ceil(sx);
    let mut out = Vec::with_capacity(width * height * 3);
    for yy in 0..height {
        for xx in 0..width {
            let ci = (yy / sy) * cw + xx / sx;
            out.extend_from_slice(&to_rgb(
                planes[0][yy * width + xx],
                planes[1][ci],
                planes[2][ci],
                full_range,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_round_trip_within_two_levels() {
        for rgb in [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 255],
            [0, 0, 0],
            [128, 64, 200],
        ] {
            let (cb, cr) = chroma(rgb[0] as f32, rgb[1] as f32, rgb[2] as f32);
            let y = luma(rgb[0] as f32, rgb[1] as f32, rgb[2] as f32);
            let back = to_rgb(y, cb, cr, false);
            for c in 0..3 {
                assert!(
                    (back[c] as i32 - rgb[c] as i32).abs() <= 2,
                    "{rgb:?} -> {back:?}"
                );
            }
        }
    }

    #[test]
    fn limited_range_levels() {
        assert_eq!(luma(0.0, 0.0, 0.0), 16);
        assert_eq!(luma(255.0, 255.0, 255.0), 235);
        assert_eq!(chroma(128.0, 128.0, 128.0), (128, 128));
    }

    #[test]
    fn odd_sizes_have_ceiling_chroma() {
        let rgb = vec![200u8; 5 * 3 * 3];
        let p = rgb_to_yuv420(&rgb, 5, 3);
        assert_eq!((p.u.len(), p.v.len(), p.y.len()), (6, 6, 15));
        let back = planar_to_rgb([&p.y, &p.u, &p.v], 5, 3, (2, 2), false);
        assert!(back.iter().all(|&c| (c as i32 - 200).abs() <= 2));
    }
}
