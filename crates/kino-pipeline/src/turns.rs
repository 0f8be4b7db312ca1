//! Objects the layout plan turns, drawn turning in the frames between keyframes.
//!
//! Interpolation ([`crate::interpolate`], [`crate::layers`]) sees only the keyframes, and a
//! turn can hide from them: a square turned a quarter turn is the same square, so a square
//! that the plan turns a quarter turn from each keyframe to the next (the shipped kino-mini
//! plans a spinning object's whole turn over its 5 keyframes) shows the same picture at every
//! keyframe, and the frames between come out still. The plan says how far each object turns
//! between two keyframes; this pass redraws such an object in each in-between frame as the
//! nearer keyframe shows it, turned that share of the planned turn about its centroid, after
//! clearing the object the frame underneath drew unturned.

use crate::interpolate::FrameSize;
use crate::layers::{Layers, Region, row_medians};
use crate::planned::PlannedPath;

/// Least planned turn between two keyframes (radians, either way) that is redrawn: a still
/// object's planned angle wavers by a degree or two.
pub(crate) const MIN_TURN: f32 = 15.0 * std::f32::consts::PI / 180.0;
/// Largest planned turn between two keyframes that is redrawn: near a half turn the way it
/// went cannot be told from the two angles.
const MAX_TURN: f32 = 150.0 * std::f32::consts::PI / 180.0;

/// An object found in both keyframes of a pair that the plan turns between them.
#[derive(Debug, Clone)]
struct TurningObject {
    /// Its pixels in the keyframe before and in the one after ([`Sprite::of`]).
    before: Sprite,
    after: Sprite,
    /// The planned clockwise turn from the keyframe before to the one after (radians).
    turn: f32,
}

/// An object's pixels in a keyframe: its region (the pixels that stand out from the
/// background), and the fringe about it that is nearer the region's colour than the
/// background's. The region alone is the object's solid core; drawn turned without its
/// fringe, an object would shrink between keyframes.
#[derive(Debug, Clone)]
pub(crate) struct Sprite {
    /// Pixel indices, in increasing order.
    pub(crate) pixels: Vec<usize>,
    /// Mean column and row of the region.
    pub(crate) centroid: (f32, f32),
}

impl Sprite {
    /// The sprite of `region` in `frame`, whose background (row medians) is `background`.
    pub(crate) fn of(region: &Region, frame: &[f32], background: &[f32], size: FrameSize) -> Self {
        let distance = |p: usize, rgb: &[f32]| -> f32 {
            (0..3).map(|c| (frame[p * 3 + c] - rgb[c]).abs()).sum()
        };
        let pixels = grown(&region.pixels, size)
            .into_iter()
            .filter(|&p| {
                region.pixels.binary_search(&p).is_ok()
                    || distance(p, &region.colour) < distance(p, &background[p * 3..p * 3 + 3])
            })
            .collect();
        Self {
            pixels,
            centroid: region.centroid,
        }
    }

    /// The distance from the centroid to the farthest pixel.
    pub(crate) fn reach(&self, size: FrameSize) -> f32 {
        let w = size.width;
        let (cx, cy) = self.centroid;
        self.pixels
            .iter()
            .map(|&p| ((p % w) as f32 - cx).hypot((p / w) as f32 - cy))
            .fold(0f32, f32::max)
    }
}

/// The turning objects of one pair of neighbouring keyframes, ready to draw at any fraction
/// between them.
#[derive(Debug, Clone)]
pub struct PairTurns {
    objects: Vec<TurningObject>,
    /// Each keyframe's background (its row medians), to clear the unturned object with.
    backgrounds: [Vec<f32>; 2],
}

impl PairTurns {
    /// Finds, for each planned object that turns between keyframes `pair` and `pair + 1`
    /// (`a` and `b`), its region in both: the region whose centroid is nearest the planned
    /// centre, within the object's reach.
    pub fn estimate(
        paths: &[PlannedPath],
        pair: usize,
        a: &[f32],
        b: &[f32],
        size: FrameSize,
    ) -> Self {
        let in_pair: Vec<&PlannedPath> =
            paths.iter().filter(|t| t.keyframes() > pair + 1).collect();
        let turning = |t: &PlannedPath| {
            let turn = wrapped(t.angles[pair + 1] - t.angles[pair]);
            (MIN_TURN..=MAX_TURN).contains(&turn.abs()).then_some(turn)
        };
        if !in_pair.iter().any(|t| turning(t).is_some()) {
            return Self {
                objects: Vec::new(),
                backgrounds: [Vec::new(), Vec::new()],
            };
        }
        let (layers_a, layers_b) = (Layers::of(a, size), Layers::of(b, size));
        let backgrounds = [row_medians(a, size), row_medians(b, size)];
        // Each planned object's region in both keyframes. A region two planned objects would
        // take is objects run together (one drawn over the other), and is left as it is.
        let found: Vec<(Option<usize>, Option<usize>)> = in_pair
            .iter()
            .map(|t| {
                (
                    nearest(&layers_a.regions, t.centres[pair], t.reach()),
                    nearest(&layers_b.regions, t.centres[pair + 1], t.reach()),
                )
            })
            .collect();
        let shared = |i: usize| {
            let (ra, rb) = found[i];
            found.iter().enumerate().any(|(j, &(qa, qb))| {
                j != i && ((ra.is_some() && qa == ra) || (rb.is_some() && qb == rb))
            })
        };
        let objects = in_pair
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let turn = turning(t)?;
                let (Some(before), Some(after)) = found[i] else {
                    return None;
                };
                if shared(i) {
                    return None;
                }
                Some(TurningObject {
                    before: Sprite::of(&layers_a.regions[before], a, &backgrounds[0], size),
                    after: Sprite::of(&layers_b.regions[after], b, &backgrounds[1], size),
                    turn,
                })
            })
            .collect();
        Self {
            objects,
            backgrounds,
        }
    }

    /// Number of turning objects found in both keyframes.
    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    /// Redraws each turning object in `out`, the frame at fraction `f` (0 is `a`, 1 is `b`):
    /// the pixels either keyframe has it at (and their neighbours) become background, then the
    /// nearer keyframe's object is drawn at the centroid `f` of the way along, turned by the
    /// share of the planned turn that separates `f` from that keyframe.
    pub fn draw(&self, a: &[f32], b: &[f32], size: FrameSize, f: f32, out: &mut [f32]) {
        for object in &self.objects {
            for &p in grown(&object.before.pixels, size)
                .iter()
                .chain(&grown(&object.after.pixels, size))
            {
                for c in 0..3 {
                    out[p * 3 + c] = (1.0 - f) * self.backgrounds[0][p * 3 + c]
                        + f * self.backgrounds[1][p * 3 + c];
                }
            }
            let (frame, nearer, angle) = if f < 0.5 {
                (a, &object.before, f * object.turn)
            } else {
                (b, &object.after, -(1.0 - f) * object.turn)
            };
            let centre = (
                object.before.centroid.0 + f * (object.after.centroid.0 - object.before.centroid.0),
                object.before.centroid.1 + f * (object.after.centroid.1 - object.before.centroid.1),
            );
            for (t, s) in turned(nearer, centre, angle, size) {
                out[t * 3..t * 3 + 3].copy_from_slice(&frame[s * 3..s * 3 + 3]);
            }
        }
    }
}

/// `angle` wrapped into `(-pi, pi]`.
pub(crate) fn wrapped(angle: f32) -> f32 {
    let tau = std::f32::consts::TAU;
    let a = angle.rem_euclid(tau);
    if a > std::f32::consts::PI { a - tau } else { a }
}

/// The index of the region whose centroid is nearest `centre`, if one is within `reach`.
pub(crate) fn nearest(regions: &[Region], centre: (f32, f32), reach: f32) -> Option<usize> {
    let distance = |r: &Region| (r.centroid.0 - centre.0).hypot(r.centroid.1 - centre.1);
    regions
        .iter()
        .enumerate()
        .filter(|(_, r)| distance(r) <= reach)
        .min_by(|x, y| distance(x.1).total_cmp(&distance(y.1)))
        .map(|(i, _)| i)
}

/// `pixels` and their 8 neighbours, each once.
fn grown(pixels: &[usize], size: FrameSize) -> Vec<usize> {
    let (w, h) = (size.width as i64, size.height as i64);
    let mut out: Vec<usize> = pixels
        .iter()
        .flat_map(|&p| {
            let (x, y) = ((p as i64) % w, (p as i64) / w);
            (-1..=1).flat_map(move |dy| (-1..=1).map(move |dx| (x + dx, y + dy)))
        })
        .filter(|&(x, y)| x >= 0 && y >= 0 && x < w && y < h)
        .map(|(x, y)| (y * w + x) as usize)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `region` turned clockwise by `angle` about its centroid and carried to `centre`: (pixel of
/// the frame, pixel of the region it shows) pairs. Each frame pixel near `centre` maps back,
/// turned the other way, onto the region's pixel it came from.
fn turned(region: &Sprite, centre: (f32, f32), angle: f32, size: FrameSize) -> Vec<(usize, usize)> {
    let (w, h) = (size.width as i64, size.height as i64);
    let (cx, cy) = region.centroid;
    let reach = region.reach(size) + 1.5;
    let (sin, cos) = angle.sin_cos();
    let mut drawn = Vec::new();
    let rows =
        ((centre.1 - reach).floor() as i64).max(0)..=((centre.1 + reach).ceil() as i64).min(h - 1);
    for ty in rows {
        let columns = ((centre.0 - reach).floor() as i64).max(0)
            ..=((centre.0 + reach).ceil() as i64).min(w - 1);
        for tx in columns {
            // Rows grow downwards, so a clockwise turn by `angle` takes (dx, dy) to
            // (dx cos - dy sin, dx sin + dy cos); turning back is the transpose.
            let (dx, dy) = (tx as f32 - centre.0, ty as f32 - centre.1);
            let sx = (cx + cos * dx + sin * dy).round() as i64;
            let sy = (cy - sin * dx + cos * dy).round() as i64;
            if sx < 0 || sy < 0 || sx >= w || sy >= h {
                continue;
            }
            let source = (sy * w + sx) as usize;
            if region.pixels.binary_search(&source).is_ok() {
                drawn.push(((ty * w + tx) as usize, source));
            }
        }
    }
    drawn
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    const SIZE: FrameSize = FrameSize {
        height: 24,
        width: 24,
    };
    const ORANGE: [f32; 3] = [1.0, 0.6, 0.0];
    const NIGHT: [f32; 3] = [0.1, 0.1, 0.3];

    /// A night frame with an axis-aligned orange square of side 7 centred at (12, 12).
    fn square_frame() -> Vec<f32> {
        let mut frame: Vec<f32> = NIGHT.repeat(SIZE.height * SIZE.width);
        for y in 9..16 {
            for x in 9..16 {
                let i = (y * SIZE.width + x) * 3;
                frame[i..i + 3].copy_from_slice(&ORANGE);
            }
        }
        frame
    }

    /// A plan of one object at the frame's centre, turned by `degrees` at each keyframe.
    fn plan(degrees: &[f32]) -> Vec<PlannedPath> {
        vec![PlannedPath {
            centres: vec![(12.0, 12.0); degrees.len()],
            angles: degrees.iter().map(|d| d.to_radians()).collect(),
            scales: vec![1.0; degrees.len()],
            radius: 3.0,
        }]
    }

    /// The orange pixels of `frame` and how many of them lie outside the untouched square.
    fn orange(frame: &[f32]) -> (usize, usize) {
        let mut outside = 0;
        let mut n = 0;
        for (i, px) in frame.chunks_exact(3).enumerate() {
            if (0..3).all(|c| (px[c] - ORANGE[c]).abs() < 0.01) {
                n += 1;
                let (x, y) = (i % SIZE.width, i / SIZE.width);
                outside += usize::from(!(9..16).contains(&x) || !(9..16).contains(&y));
            }
        }
        (n, outside)
    }

    #[test]
    fn a_square_planned_a_quarter_turn_is_drawn_turning_between_identical_keyframes() {
        let (a, b) = (square_frame(), square_frame());
        let turns = PairTurns::estimate(&plan(&[0.0, 90.0]), 0, &a, &b, SIZE);
        assert_eq!(turns.objects(), 1);
        // Half way the square stands on a corner: 45 degrees from either keyframe.
        let mut out = a.clone();
        turns.draw(&a, &b, SIZE, 0.5, &mut out);
        let (n, outside) = orange(&out);
        assert!((40..=58).contains(&n), "{n} orange pixels");
        assert!(
            outside >= 4,
            "only {outside} pixels beyond the unturned square"
        );
        // Its corners reach 7 / sqrt(2) = 4.9 pixels from the centre along the axes, a
        // pixel beyond the unturned square's sides.
        let at = |x: usize, y: usize| {
            (0..3).all(|c| (out[(y * SIZE.width + x) * 3 + c] - ORANGE[c]).abs() < 0.01)
        };
        assert!(at(12, 8) && at(12, 16) && at(8, 12) && at(16, 12));
        // The unturned square's corners are cleared to the night.
        assert!(!at(9, 9) && !at(15, 15));
        // At the keyframes' own fractions the object is the keyframe's.
        for f in [0.0, 1.0] {
            let mut out = a.clone();
            turns.draw(&a, &b, SIZE, f, &mut out);
            assert_eq!(orange(&out), (49, 0), "at {f}");
        }
    }

    #[test]
    fn a_still_or_half_turned_object_is_left_to_the_frame_underneath() {
        let (a, b) = (square_frame(), square_frame());
        // A planned angle that wavers by 3 degrees is a still object; a half turn (the way it
        // went unknown) is left alone too.
        for degrees in [[0.0, 3.0], [10.0, 190.0]] {
            let turns = PairTurns::estimate(&plan(&degrees), 0, &a, &b, SIZE);
            assert_eq!(turns.objects(), 0, "{degrees:?}");
        }
        // An object planned far from where the keyframes have one is not found.
        let mut far = plan(&[0.0, 90.0]);
        far[0].centres = vec![(3.0, 3.0); 2];
        assert_eq!(PairTurns::estimate(&far, 0, &a, &b, SIZE).objects(), 0);
        // Two planned objects on one region (objects run together) leave it alone.
        let mut two = plan(&[0.0, 90.0]);
        two.extend(plan(&[0.0, 0.0]));
        two[1].centres = vec![(13.0, 13.0); 2];
        assert_eq!(PairTurns::estimate(&two, 0, &a, &b, SIZE).objects(), 0);
        // A turn across the wrap (350 to 80 degrees) is a quarter turn.
        assert!(
            (wrapped(80f32.to_radians() - 350f32.to_radians()) - 90f32.to_radians()).abs() < 1e-5
        );
    }
}
