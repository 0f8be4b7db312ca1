//! Judging helpers: find an object of a named colour in frames and say how it moved.
//!
//! This is the oracle that scores generated clips: colours are judged by name
//! ([`Colour::classify`]), not exact RGB, and motion from the centroid track and pixel count.
//! Spinning is measured as a turn: the first frame's mask, turned about its centroid by some
//! angle, matches a later frame's mask clearly better than unturned (moments cannot tell:
//! rotation-symmetric shapes have rotation-invariant moments). A mask whose edge pixels
//! merely flicker matches no turn better than none, so it is still.

use crate::scene::{Colour, Motion, Shape};
use crate::truth::Point;

/// One frame of a measured track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    /// Centroid of the matching pixels, if any matched.
    pub centroid: Option<Point>,
    /// How many pixels matched.
    pub pixels: u32,
    /// Intersection over union of this frame's mask with the first found frame's mask.
    pub overlap: f32,
    /// How much better the first found frame's mask matches this frame's when turned about
    /// its centroid by the best angle of at least [`MIN_TURN_DEGREES`] than unturned (both
    /// centred on this frame's centroid): the difference of the two intersections over
    /// union. Near 0 for an unturned or symmetric-turned object, however its edge flickers.
    pub turn_gain: f32,
}

/// Where pixels of one colour were, frame by frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// The colour measured.
    pub colour: Colour,
    /// One point per frame.
    pub points: Vec<TrackPoint>,
}

/// Fewest pixels the largest connected patch of a colour must have to count as "found" in a
/// frame, at least 4 and 1/160 of the frame (6 at 32x32): scattered pixels of a colour
/// (noise, texture) are not an object, while the smallest object (a shrunk one, a third of
/// the base radius of 12% of the side) still is.
fn min_pixels(frame_pixels: usize) -> u32 {
    (frame_pixels as u32 / 160).max(4)
}
/// A frame where the colour covers more than this share is treated as background, not object.
const MAX_SHARE: f32 = 0.4;

/// Measures pixels that clearly show `colour` in RGB8 frames of `width` x `height`.
///
/// Returns `None` when no frame has the colour, or a frame has the wrong size. A frame where
/// the colour covers over 40% of the image (the background has that colour) counts as not
/// found.
pub fn measure(frames: &[Vec<u8>], width: u32, height: u32, colour: Colour) -> Option<Track> {
    let n = width as usize * height as usize;
    if frames.iter().any(|f| f.len() != n * 3) {
        return None;
    }
    let mut first_mask: Option<(Vec<bool>, Point)> = None;
    let mut mask = vec![false; n];
    let mut points = Vec::with_capacity(frames.len());
    for frame in frames {
        for (px, m) in frame.chunks_exact(3).zip(mask.iter_mut()) {
            *m = Colour::classify([px[0], px[1], px[2]]) == Some(colour);
        }
        let share = mask.iter().filter(|m| **m).count() as f32 / n as f32;
        keep_largest_component(&mut mask, width as usize);
        let (mut count, mut sx, mut sy) = (0u32, 0f64, 0f64);
        for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
            count += 1;
            sx += (i % width as usize) as f64 + 0.5;
            sy += (i / width as usize) as f64 + 0.5;
        }
        if count < min_pixels(n) || share > MAX_SHARE {
            points.push(TrackPoint {
                centroid: None,
                pixels: 0,
                overlap: 0.0,
                turn_gain: 0.0,
            });
            continue;
        }
        let centroid = Point {
            x: (sx / f64::from(count)) as f32,
            y: (sy / f64::from(count)) as f32,
        };
        let (first, first_centroid) = first_mask.get_or_insert_with(|| (mask.clone(), centroid));
        let (mut inter, mut union) = (0u32, 0u32);
        for (&a, &b) in first.iter().zip(&mask) {
            inter += u32::from(a && b);
            union += u32::from(a || b);
        }
        let overlap = if union == 0 {
            0.0
        } else {
            inter as f32 / union as f32
        };
        let turn_gain = turn_gain(
            first,
            *first_centroid,
            &mask,
            centroid,
            width as usize,
            count,
        );
        points.push(TrackPoint {
            centroid: Some(centroid),
            pixels: count,
            overlap,
            turn_gain,
        });
    }
    first_mask.map(|_| Track { colour, points })
}

/// Smallest turn (degrees, either way) the spin measure tries: a few degrees' turn is what
/// resampling a mask at another sub-pixel position already looks like.
pub const MIN_TURN_DEGREES: f32 = 20.0;
/// Step between the turns tried, in degrees.
const TURN_STEP_DEGREES: f32 = 5.0;

/// [`TrackPoint::turn_gain`] of `mask` (with `count` pixels and centroid `centroid`) against
/// the first found frame's mask `first` (centroid `first_centroid`), both `width` wide.
fn turn_gain(
    first: &[bool],
    first_centroid: Point,
    mask: &[bool],
    centroid: Point,
    width: usize,
    count: u32,
) -> f32 {
    let height = mask.len() / width.max(1);
    // Every pixel of the first mask lies within `reach` of its centroid, so a turned copy
    // centred on this frame's centroid lies within `reach` of it too.
    let reach = farthest_pixel(first, width, first_centroid) + 1.0;
    let x_range = ((centroid.x - reach).floor().max(0.0) as usize)
        ..((centroid.x + reach).ceil().min(width as f32) as usize);
    let y_range = ((centroid.y - reach).floor().max(0.0) as usize)
        ..((centroid.y + reach).ceil().min(height as f32) as usize);
    let overlap_turned = |degrees: f32| {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (mut turned, mut inter) = (0u32, 0u32);
        for y in y_range.clone() {
            for x in x_range.clone() {
                // Where this pixel came from in the first frame, turning back by `degrees`.
                let (dx, dy) = (x as f32 + 0.5 - centroid.x, y as f32 + 0.5 - centroid.y);
                let fx = first_centroid.x + cos * dx + sin * dy;
                let fy = first_centroid.y - sin * dx + cos * dy;
                if fx < 0.0 || fy < 0.0 || fx >= width as f32 || fy >= height as f32 {
                    continue;
                }
                if first[fy as usize * width + fx as usize] {
                    turned += 1;
                    inter += u32::from(mask[y * width + x]);
                }
            }
        }
        let union = turned + count - inter;
        if union == 0 {
            0.0
        } else {
            inter as f32 / union as f32
        }
    };
    let unturned = overlap_turned(0.0);
    let steps = ((180.0 - MIN_TURN_DEGREES) / TURN_STEP_DEGREES) as usize;
    let best_turned = (0..=steps)
        .map(|k| MIN_TURN_DEGREES + k as f32 * TURN_STEP_DEGREES)
        .flat_map(|d| [d, -d])
        .map(overlap_turned)
        .fold(0f32, f32::max);
    best_turned - unturned
}

/// The distance from `centre` to the farthest pixel centre of `mask` (`width` wide); 0 for
/// an empty mask.
fn farthest_pixel(mask: &[bool], width: usize, centre: Point) -> f32 {
    mask.iter()
        .enumerate()
        .filter(|(_, m)| **m)
        .map(|(i, _)| {
            let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
            (x - centre.x).hypot(y - centre.y)
        })
        .fold(0f32, f32::max)
}

/// Clears every pixel of `mask` outside its largest 4-connected component.
fn keep_largest_component(mask: &mut [bool], width: usize) {
    let height = mask.len() / width.max(1);
    let mut label = vec![0u32; mask.len()];
    let (mut best, mut best_size, mut next) = (0u32, 0usize, 0u32);
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let mut size = 0;
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = ((i % width) as i64, (i / width) as i64);
            for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && label[j] == 0 {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if size > best_size {
            (best, best_size) = (next, size);
        }
    }
    for (m, l) in mask.iter_mut().zip(&label) {
        *m = *m && *l == best;
    }
}

/// Net displacement (as a share of the frame side) below which an object is not travelling.
const TRAVEL: f32 = 0.06;
/// Vertical range (share of height) a bounce must span.
const BOUNCE: f32 = 0.08;
/// Area ratio between the end and the start that counts as growing (or its inverse, shrinking).
const GROWTH: f32 = 1.5;
/// Turn gain ([`TrackPoint::turn_gain`]) above which a frame shows a still, constant-size
/// object turned.
const SPIN_GAIN: f32 = 0.15;
/// Frames that must show the object turned for it to be spinning: one frame's gain can be
/// the flicker of a small mask's edge (measured on still objects after the kino-mini
/// autoencoder's round trip), a turn shows in most frames (10 or more of 16 in the world's
/// 3/8-turn clips).
const SPIN_FRAMES: usize = 2;

/// Names the motion of a measured track in a `width` x `height` clip.
///
/// In order: a large vertical range with little net vertical travel is bouncing; a clear net
/// displacement is left/right/up/down (the larger axis wins); a clear change in pixel count is
/// growing/shrinking; a mask that matches the first frame's clearly better turned than
/// unturned (in at least two frames) is spinning; otherwise still.
pub fn classify_motion(track: &Track, width: u32, height: u32) -> Motion {
    let found: Vec<(Point, u32, f32)> = track
        .points
        .iter()
        .filter_map(|p| p.centroid.map(|c| (c, p.pixels, p.turn_gain)))
        .collect();
    let (Some(first), Some(last)) = (found.first(), found.last()) else {
        return Motion::Still;
    };
    if found.len() < 2 {
        return Motion::Still;
    }
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let dx = (last.0.x - first.0.x) / w;
    let dy = (last.0.y - first.0.y) / h;
    let (ymin, ymax) = found.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
        (lo.min(p.0.y), hi.max(p.0.y))
    });
    let range_y = (ymax - ymin) / h;
    if range_y > BOUNCE && dy.abs() < 0.4 * range_y && dx.abs() < range_y {
        return Motion::Bouncing;
    }
    if dx.abs().max(dy.abs()) > TRAVEL {
        return if dx.abs() >= dy.abs() {
            if dx > 0.0 {
                Motion::Right
            } else {
                Motion::Left
            }
        } else if dy > 0.0 {
            Motion::Down
        } else {
            Motion::Up
        };
    }
    // Compare the mean pixel count of the first and last quarters.
    let quarter = (found.len() / 4).max(1);
    let mean = |s: &[(Point, u32, f32)]| s.iter().map(|p| p.1 as f32).sum::<f32>() / s.len() as f32;
    let ratio = mean(&found[found.len() - quarter..]) / mean(&found[..quarter]).max(1.0);
    if ratio > GROWTH {
        return Motion::Growing;
    }
    if ratio < 1.0 / GROWTH {
        return Motion::Shrinking;
    }
    if found.iter().filter(|p| p.2 > SPIN_GAIN).count() >= SPIN_FRAMES {
        return Motion::Spinning;
    }
    Motion::Still
}

/// Compactness of a mask: its pixel count over the area of the smallest centred disc that
/// holds it (`pi r_max^2`, `r_max` the farthest pixel centre from the centroid plus half a
/// pixel). Rotation-invariant: about 0.9 for a disc, 0.6 for a square, 0.4 for a triangle,
/// lower for a star.
fn compactness(mask: &[bool], width: usize) -> Option<f32> {
    let (mut n, mut sx, mut sy) = (0f32, 0f32, 0f32);
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        n += 1.0;
        sx += (i % width) as f32 + 0.5;
        sy += (i / width) as f32 + 0.5;
    }
    if n < 4.0 {
        return None;
    }
    let (cx, cy) = (sx / n, sy / n);
    let r_max = farthest_pixel(mask, width, Point { x: cx, y: cy }) + 0.5;
    Some(n / (std::f32::consts::PI * r_max * r_max))
}

/// Solidity of a mask: its pixel count over the area of the convex hull of its pixels (each
/// pixel a unit square, so the hull is of their corners). Near 1 for convex shapes, about 0.6
/// for a five-pointed star.
fn solidity(mask: &[bool], width: usize) -> Option<f32> {
    let mut corners: Vec<(i64, i64)> = Vec::new();
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        let (x, y) = ((i % width) as i64, (i / width) as i64);
        corners.extend([(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)]);
    }
    let n = mask.iter().filter(|m| **m).count();
    if n < 4 {
        return None;
    }
    corners.sort_unstable();
    corners.dedup();
    // Andrew's monotone chain.
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(corners.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let points: Box<dyn Iterator<Item = &(i64, i64)>> = if pass == 0 {
            Box::new(corners.iter())
        } else {
            Box::new(corners.iter().rev())
        };
        for &p in points {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    let area2: i64 = (0..hull.len())
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    let area = area2.abs() as f32 / 2.0;
    (area > 0.0).then(|| n as f32 / area)
}

/// Compactness below which a mask is pointed (a triangle or a star), and above which a
/// convex one is a ball rather than a square.
const ROUND_POINTED: f32 = 0.6;
const ROUND_BALL: f32 = 0.74;
/// Solidity below which a pointed mask is a star, and at or above which a round one is a
/// square (pixelated discs lose corners to the hull; squares do not).
const STAR_SOLIDITY: f32 = 0.785;
const SQUARE_SOLIDITY: f32 = 0.96;

fn object_mask(frame: &[u8], width: usize, colour: Colour) -> Vec<bool> {
    let mut mask: Vec<bool> = frame
        .chunks_exact(3)
        .map(|px| Colour::classify([px[0], px[1], px[2]]) == Some(colour))
        .collect();
    keep_largest_component(&mut mask, width);
    mask
}

fn median(mut values: Vec<f32>) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    Some(values[values.len() / 2])
}

/// Names the shape of the object of `colour` in RGB8 frames from two rotation-invariant
/// measures, each the median over the frames where the colour is found: solidity (a star is
/// far from convex) and compactness (a ball fills its bounding disc, a square less, a
/// triangle least). `None` when the colour is not found.
pub fn classify_shape(
    frames: &[Vec<u8>],
    width: u32,
    height: u32,
    colour: Colour,
) -> Option<Shape> {
    let n = width as usize * height as usize;
    let masks: Vec<Vec<bool>> = frames
        .iter()
        .filter(|f| f.len() == n * 3)
        .map(|f| object_mask(f, width as usize, colour))
        .filter(|m| (m.iter().filter(|v| **v).count() as f32) <= MAX_SHARE * n as f32)
        .collect();
    let solid = median(
        masks
            .iter()
            .filter_map(|m| solidity(m, width as usize))
            .collect(),
    )?;
    let round = median(
        masks
            .iter()
            .filter_map(|m| compactness(m, width as usize))
            .collect(),
    )?;
    Some(if round < ROUND_POINTED {
        if solid < STAR_SOLIDITY {
            Shape::Star
        } else {
            Shape::Triangle
        }
    } else if solid >= SQUARE_SOLIDITY || round < ROUND_BALL {
        Shape::Square
    } else {
        Shape::Ball
    })
}

/// The per-frame `(solidity, compactness)` that [`classify_shape`] takes medians of.
pub fn shape_measures(frames: &[Vec<u8>], width: u32, colour: Colour) -> Vec<(f32, f32)> {
    frames
        .iter()
        .map(|f| object_mask(f, width as usize, colour))
        .filter_map(|m| {
            Some((
                solidity(&m, width as usize)?,
                compactness(&m, width as usize)?,
            ))
        })
        .collect()
}
