//! Motion-compensated frame interpolation: the frames between a model's keyframes.
//!
//! A model that denoises a few keyframes spread over the clip (kino-mini: 4 keyframes of a
//! 16-frame clip, [`crate::ModelDefaults::keyframes`]) leaves the frames between them to this
//! module, the way cascaded video models (Make-A-Video, Imagen Video) raise a low frame rate.
//! Blending two keyframes would show an object twice, half faded; instead every pixel of an
//! in-between frame at fraction `f` looks for the motion `d` that carries the content of the
//! keyframe before (at `p - f d`) onto the keyframe after (at `p + (1 - f) d`): bidirectional
//! block matching (the symmetric search of classic motion-compensated frame-rate conversion),
//! a window of pixels voting for each candidate motion, ties going to the smallest motion so
//! that still background stays still. The pixel is then the blend of the two matched samples.
//! An object found in both keyframes that this frame lost is then drawn whole over it
//! ([`crate::layers::PairLayers`]): window matching alone loses the thin parts of an object
//! that turns as it moves.

use crate::layers::PairLayers;
use crate::planned::PlannedPath;
use crate::spin::hold_turning_objects;
use crate::still::hold_still_objects;
use crate::turns::PairTurns;

/// Frames as `height * width * 3` f32 values each, row-major RGB, all of one size.
#[derive(Debug, Clone, Copy)]
pub struct FrameSize {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Half the side of the square window of pixels whose match errors add up for a candidate
/// motion (5x5).
const WINDOW_RADIUS: usize = 2;
/// Cost per pixel of candidate motion length, added to a window's mean error so that among
/// motions that match equally well the shortest wins (flat regions stay put).
const MOTION_PENALTY: f32 = 2e-3;

/// Interpolates `keyframes` (spread evenly over the clip, the first at its first frame and the
/// last at its last) into `frames` frames: frame `i` lies at clip time `i / (frames - 1)`, and
/// where that is a keyframe's time the keyframe is copied. `frames` below 2 or fewer than 2
/// keyframes: the keyframes' first `frames` come back as they are.
pub fn interpolate_clip(keyframes: &[Vec<f32>], size: FrameSize, frames: usize) -> Vec<Vec<f32>> {
    interpolate_planned_clip(keyframes, size, frames, &[])
}

/// [`interpolate_clip`] true to a layout plan: `paths` holds one path per planned object
/// ([`crate::planned`]). The objects it holds still are first held still across the
/// keyframes ([`crate::still`]), and the objects it turns between two keyframes are redrawn
/// turning in the frames between them ([`crate::turns`]).
pub fn interpolate_planned_clip(
    keyframes: &[Vec<f32>],
    size: FrameSize,
    frames: usize,
    paths: &[PlannedPath],
) -> Vec<Vec<f32>> {
    let k = keyframes.len();
    if k < 2 || frames < 2 {
        return keyframes.iter().take(frames.max(1)).cloned().collect();
    }
    let held;
    let keyframes = if paths.is_empty() {
        keyframes
    } else {
        held = hold_turning_objects(&hold_still_objects(keyframes, size, paths), size, paths);
        &held
    };
    let motions: Vec<(PairMotion, PairLayers, PairTurns)> = keyframes
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            (
                PairMotion::estimate(&pair[0], &pair[1], size),
                PairLayers::estimate(&pair[0], &pair[1], size),
                PairTurns::estimate(paths, i, &pair[0], &pair[1], size),
            )
        })
        .collect();
    (0..frames)
        .map(|i| {
            // Position along the keyframes, in keyframe intervals.
            let at = i as f64 * (k - 1) as f64 / (frames - 1) as f64;
            let before = (at.floor() as usize).min(k - 2);
            let f = (at - before as f64) as f32;
            if f <= 1e-6 {
                keyframes[before].clone()
            } else if f >= 1.0 - 1e-6 {
                keyframes[before + 1].clone()
            } else {
                let (a, b) = (&keyframes[before], &keyframes[before + 1]);
                let (motion, layers, turning) = &motions[before];
                let mut frame = motion.frame(a, b, size, f);
                layers.draw(a, b, size, f, &mut frame);
                turning.draw(a, b, size, f, &mut frame);
                frame
            }
        })
        .collect()
}

/// The frame at fraction `f` (0 is `a`, 1 is `b`) between two frames, motion compensated
/// ([`PairMotion`]), with the objects of both frames it lost drawn whole ([`PairLayers`]).
pub fn interpolate_pair(a: &[f32], b: &[f32], size: FrameSize, f: f32) -> Vec<f32> {
    let mut frame = PairMotion::estimate(a, b, size).frame(a, b, size, f);
    PairLayers::estimate(a, b, size).draw(a, b, size, f, &mut frame);
    frame
}

/// What moves between two frames `a` and `b`.
#[derive(Debug, Clone)]
pub struct PairMotion {
    /// For each pixel of `a`, the motion that carries the window about it onto `b`.
    forward: Vec<(i64, i64)>,
    /// For each pixel of `b`, the motion that carries the window about it onto `a`.
    backward: Vec<(i64, i64)>,
    /// [`candidate_motions`] of the pair.
    candidates: Vec<(i64, i64)>,
}

impl PairMotion {
    /// Estimates the motion fields both ways and the candidate motions.
    pub fn estimate(a: &[f32], b: &[f32], size: FrameSize) -> Self {
        let (forward, backward) = (motion_field(a, b, size), motion_field(b, a, size));
        let candidates = rank_candidates(a, b, size, &forward, &backward);
        Self {
            forward,
            backward,
            candidates,
        }
    }

    /// The frame at fraction `f`: every pixel from [`compensate`] over the candidate motions,
    /// then the moving pixels of both frames carried along their own motion and drawn over
    /// it. A moving pixel is one that changes where it is, whose motion is not zero and is
    /// confirmed the other way (the pixel it lands on moves back onto it, within a pixel), so an object that changed
    /// a little between the frames (which no motion matches exactly, so that [`compensate`]
    /// might prefer background on both sides) is still drawn, part way along.
    pub fn frame(&self, a: &[f32], b: &[f32], size: FrameSize, f: f32) -> Vec<f32> {
        let mut out = compensate(a, b, size, f, &self.candidates);
        let (h, w) = (size.height as i64, size.width as i64);
        let mut sum = vec![0f32; out.len()];
        let mut weight = vec![0f32; out.len() / 3];
        // (source frame, other frame, its motion field, the other's, share of the way to go, weight)
        let passes = [
            (a, b, &self.forward, &self.backward, f, 1.0 - f),
            (b, a, &self.backward, &self.forward, 1.0 - f, f),
        ];
        for (from, to, field, back, share, pass_weight) in passes {
            for (i, &(dx, dy)) in field.iter().enumerate() {
                // Only pixels that change where they are (the object was or will be there, not
                // the background around it that the window dragged along) are carried.
                let changed: f32 = (0..3)
                    .map(|c| (from[i * 3 + c] - to[i * 3 + c]).abs())
                    .sum();
                if (dx, dy) == (0, 0) || changed < MIN_CHANGE {
                    continue;
                }
                let (x, y) = ((i as i64) % w, (i as i64) / w);
                let (lx, ly) = (x + dx, y + dy);
                if lx < 0 || ly < 0 || lx >= w || ly >= h {
                    continue;
                }
                let landed = (ly * w + lx) as usize;
                let (bx, by) = back[landed];
                if (bx + dx).abs() > 1 || (by + dy).abs() > 1 {
                    continue;
                }
                let tx = x + (share * dx as f32).round() as i64;
                let ty = y + (share * dy as f32).round() as i64;
                if tx < 0 || ty < 0 || tx >= w || ty >= h {
                    continue;
                }
                let t = (ty * w + tx) as usize;
                for c in 0..3 {
                    // The pixel's colour as it is blended at this fraction from both frames.
                    let own = from[i * 3 + c];
                    let other = to[landed * 3 + c];
                    let colour = (1.0 - share) * own + share * other;
                    sum[t * 3 + c] += pass_weight * colour;
                }
                weight[t] += pass_weight;
            }
        }
        for (t, &wt) in weight.iter().enumerate() {
            if wt > 0.0 {
                for c in 0..3 {
                    out[t * 3 + c] = sum[t * 3 + c] / wt;
                }
            }
        }
        out
    }
}

/// The motions worth trying between two frames: the best match in `b` of the window about
/// each pixel of `a`, and in `a` of each pixel of `b` (reversed), anchored in real content so
/// that an object's motion is found from the object itself. Only windows with detail vote
/// (a flat window about to be covered can only "escape" to some other flat place); the
/// motions at least 3 pixels agree on are kept, the most supported first (at
/// most 24), and no motion always. Searching only these in [`compensate`]
/// keeps it from "explaining" a pixel by a motion that maps background onto background on
/// both sides.
pub fn candidate_motions(a: &[f32], b: &[f32], size: FrameSize) -> Vec<(i64, i64)> {
    PairMotion::estimate(a, b, size).candidates
}

/// [`candidate_motions`] from the two motion fields.
fn rank_candidates(
    a: &[f32],
    b: &[f32],
    size: FrameSize,
    forward: &[(i64, i64)],
    backward: &[(i64, i64)],
) -> Vec<(i64, i64)> {
    let mut support: std::collections::HashMap<(i64, i64), usize> = Default::default();
    let (detail_a, detail_b) = (window_detail(a, size), window_detail(b, size));
    for (&d, detail) in forward.iter().zip(detail_a) {
        if detail > MIN_DETAIL {
            *support.entry(d).or_default() += 1;
        }
    }
    for (&(dx, dy), detail) in backward.iter().zip(detail_b) {
        if detail > MIN_DETAIL {
            *support.entry((-dx, -dy)).or_default() += 1;
        }
    }
    let mut ranked: Vec<((i64, i64), usize)> = support
        .into_iter()
        .filter(|&(d, n)| n >= MIN_SUPPORT && d != (0, 0))
        .collect();
    ranked.sort_by_key(|&((dx, dy), n)| (std::cmp::Reverse(n), dx * dx + dy * dy, dx, dy));
    std::iter::once((0, 0))
        .chain(ranked.into_iter().take(MAX_CANDIDATES).map(|(d, _)| d))
        .collect()
}

/// Colour change (summed over channels) below which a pixel stays as it is between two frames
/// and is not carried along a motion.
const MIN_CHANGE: f32 = 0.1;
/// Detail ([`window_detail`]) below which a window is flat and does not vote for a motion.
const MIN_DETAIL: f32 = 0.02;
/// Pixels that must share a motion for it to be a candidate.
const MIN_SUPPORT: usize = 3;
/// Most candidate motions kept besides no motion.
const MAX_CANDIDATES: usize = 24;
/// Half the side of the window matched when estimating motion (9x9: larger than the inside
/// of most objects at 32x32, so a window almost always holds an edge to match).
const FIELD_RADIUS: usize = 4;

/// For each pixel of `from`, the integer motion (up to half the frame's longer side each way)
/// that best carries the window about it onto `to`; ties and near ties go to the shortest.
fn motion_field(from: &[f32], to: &[f32], size: FrameSize) -> Vec<(i64, i64)> {
    let (h, w) = (size.height, size.width);
    let n = h * w;
    let reach = (h.max(w) / 2) as i64;
    let mut best_cost = vec![f32::INFINITY; n];
    let mut best = vec![(0i64, 0i64); n];
    let mut error = vec![0f32; n];
    let mut summed = vec![0f32; n];
    for (dx, dy) in motions_by_length(reach) {
        for y in 0..h {
            for x in 0..w {
                let tx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                let ty = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                let (i, j) = ((y * w + x) * 3, (ty * w + tx) * 3);
                error[y * w + x] = (0..3).map(|c| (from[i + c] - to[j + c]).abs()).sum();
            }
        }
        box_mean(&error, size, FIELD_RADIUS, &mut summed);
        let penalty = MOTION_PENALTY * ((dx * dx + dy * dy) as f32).sqrt();
        for i in 0..n {
            let cost = summed[i] + penalty;
            if cost < best_cost[i] {
                best_cost[i] = cost;
                best[i] = (dx, dy);
            }
        }
    }
    best
}

/// For each pixel, how far the window of [`FIELD_RADIUS`] about it is from flat: the
/// standard deviation of its pixels' colours (the square root of the channel variances'
/// sum).
fn window_detail(frame: &[f32], size: FrameSize) -> Vec<f32> {
    let n = size.height * size.width;
    let mut variance = vec![0f32; n];
    let (mut channel, mut squares) = (vec![0f32; n], vec![0f32; n]);
    let (mut mean, mut mean_square) = (vec![0f32; n], vec![0f32; n]);
    for c in 0..3 {
        for i in 0..n {
            channel[i] = frame[i * 3 + c];
            squares[i] = channel[i] * channel[i];
        }
        box_mean(&channel, size, FIELD_RADIUS, &mut mean);
        box_mean(&squares, size, FIELD_RADIUS, &mut mean_square);
        for i in 0..n {
            variance[i] += (mean_square[i] - mean[i] * mean[i]).max(0.0);
        }
    }
    variance.into_iter().map(f32::sqrt).collect()
}

/// Every integer motion within `reach` each way, shortest first.
fn motions_by_length(reach: i64) -> Vec<(i64, i64)> {
    let mut motions: Vec<(i64, i64)> = (-reach..=reach)
        .flat_map(|dy| (-reach..=reach).map(move |dx| (dx, dy)))
        .collect();
    motions.sort_by_key(|&(dx, dy)| dx * dx + dy * dy);
    motions
}

/// The frame at fraction `f` between `a` and `b`: each pixel takes, of `motions`, the one
/// whose samples `a(p - f d)` and `b(p + (1 - f) d)` agree best over the window about it
/// (bidirectional matching), and is their blend.
pub fn compensate(
    a: &[f32],
    b: &[f32],
    size: FrameSize,
    f: f32,
    motions: &[(i64, i64)],
) -> Vec<f32> {
    let (h, w) = (size.height, size.width);
    let n = h * w;
    let mut best_cost = vec![f32::INFINITY; n];
    let mut best = vec![0f32; n * 3];
    let mut error = vec![0f32; n];
    let mut candidate = vec![0f32; n * 3];
    let mut summed = vec![0f32; n];
    for &(dx, dy) in motions {
        let (dxf, dyf) = (dx as f32, dy as f32);
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f32, y as f32);
                let from = sample(a, size, px - f * dxf, py - f * dyf);
                let to = sample(b, size, px + (1.0 - f) * dxf, py + (1.0 - f) * dyf);
                let i = y * w + x;
                error[i] = (0..3).map(|c| (from[c] - to[c]).abs()).sum::<f32>();
                for c in 0..3 {
                    candidate[i * 3 + c] = (1.0 - f) * from[c] + f * to[c];
                }
            }
        }
        box_mean(&error, size, WINDOW_RADIUS, &mut summed);
        let penalty = MOTION_PENALTY * (dxf * dxf + dyf * dyf).sqrt();
        for i in 0..n {
            let cost = summed[i] + penalty;
            if cost < best_cost[i] {
                best_cost[i] = cost;
                best[i * 3..i * 3 + 3].copy_from_slice(&candidate[i * 3..i * 3 + 3]);
            }
        }
    }
    best
}

/// Bilinear sample of an RGB frame at `(x, y)` in pixel units (pixel centres at integers),
/// the border repeated outside the frame.
fn sample(frame: &[f32], size: FrameSize, x: f32, y: f32) -> [f32; 3] {
    let (h, w) = (size.height, size.width);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: usize, yy: usize, c: usize| frame[(yy * w + xx) * 3 + c];
    let mut out = [0f32; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// The mean of `values` over the `(2 radius + 1)`-square window about each pixel (clipped at
/// the borders), into `out`.
fn box_mean(values: &[f32], size: FrameSize, radius: usize, out: &mut [f32]) {
    let (h, w) = (size.height, size.width);
    // Summed-area table with a zero row and column in front.
    let mut table = vec![0f64; (h + 1) * (w + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += f64::from(values[y * w + x]);
            table[(y + 1) * (w + 1) + x + 1] = table[y * (w + 1) + x + 1] + row;
        }
    }
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let sum =
                table[y1 * (w + 1) + x1] - table[y0 * (w + 1) + x1] - table[y1 * (w + 1) + x0]
                    + table[y0 * (w + 1) + x0];
            out[y * w + x] = (sum / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: FrameSize = FrameSize {
        height: 24,
        width: 24,
    };

    /// A grey frame with a red 6x6 square whose top-left corner is at `(x, y)`.
    fn square_at(x: usize, y: usize) -> Vec<f32> {
        let mut frame = vec![0.5f32; SIZE.height * SIZE.width * 3];
        for yy in y..y + 6 {
            for xx in x..x + 6 {
                let i = (yy * SIZE.width + xx) * 3;
                frame[i..i + 3].copy_from_slice(&[1.0, 0.0, 0.0]);
            }
        }
        frame
    }

    fn red_centroid(frame: &[f32]) -> (f32, f32, usize) {
        let (mut sx, mut sy, mut n) = (0f32, 0f32, 0usize);
        for (i, px) in frame.chunks_exact(3).enumerate() {
            if px[0] > 0.75 && px[1] < 0.25 {
                sx += (i % SIZE.width) as f32;
                sy += (i / SIZE.width) as f32;
                n += 1;
            }
        }
        (sx / n.max(1) as f32, sy / n.max(1) as f32, n)
    }

    #[test]
    fn a_moving_square_is_drawn_part_way_whole_not_as_two_faded_copies() {
        let (a, b) = (square_at(2, 9), square_at(10, 9));
        let middle = interpolate_pair(&a, &b, SIZE, 0.5);
        let (cx, cy, n) = red_centroid(&middle);
        // Halfway: corner at x = 6, so the centroid of columns 6..12 is 8.5; rows 9..15 give 11.5.
        assert!(
            (cx - 8.5).abs() < 0.3 && (cy - 11.5).abs() < 0.3,
            "{cx} {cy}"
        );
        assert_eq!(n, 36, "the square keeps its area");
        // A quarter of the way.
        let (cx, _, n) = red_centroid(&interpolate_pair(&a, &b, SIZE, 0.25));
        assert!((cx - 6.5).abs() < 0.3, "{cx}");
        assert_eq!(n, 36);
    }

    #[test]
    fn an_object_that_changed_a_little_is_still_drawn_part_way() {
        let a = square_at(2, 9);
        // The same square 12 pixels on (twice its side), a little darker and missing a
        // corner: no motion matches it exactly, and halfway no motion at all (background on
        // both sides) matches best; but it is still one object on its way.
        let mut b = square_at(14, 9);
        for px in b.chunks_exact_mut(3).filter(|px| px[0] == 1.0) {
            px[0] = 0.9;
            px[1] = 0.1;
        }
        let corner = (9 * SIZE.width + 19) * 3;
        b[corner..corner + 3].copy_from_slice(&[0.5, 0.5, 0.5]);
        let middle = interpolate_pair(&a, &b, SIZE, 0.5);
        let (cx, cy, n) = red_centroid(&middle);
        assert!(n >= 30, "{n} red pixels");
        assert!(
            (cx - 10.5).abs() < 0.6 && (cy - 11.5).abs() < 0.6,
            "{cx} {cy}"
        );
    }

    #[test]
    fn still_content_stays_exactly_as_it_is() {
        let a = square_at(5, 5);
        assert_eq!(interpolate_pair(&a, &a, SIZE, 0.4), a);
    }

    #[test]
    fn a_clip_keeps_its_keyframes_at_their_times_and_moves_between_them() {
        let keys = vec![
            square_at(2, 9),
            square_at(7, 9),
            square_at(12, 9),
            square_at(17, 9),
        ];
        let clip = interpolate_clip(&keys, SIZE, 16);
        assert_eq!(clip.len(), 16);
        for (k, key) in keys.iter().enumerate() {
            assert_eq!(&clip[k * 5], key, "keyframe {k} at frame {}", k * 5);
        }
        let xs: Vec<f32> = clip.iter().map(|f| red_centroid(f).0).collect();
        for pair in xs.windows(2) {
            assert!(pair[1] > pair[0] + 0.6 && pair[1] < pair[0] + 1.4, "{xs:?}");
        }
        assert_eq!(interpolate_clip(&keys, SIZE, 1), vec![keys[0].clone()]);
        assert_eq!(
            interpolate_clip(&keys[..1], SIZE, 16),
            vec![keys[0].clone()]
        );
    }
}
