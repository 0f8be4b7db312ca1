//! Shape geometry: where a shape's outline lies for a given pose, as a signed distance.
//!
//! Shapes are measured in units of the clip's base radius `r0`: a ball has radius 1, the others
//! are sized to look about as heavy. Polygons are rotated once per frame (not per pixel) and
//! then evaluated with an exact polygon signed distance (Inigo Quilez, "2D distance functions").

use crate::scene::Shape;
use crate::truth::BBox;
use std::f32::consts::{FRAC_PI_2, PI, TAU};

/// Square half-side, in base radii.
const SQUARE_HALF: f32 = 0.82;
/// Triangle circumradius, in base radii.
const TRIANGLE_R: f32 = 1.15;
/// Star outer radius, in base radii.
const STAR_OUTER: f32 = 1.2;
/// Star inner radius as a fraction of the outer (0.38 is a regular pentagram; fatter reads
/// better at small sizes).
const STAR_INNER: f32 = 0.45;

impl Shape {
    /// The largest distance from the centre to any point of the shape, in base radii.
    pub(crate) fn extent(self) -> f32 {
        match self {
            Shape::Ball => 1.0,
            Shape::Square => SQUARE_HALF * std::f32::consts::SQRT_2,
            Shape::Triangle => TRIANGLE_R,
            Shape::Star => STAR_OUTER,
        }
    }
}

/// A shape at its pose for one frame, ready to rasterise.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    cx: f32,
    cy: f32,
    /// Ball radius in pixels (unused for polygons).
    radius: f32,
    verts: [(f32, f32); 10],
    n: usize,
    /// Exact bounds of the shape (unclipped).
    pub bbox: BBox,
    /// Distance from the centre to the nearest outline point (the inradius), pixels.
    pub inner: f32,
    /// Distance from the centre to the farthest point (the circumradius), pixels.
    pub outer: f32,
}

impl Placed {
    /// Places `shape` with centre `(cx, cy)`, radius `r` pixels (base radius times scale) and
    /// clockwise rotation `angle` radians (image y points down).
    pub fn new(shape: Shape, cx: f32, cy: f32, r: f32, angle: f32) -> Self {
        let mut verts = [(0.0, 0.0); 10];
        // Local vertices as (radius, angle from "up", clockwise).
        let mut n = 0;
        let mut push = |rad: f32, a: f32| {
            let a = a + angle;
            verts[n] = (cx + rad * a.sin(), cy - rad * a.cos());
            n += 1;
        };
        match shape {
            Shape::Ball => {}
            Shape::Square => {
                for k in 0..4 {
                    push(
                        r * SQUARE_HALF * std::f32::consts::SQRT_2,
                        PI / 4.0 + k as f32 * FRAC_PI_2,
                    );
                }
            }
            Shape::Triangle => {
                for k in 0..3 {
                    push(r * TRIANGLE_R, k as f32 * TAU / 3.0);
                }
            }
            Shape::Star => {
                for k in 0..10 {
                    let rad = if k % 2 == 0 {
                        STAR_OUTER
                    } else {
                        STAR_OUTER * STAR_INNER
                    };
                    push(r * rad, k as f32 * PI / 5.0);
                }
            }
        }
        let bbox = if n == 0 {
            BBox {
                x0: cx - r,
                y0: cy - r,
                x1: cx + r,
                y1: cy + r,
            }
        } else {
            verts[..n].iter().fold(
                BBox {
                    x0: f32::MAX,
                    y0: f32::MAX,
                    x1: f32::MIN,
                    y1: f32::MIN,
                },
                |b, &(x, y)| BBox {
                    x0: b.x0.min(x),
                    y0: b.y0.min(y),
                    x1: b.x1.max(x),
                    y1: b.y1.max(y),
                },
            )
        };
        let mut placed = Self {
            cx,
            cy,
            radius: r,
            verts,
            n,
            bbox,
            inner: r,
            outer: r,
        };
        if n > 0 {
            placed.inner = -placed.sdf(cx, cy);
            placed.outer = verts[..n]
                .iter()
                .map(|&(x, y)| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt())
                .fold(0.0, f32::max);
        }
        placed
    }

    /// The centre, pixels.
    pub fn centre(&self) -> (f32, f32) {
        (self.cx, self.cy)
    }

    /// Signed distance in pixels from `(x, y)` to the outline: negative inside.
    #[inline]
    pub fn sdf(&self, x: f32, y: f32) -> f32 {
        if self.n == 0 {
            return ((x - self.cx).powi(2) + (y - self.cy).powi(2)).sqrt() - self.radius;
        }
        polygon_sdf(&self.verts[..self.n], x, y)
    }

    /// Area coverage of the pixel centred at `(x, y)`, from the distance (a one-pixel ramp).
    #[inline]
    pub fn coverage(&self, x: f32, y: f32) -> f32 {
        (0.5 - self.sdf(x, y)).clamp(0.0, 1.0)
    }

    /// Whether `(x, y)` can have any coverage (inside the bounds grown by a pixel).
    #[inline]
    pub fn near(&self, x: f32, y: f32) -> bool {
        x > self.bbox.x0 - 1.0
            && x < self.bbox.x1 + 1.0
            && y > self.bbox.y0 - 1.0
            && y < self.bbox.y1 + 1.0
    }
}

/// Exact signed distance to a simple polygon (convex or not), negative inside.
#[inline]
fn polygon_sdf(v: &[(f32, f32)], px: f32, py: f32) -> f32 {
    let mut d = (px - v[0].0).powi(2) + (py - v[0].1).powi(2);
    let mut inside = false;
    let mut j = v.len() - 1;
    for i in 0..v.len() {
        let (ex, ey) = (v[j].0 - v[i].0, v[j].1 - v[i].1);
        let (wx, wy) = (px - v[i].0, py - v[i].1);
        let t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
        let (bx, by) = (wx - ex * t, wy - ey * t);
        d = d.min(bx * bx + by * by);
        let c1 = py >= v[i].1;
        let c2 = py < v[j].1;
        let c3 = ex * wy > ey * wx;
        if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
            inside = !inside;
        }
        j = i;
    }
    if inside { -d.sqrt() } else { d.sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_negative_and_outside_positive() {
        for shape in Shape::ALL {
            for angle in [0.0, 0.3, 1.0] {
                let p = Placed::new(shape, 50.0, 50.0, 20.0, angle);
                assert!(p.sdf(50.0, 50.0) < -5.0, "{shape:?} centre");
                assert!(
                    p.sdf(50.0, 50.0 - 20.0 * shape.extent() - 1.0) > 0.0,
                    "{shape:?} above"
                );
                assert!(p.sdf(90.0, 90.0) > 10.0, "{shape:?} far");
            }
        }
    }

    #[test]
    fn bbox_within_extent_and_star_tip_on_outline() {
        for shape in Shape::ALL {
            let p = Placed::new(shape, 0.0, 0.0, 10.0, 0.7);
            let e = 10.0 * shape.extent() + 1e-3;
            assert!(p.bbox.x0 >= -e && p.bbox.x1 <= e && p.bbox.y0 >= -e && p.bbox.y1 <= e);
        }
        let star = Placed::new(Shape::Star, 0.0, 0.0, 10.0, 0.0);
        assert!(star.sdf(0.0, -12.0).abs() < 1e-3);
        assert!((star.bbox.y0 + 12.0).abs() < 1e-3);
    }
}
