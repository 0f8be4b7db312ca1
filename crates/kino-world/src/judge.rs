//! Judging helpers: find an object of a named colour in frames and say how it moved.
//!
//! This is the oracle that scores generated clips: colours are judged by name
//! ([`Colour::classify`]), not exact RGB, and motion from the centroid track and pixel count.
//! Spinning is best effort: it is reported when a still object's pixel mask changes shape
//! (rotation-symmetric shapes have rotation-invariant moments, so moments cannot tell).

use crate::scene::{Colour, Motion};
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
}

/// Where pixels of one colour were, frame by frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// The colour measured.
    pub colour: Colour,
    /// One point per frame.
    pub points: Vec<TrackPoint>,
}

/// Fewest matching pixels that count as "found" in a frame.
const MIN_PIXELS: u32 = 2;
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
    let mut first_mask: Option<Vec<bool>> = None;
    let mut mask = vec![false; n];
    let mut points = Vec::with_capacity(frames.len());
    for frame in frames {
        let (mut count, mut sx, mut sy) = (0u32, 0f64, 0f64);
        for (i, (px, m)) in frame.chunks_exact(3).zip(mask.iter_mut()).enumerate() {
            *m = Colour::classify([px[0], px[1], px[2]]) == Some(colour);
            if *m {
                count += 1;
                sx += (i % width as usize) as f64 + 0.5;
                sy += (i / width as usize) as f64 + 0.5;
            }
        }
        if count < MIN_PIXELS || count as f32 > MAX_SHARE * n as f32 {
            points.push(TrackPoint {
                centroid: None,
                pixels: 0,
                overlap: 0.0,
            });
            continue;
        }
        let first = first_mask.get_or_insert_with(|| mask.clone());
        let (mut inter, mut union) = (0u32, 0u32);
        for (&a, &b) in first.iter().zip(&mask) {
            inter += u32::from(a && b);
            union += u32::from(a || b);
        }
        let centroid = Point {
            x: (sx / f64::from(count)) as f32,
            y: (sy / f64::from(count)) as f32,
        };
        let overlap = if union == 0 {
            0.0
        } else {
            inter as f32 / union as f32
        };
        points.push(TrackPoint {
            centroid: Some(centroid),
            pixels: count,
            overlap,
        });
    }
    first_mask.map(|_| Track { colour, points })
}

/// Net displacement (as a share of the frame side) below which an object is not travelling.
const TRAVEL: f32 = 0.06;
/// Vertical range (share of height) a bounce must span.
const BOUNCE: f32 = 0.08;
/// Area ratio between the end and the start that counts as growing (or its inverse, shrinking).
const GROWTH: f32 = 1.5;
/// Mask overlap below which a still, constant-size object is spinning.
const SPIN_OVERLAP: f32 = 0.9;

/// Names the motion of a measured track in a `width` x `height` clip.
///
/// In order: a large vertical range with little net vertical travel is bouncing; a clear net
/// displacement is left/right/up/down (the larger axis wins); a clear change in pixel count is
/// growing/shrinking; a changing mask is spinning; otherwise still.
pub fn classify_motion(track: &Track, width: u32, height: u32) -> Motion {
    let found: Vec<(Point, u32, f32)> = track
        .points
        .iter()
        .filter_map(|p| p.centroid.map(|c| (c, p.pixels, p.overlap)))
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
    if found.iter().any(|p| p.2 < SPIN_OVERLAP) {
        return Motion::Spinning;
    }
    Motion::Still
}
