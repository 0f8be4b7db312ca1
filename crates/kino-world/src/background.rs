//! Backgrounds: a textured backdrop per [`Background`], deterministic from the seed.
//!
//! Every backdrop keeps its saturation below 0.6 and its value above black's threshold, so
//! [`Colour::classify`](crate::Colour::classify) never names a background pixel as an object
//! colour (white and black backgrounds excepted, by design). Texture is multiplicative
//! brightness (grass blades, dunes, waves), which leaves saturation unchanged. Everything but
//! the sea is static and computed once per clip; the sea's waves move with time in seconds.

use crate::rng::mix64;
use crate::scene::Background;
use std::f32::consts::TAU;

/// A backdrop ready to paint frames of one clip.
#[derive(Debug, Clone)]
pub(crate) struct Backdrop {
    /// Static RGB layer, row-major.
    base: Vec<u8>,
    width: usize,
    height: usize,
    waves: Option<Waves>,
}

/// Precomputed wave terms: brightness `1 + A sin(a(x) + b(y, t))`, split with the angle-sum
/// identity so each pixel costs a few multiplies instead of a `sin`.
#[derive(Debug, Clone)]
struct Waves {
    sin_a: Vec<f32>,
    cos_a: Vec<f32>,
}

/// Wave brightness amplitude.
const WAVE_AMPLITUDE: f32 = 0.08;
/// Wave crests from top to bottom.
const WAVE_ROWS: f32 = 8.0;
/// Wave crest speed, crests per second.
const WAVE_HZ: f32 = 0.6;

/// A hash of a pixel (or cell) position to `[0, 1)`.
#[inline]
fn hash2(x: u32, y: u32, seed: u64) -> f32 {
    let h = mix64(seed ^ (u64::from(x) << 32 | u64::from(y)));
    (h >> 40) as f32 / (1u64 << 24) as f32
}

#[inline]
fn shade(rgb: [f32; 3], f: f32) -> [u8; 3] {
    rgb.map(|c| (c * f + 0.5) as u8)
}

#[inline]
fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

impl Backdrop {
    /// Builds the static layer (and wave tables for the sea).
    pub fn new(background: Background, width: u32, height: u32, seed: u64) -> Self {
        let (w, h) = (width as usize, height as usize);
        let seed = mix64(seed ^ 0x6261_636b); // "back"
        let mut base = vec![0u8; w * h * 3];
        let (wf, hf) = (width as f32, height as f32);
        // Texture cells scale with the frame so a backdrop looks alike at any size.
        let blade_w = (width / 100).max(1);
        let blade_h = (height / 12).max(2);
        let phase = hash2(0, 0, seed) * TAU;
        for y in 0..height {
            let v = (y as f32 + 0.5) / hf;
            let row = &mut base[y as usize * w * 3..(y as usize + 1) * w * 3];
            for (x, px) in (0..width).zip(row.chunks_exact_mut(3)) {
                let u = (x as f32 + 0.5) / wf;
                let rgb = match background {
                    Background::Grass => {
                        let col = x / blade_w;
                        let stagger = (hash2(col, 0, seed) * blade_h as f32) as u32;
                        let blade = hash2(col, (y + stagger) / blade_h + 1, seed);
                        let f = (0.88 + 0.16 * blade + 0.06 * hash2(x, y, seed ^ 1))
                            * (0.92 + 0.08 * v);
                        shade([95.0, 150.0, 80.0], f)
                    }
                    Background::Sky => {
                        let c = lerp3([100.0, 150.0, 225.0], [185.0, 210.0, 240.0], v);
                        shade(c, 0.985 + 0.03 * hash2(x, y, seed))
                    }
                    Background::NightSky => {
                        let c = lerp3([12.0, 16.0, 45.0], [30.0, 36.0, 80.0], v);
                        shade(c, 1.0)
                    }
                    Background::Desert => {
                        let ridge = (TAU * (v * 4.0 + 0.3 * (TAU * u * 1.2 + phase).sin())).sin();
                        shade(
                            [220.0, 185.0, 120.0],
                            0.9 + 0.08 * ridge + 0.04 * hash2(x, y, seed),
                        )
                    }
                    Background::Sea => shade([80.0, 120.0, 160.0], 1.04 - 0.14 * v),
                    Background::White => shade([244.0, 244.0, 244.0], 1.0 - 0.055 * v),
                    Background::Black => shade([14.0, 14.0, 14.0], 1.0 + 1.0 * v),
                };
                px.copy_from_slice(&rgb);
            }
        }
        if background == Background::NightSky {
            scatter_stars(&mut base, width, height, seed);
        }
        let waves = (background == Background::Sea).then(|| {
            let a: Vec<f32> = (0..width)
                .map(|x| 1.2 * (TAU * 2.0 * (x as f32 + 0.5) / wf + phase).sin())
                .collect();
            Waves {
                sin_a: a.iter().map(|a| a.sin()).collect(),
                cos_a: a.iter().map(|a| a.cos()).collect(),
            }
        });
        Self {
            base,
            width: w,
            height: h,
            waves,
        }
    }

    /// Paints the backdrop at time `t` seconds into `out` (RGB8, the clip's size).
    pub fn paint(&self, t: f32, out: &mut [u8]) {
        let Some(waves) = &self.waves else {
            out.copy_from_slice(&self.base);
            return;
        };
        let (w, hf) = (self.width, self.height as f32);
        for y in 0..self.height {
            let b = TAU * (WAVE_ROWS * (y as f32 + 0.5) / hf - WAVE_HZ * t);
            let (sin_b, cos_b) = b.sin_cos();
            let range = y * w * 3..(y + 1) * w * 3;
            let src = self.base[range.clone()].chunks_exact(3);
            let dst = out[range].chunks_exact_mut(3);
            for (((d, s), sa), ca) in dst.zip(src).zip(&waves.sin_a).zip(&waves.cos_a) {
                let f = 1.0 + WAVE_AMPLITUDE * (sa * cos_b + ca * sin_b);
                for k in 0..3 {
                    d[k] = (f32::from(s[k]) * f).min(255.0) as u8;
                }
            }
        }
    }
}

/// Faint pale stars, about one per 350 pixels, dim enough never to read as white.
fn scatter_stars(base: &mut [u8], width: u32, height: u32, seed: u64) {
    let count = ((width as u64 * height as u64) / 350).max(2);
    for i in 0..count {
        let h = mix64(seed ^ mix64(i + 1));
        let x = ((h & 0xffff_ffff) * u64::from(width)) >> 32;
        let y = ((h >> 32) * u64::from(height)) >> 32;
        let f = 0.55 + 0.45 * ((h >> 8) & 0xff) as f32 / 255.0;
        let idx = ((y * u64::from(width) + x) * 3) as usize;
        base[idx..idx + 3].copy_from_slice(&shade([200.0, 200.0, 175.0], f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::Colour;

    #[test]
    fn chromatic_backdrops_never_classify_as_object_colours() {
        for bg in Background::ALL {
            if matches!(bg, Background::White | Background::Black) {
                continue;
            }
            let b = Backdrop::new(bg, 97, 61, 5);
            let mut out = vec![0u8; 97 * 61 * 3];
            for t in [0.0, 0.4, 1.3] {
                b.paint(t, &mut out);
                for px in out.chunks_exact(3) {
                    let c = Colour::classify([px[0], px[1], px[2]]);
                    assert_eq!(c, None, "{bg:?} pixel {px:?} reads as {c:?}");
                }
            }
        }
    }

    #[test]
    fn sea_moves_and_grass_does_not() {
        let mut a = vec![0u8; 32 * 32 * 3];
        let mut b = a.clone();
        let sea = Backdrop::new(Background::Sea, 32, 32, 0);
        sea.paint(0.0, &mut a);
        sea.paint(0.5, &mut b);
        assert_ne!(a, b);
        let grass = Backdrop::new(Background::Grass, 32, 32, 0);
        grass.paint(0.0, &mut a);
        grass.paint(0.5, &mut b);
        assert_eq!(a, b);
    }
}
