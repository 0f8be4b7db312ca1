//! Objects the layout plan holds still, held still across the keyframes.
//!
//! The model draws a still object anew in every keyframe, and a small object's edge comes out
//! a pixel different from one keyframe to the next: played, a still triangle shimmers, and a
//! shape that changes between keyframes reads as a turn (the judge's spin measure,
//! `kino_world::judge`, sees a still triangle on sand turned in three frames of sixteen).
//! Where the plan holds an object still over all keyframes (its centre within a pixel or
//! two, its size and angle unchanged), this pass replaces the keyframes' pixels about it by
//! their per-pixel median over the keyframes (`vector_median`): the object as most
//! keyframes draw it, the same in every keyframe. A keyframe in which another planned object
//! comes near keeps its own pixels where it comes, and they are left out of the median (it
//! would cut the passer-by, or print it on the others).

use crate::interpolate::FrameSize;
use crate::planned::PlannedPath;
use crate::turns::{MIN_TURN, wrapped};

/// Largest distance of a still object's planned centre from its mean over the keyframes, as
/// a share of its planned radius (the plan of a still object wavers by a pixel or two; one
/// that travels moves several radii).
const MAX_DRIFT: f32 = 0.75;
/// Largest spread of a still object's planned size over the keyframes (multiples of the base
/// size; a growing object doubles).
const MAX_SCALE_SPREAD: f32 = 0.15;
/// The held disc's radius, as a multiple of the object's planned radius, before the margin:
/// a shape reaches at most 1.2 planned radii from its centre (a star's points).
const HOLD_RADIUS: f32 = 1.25;
/// Pixels added to the held disc's radius, so that an object drawn a little off its planned
/// centre is held whole.
const HOLD_MARGIN: f32 = 1.5;
/// Width (pixels) of the disc's rim, over which the median fades into each keyframe's own
/// pixels.
const RIM: f32 = 2.0;
/// Fewest keyframes the median is taken over.
const MIN_KEYFRAMES: usize = 3;

/// `keyframes` with every object that `paths` holds still replaced, in a disc about its mean
/// planned centre, by the vector median of each pixel over the keyframes. Where another
/// planned object comes ([`PlannedPath::radius_at`] that keyframe, times [`HOLD_RADIUS`], plus
/// a pixel), that keyframe keeps its own pixel and the median is taken over the others; a
/// pixel that fewer than three keyframes leave free is left as it is. Paths that do not cover every keyframe,
/// and clips of fewer than three keyframes, are left as they are.
pub fn hold_still_objects(
    keyframes: &[Vec<f32>],
    size: FrameSize,
    paths: &[PlannedPath],
) -> Vec<Vec<f32>> {
    let mut held = keyframes.to_vec();
    let k = keyframes.len();
    if k < MIN_KEYFRAMES {
        return held;
    }
    for (i, path) in paths.iter().enumerate() {
        if path.keyframes() < k || !is_still(path, k) {
            continue;
        }
        let others: Vec<&PlannedPath> = paths
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, other)| other)
            .collect();
        // The keyframes in which no other planned object covers pixel (x, y).
        let free = |x: usize, y: usize| -> Vec<usize> {
            (0..k)
                .filter(|&key| {
                    others.iter().all(|other| {
                        other.keyframes() <= key
                            || distance(other.centres[key], (x as f32, y as f32))
                                > HOLD_RADIUS * other.radius_at(key) + 1.0
                    })
                })
                .collect()
        };
        let disc = Disc {
            centre: mean_centre(path, k),
            radius: HOLD_RADIUS * path.radius + HOLD_MARGIN,
        };
        hold_disc(&mut held, size, &disc, free);
    }
    held
}

/// Whether `path` holds its object still over its first `k` keyframes: in place
/// ([`is_in_place`]) and never turned [`MIN_TURN`] from its first angle ([`turns_over`]).
fn is_still(path: &PlannedPath, k: usize) -> bool {
    is_in_place(path, k) && !turns_over(path, k)
}

/// Whether `path` turns its object at least [`MIN_TURN`] away from its first keyframe's
/// angle at some keyframe of the first `k`.
pub(crate) fn turns_over(path: &PlannedPath, k: usize) -> bool {
    path.angles[..k]
        .iter()
        .any(|&a| wrapped(a - path.angles[0]).abs() >= MIN_TURN)
}

/// Whether `path` keeps its object in place over its first `k` keyframes, turned or not: its
/// planned centre within [`MAX_DRIFT`] planned radii of their mean, its planned size spread
/// at most [`MAX_SCALE_SPREAD`].
pub(crate) fn is_in_place(path: &PlannedPath, k: usize) -> bool {
    let centre = mean_centre(path, k);
    let drift = path.centres[..k]
        .iter()
        .map(|&c| distance(c, centre))
        .fold(0f32, f32::max);
    let (small, large) = path.scales[..k]
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    drift <= MAX_DRIFT * path.radius.max(1.0) && large - small <= MAX_SCALE_SPREAD
}

/// The mean of `path`'s first `k` planned centres.
fn mean_centre(path: &PlannedPath, k: usize) -> (f32, f32) {
    let (sx, sy) = path.centres[..k]
        .iter()
        .fold((0f32, 0f32), |(sx, sy), c| (sx + c.0, sy + c.1));
    (sx / k as f32, sy / k as f32)
}

/// Distance between two points.
fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// A disc of pixels about a still object.
struct Disc {
    /// (column, row) of its centre.
    centre: (f32, f32),
    /// Radius in pixels, to the middle of the rim.
    radius: f32,
}

/// Replaces each pixel within `disc` (plus half the rim) by its vector median over the
/// keyframes `free` says it is free in, in those keyframes, fading into each keyframe's own
/// pixels over the rim.
fn hold_disc(
    keyframes: &mut [Vec<f32>],
    size: FrameSize,
    disc: &Disc,
    free: impl Fn(usize, usize) -> Vec<usize>,
) {
    let (centre, outer) = (disc.centre, disc.radius + RIM / 2.0);
    let rows = (centre.1 - outer).floor().max(0.0) as usize
        ..=((centre.1 + outer).ceil().max(0.0) as usize).min(size.height.saturating_sub(1));
    for y in rows {
        let columns = (centre.0 - outer).floor().max(0.0) as usize
            ..=((centre.0 + outer).ceil().max(0.0) as usize).min(size.width.saturating_sub(1));
        for x in columns {
            // Full weight to the median inside the disc less half the rim, none beyond it
            // plus half the rim.
            let weight = ((outer - distance((x as f32, y as f32), centre)) / RIM).clamp(0.0, 1.0);
            if weight <= 0.0 {
                continue;
            }
            let keys = free(x, y);
            if keys.len() < MIN_KEYFRAMES {
                continue;
            }
            let at = (y * size.width + x) * 3;
            let median = vector_median(keys.iter().map(|&key| &keyframes[key][at..at + 3]));
            for &key in &keys {
                for (own, m) in keyframes[key][at..at + 3].iter_mut().zip(median) {
                    *own += weight * (m - *own);
                }
            }
        }
    }
}

/// The vector median of RGB `colours` (Astola, Haavisto and Neuvo, 1990): the one whose
/// summed distance (L1) to all the others is least, the first of equals. Unlike a
/// per-channel median it is always one of the colours given, so a dark navy and a black
/// keyframe give one of the two, not a third colour between. Black for none.
pub(crate) fn vector_median<'a>(colours: impl Iterator<Item = &'a [f32]> + Clone) -> [f32; 3] {
    let distance =
        |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum() };
    colours
        .clone()
        .map(|c| (c, colours.clone().map(|o| distance(c, o)).sum::<f32>()))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map_or([0.0; 3], |(c, _)| [c[0], c[1], c[2]])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    const SIZE: FrameSize = FrameSize {
        height: 24,
        width: 24,
    };
    const RED: [f32; 3] = [0.9, 0.1, 0.1];
    const SAND: [f32; 3] = [0.9, 0.8, 0.5];
    const BLUE: [f32; 3] = [0.1, 0.2, 0.9];

    /// A sand frame with red pixels at `red` and blue at `blue` ((column, row) each).
    fn frame(red: &[(usize, usize)], blue: &[(usize, usize)]) -> Vec<f32> {
        let mut frame: Vec<f32> = SAND.repeat(SIZE.height * SIZE.width);
        for (pixels, rgb) in [(red, RED), (blue, BLUE)] {
            for &(x, y) in pixels {
                let i = (y * SIZE.width + x) * 3;
                frame[i..i + 3].copy_from_slice(&rgb);
            }
        }
        frame
    }

    /// A small triangle-ish object about (12, 11.5), with `extra` pixels on its edge.
    fn triangle(extra: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut pixels = vec![(12, 10), (11, 11), (12, 11), (13, 11)];
        pixels.extend((10..15).map(|x| (x, 12)));
        pixels.extend_from_slice(extra);
        pixels
    }

    /// A path through `centres` with the given angles (degrees) and scales, radius 3.
    fn path(centres: Vec<(f32, f32)>, degrees: &[f32], scales: &[f32]) -> PlannedPath {
        PlannedPath {
            centres,
            angles: degrees.iter().map(|d| d.to_radians()).collect(),
            scales: scales.to_vec(),
            radius: 3.0,
        }
    }

    fn is_red(frame: &[f32], x: usize, y: usize) -> bool {
        let i = (y * SIZE.width + x) * 3;
        (0..3).all(|c| (frame[i + c] - RED[c]).abs() < 0.05)
    }

    #[test]
    fn a_still_objects_flickering_edge_is_held_as_most_keyframes_draw_it() {
        // Five keyframes of one still triangle; two of them have a stray edge pixel, each a
        // different one.
        let keyframes = vec![
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[(14, 11)]), &[]),
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[(10, 11)]), &[]),
            frame(&triangle(&[]), &[]),
        ];
        let still = path(
            vec![(12.0, 11.5); 5],
            &[0.0, 2.0, -1.0, 3.0, 0.0],
            &[1.0; 5],
        );
        let held = hold_still_objects(&keyframes, SIZE, std::slice::from_ref(&still));
        for (k, frame) in held.iter().enumerate() {
            assert_eq!(frame, &keyframes[0], "keyframe {k} is not the majority's");
        }
        // Far from the object every keyframe keeps its own pixels.
        let mut marked = keyframes.clone();
        for (k, f) in marked.iter_mut().enumerate() {
            f[0] = k as f32 / 10.0;
        }
        let held = hold_still_objects(&marked, SIZE, &[still]);
        for (k, f) in held.iter().enumerate() {
            assert_eq!(f[0], k as f32 / 10.0);
        }
    }

    #[test]
    fn the_median_is_one_of_the_colours_the_keyframes_draw() {
        // Dark navy in three keyframes, black in two: navy, not a colour between.
        let navy = [0.1, 0.1, 0.3];
        let black = [0.0, 0.0, 0.0];
        let colours = [navy, black, navy, black, navy];
        assert_eq!(vector_median(colours.iter().map(|c| c.as_slice())), navy);
        assert_eq!(vector_median(std::iter::empty()), [0.0; 3]);
    }

    #[test]
    fn objects_the_plan_moves_grows_or_turns_are_left_as_drawn() {
        let keyframes = vec![
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[(14, 11)]), &[]),
            frame(&triangle(&[(14, 11)]), &[]),
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[]), &[]),
        ];
        let travelling = (0..5).map(|k| (8.0 + 2.0 * k as f32, 11.5)).collect();
        let plans = [
            path(travelling, &[0.0; 5], &[1.0; 5]),
            path(vec![(12.0, 11.5); 5], &[0.0; 5], &[1.0, 1.2, 1.4, 1.6, 1.8]),
            path(
                vec![(12.0, 11.5); 5],
                &[0.0, 20.0, 40.0, 60.0, 80.0],
                &[1.0; 5],
            ),
        ];
        for plan in plans {
            let held = hold_still_objects(&keyframes, SIZE, std::slice::from_ref(&plan));
            assert_eq!(held, keyframes, "{plan:?}");
        }
        // Fewer than three keyframes: nothing to take a majority of.
        let two = hold_still_objects(
            &keyframes[..2],
            SIZE,
            &[path(vec![(12.0, 11.5); 2], &[0.0; 2], &[1.0; 2])],
        );
        assert_eq!(two, keyframes[..2]);
    }

    #[test]
    fn a_keyframe_another_object_passes_through_keeps_its_pixels() {
        // A blue object crosses the still triangle's disc in keyframe 2 only.
        let passer = [(16, 12), (17, 12), (16, 13), (17, 13)];
        let keyframes = vec![
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[(14, 11)]), &[]),
            frame(&triangle(&[(14, 11)]), &passer),
            frame(&triangle(&[]), &[]),
            frame(&triangle(&[]), &[]),
        ];
        let still = path(vec![(12.0, 11.5); 5], &[0.0; 5], &[1.0; 5]);
        // The mover is planned in the far corners but for keyframe 2.
        let mut mover = path(
            vec![
                (1.0, 1.0),
                (1.0, 22.0),
                (16.0, 12.5),
                (22.0, 22.0),
                (22.0, 1.0),
            ],
            &[0.0; 5],
            &[1.0; 5],
        );
        mover.radius = 1.5;
        let held = hold_still_objects(&keyframes, SIZE, &[still, mover]);
        assert_eq!(held[2], keyframes[2], "the crossed keyframe is its own");
        // The other four are held as three of them draw the triangle: without the stray pixel
        // keyframe 1 has.
        for k in [0, 1, 3, 4] {
            assert_eq!(held[k], keyframes[0], "keyframe {k}");
        }
        assert!(!is_red(&held[1], 14, 11) && is_red(&held[2], 14, 11));
    }
}
