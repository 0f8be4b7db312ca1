//! Objects the layout plan turns in place, drawn alike at every keyframe.
//!
//! The model draws a spinning object anew at every keyframe, and a small one comes out a
//! different blob each time: a few pixels larger at one keyframe, smaller at the next, its
//! corners speckled. Played, it pulses as it turns, and the judge, which weighs the first
//! quarter of a clip's frames against the last, can read the pulse as growing or shrinking.
//! Where the plan turns an object in place (its centre within a pixel or two and its size
//! unchanged over all keyframes, its angle changing), this pass redraws the object at every
//! keyframe from all of them: each keyframe's object is turned to the angle the plan gives the
//! keyframe being drawn, and each pixel shows the object where most of them do, in the vector
//! median of their colours there (as [`crate::still`] takes it). Where a keyframe drew the
//! object and the majority does not, its pixel becomes the background (the row's median).

use crate::interpolate::FrameSize;
use crate::layers::{Layers, row_medians};
use crate::planned::PlannedPath;
use crate::still::{is_in_place, turns_over, vector_median};
use crate::turns::{Sprite, nearest};

/// Fewest keyframes the object must be found in for a majority to be taken.
const MIN_FOUND: usize = 3;

/// `keyframes` with every object that `paths` turns in place drawn alike at each keyframe,
/// turned to its planned angle there. An object is looked for in each keyframe as
/// [`crate::turns`] looks for it (the region nearest its planned centre, within its reach); a
/// region that another planned object would take is objects run together, and that keyframe
/// is left out. Objects found in fewer than three keyframes are left as they are.
pub fn hold_turning_objects(
    keyframes: &[Vec<f32>],
    size: FrameSize,
    paths: &[PlannedPath],
) -> Vec<Vec<f32>> {
    let mut held = keyframes.to_vec();
    let k = keyframes.len();
    let turning: Vec<usize> = (0..paths.len())
        .filter(|&i| {
            let path = &paths[i];
            path.keyframes() >= k && is_in_place(path, k) && turns_over(path, k)
        })
        .collect();
    if k < MIN_FOUND || turning.is_empty() {
        return held;
    }
    let layers: Vec<Layers> = keyframes.iter().map(|f| Layers::of(f, size)).collect();
    let backgrounds: Vec<Vec<f32>> = keyframes.iter().map(|f| row_medians(f, size)).collect();
    for i in turning {
        let path = &paths[i];
        // The object's sprite in each keyframe it is found in, alone in its region.
        let sprites: Vec<Option<Sprite>> = (0..k)
            .map(|key| {
                let found = nearest(&layers[key].regions, path.centres[key], path.reach())?;
                let shared = paths.iter().enumerate().any(|(j, other)| {
                    j != i
                        && other.keyframes() > key
                        && nearest(&layers[key].regions, other.centres[key], other.reach())
                            == Some(found)
                });
                (!shared).then(|| {
                    Sprite::of(
                        &layers[key].regions[found],
                        &keyframes[key],
                        &backgrounds[key],
                        size,
                    )
                })
            })
            .collect();
        let found: Vec<usize> = (0..k).filter(|&key| sprites[key].is_some()).collect();
        if found.len() < MIN_FOUND {
            continue;
        }
        // Turned about the mean of the sprites' centroids: where the object is drawn.
        let centre = found
            .iter()
            .filter_map(|&key| sprites[key].as_ref())
            .fold((0f32, 0f32), |(x, y), s| {
                (x + s.centroid.0, y + s.centroid.1)
            });
        let centre = (centre.0 / found.len() as f32, centre.1 / found.len() as f32);
        let reach = found
            .iter()
            .filter_map(|&key| sprites[key].as_ref())
            .map(|s| s.reach(size))
            .fold(0f32, f32::max)
            + 1.5;
        for key in 0..k {
            draw_majority(
                &mut held[key],
                keyframes,
                &sprites,
                &backgrounds[key],
                size,
                Turning {
                    centre,
                    reach,
                    angles: &path.angles[..k],
                    key,
                },
            );
        }
    }
    held
}

/// Where and how a held object turns, for the keyframe being drawn.
struct Turning<'a> {
    /// The point it turns about, (column, row).
    centre: (f32, f32),
    /// Farthest pixel (from `centre`) it can cover.
    reach: f32,
    /// Its planned clockwise angle at each keyframe (radians).
    angles: &'a [f32],
    /// The keyframe being drawn.
    key: usize,
}

/// Redraws the object in keyframe `turning.key` (`out`): each pixel within reach shows the
/// object where most found keyframes' sprites, turned to this keyframe's planned angle, cover
/// it, in the vector median of their colours there; a pixel of this keyframe's own sprite that
/// the majority leaves uncovered becomes `background`.
fn draw_majority(
    out: &mut [f32],
    keyframes: &[Vec<f32>],
    sprites: &[Option<Sprite>],
    background: &[f32],
    size: FrameSize,
    turning: Turning<'_>,
) {
    let (w, h) = (size.width as i64, size.height as i64);
    let (cx, cy) = turning.centre;
    let voters = sprites.iter().filter(|s| s.is_some()).count();
    let mut pixels: Vec<usize> = Vec::new();
    let rows = ((cy - turning.reach).floor() as i64).max(0)
        ..=((cy + turning.reach).ceil() as i64).min(h - 1);
    for y in rows {
        let columns = ((cx - turning.reach).floor() as i64).max(0)
            ..=((cx + turning.reach).ceil() as i64).min(w - 1);
        pixels.extend(columns.map(|x| (y * w + x) as usize));
    }
    if let Some(own) = &sprites[turning.key] {
        pixels.extend(&own.pixels);
        pixels.sort_unstable();
        pixels.dedup();
    }
    for p in pixels {
        let (dx, dy) = ((p as i64 % w) as f32 - cx, (p as i64 / w) as f32 - cy);
        // Keyframe `j`'s object turned clockwise by (this keyframe's angle - j's) lands on
        // this one's; a pixel here comes from turning back by that angle.
        let covering: Vec<&[f32]> = sprites
            .iter()
            .enumerate()
            .filter_map(|(j, sprite)| {
                let sprite = sprite.as_ref()?;
                let (sin, cos) = (turning.angles[turning.key] - turning.angles[j]).sin_cos();
                let sx = (cx + cos * dx + sin * dy).round() as i64;
                let sy = (cy - sin * dx + cos * dy).round() as i64;
                if sx < 0 || sy < 0 || sx >= w || sy >= h {
                    return None;
                }
                let source = (sy * w + sx) as usize;
                sprite
                    .pixels
                    .binary_search(&source)
                    .is_ok()
                    .then(|| &keyframes[j][source * 3..source * 3 + 3])
            })
            .collect();
        if covering.len() * 2 > voters {
            let colour = vector_median(covering.iter().copied());
            out[p * 3..p * 3 + 3].copy_from_slice(&colour);
        } else if sprites[turning.key]
            .as_ref()
            .is_some_and(|own| own.pixels.binary_search(&p).is_ok())
        {
            out[p * 3..p * 3 + 3].copy_from_slice(&background[p * 3..p * 3 + 3]);
        }
    }
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

    /// A Z of 7 pixels about its centroid (0, 0): the same turned a half turn, not a quarter.
    const Z: [(i64, i64); 7] = [(-2, -1), (-1, -1), (0, -1), (0, 0), (0, 1), (1, 1), (2, 1)];

    /// `Z` turned clockwise by `quarters` quarter turns (rows grow downwards: a quarter turn
    /// takes (x, y) to (-y, x)).
    fn z_turned(quarters: usize) -> Vec<(i64, i64)> {
        Z.iter()
            .map(|&(x, y)| (0..quarters % 4).fold((x, y), |(x, y), _| (-y, x)))
            .collect()
    }

    /// A night frame with orange pixels at `offsets` from (12, 12).
    fn frame(offsets: &[(i64, i64)]) -> Vec<f32> {
        let mut frame: Vec<f32> = NIGHT.repeat(SIZE.height * SIZE.width);
        for &(x, y) in offsets {
            let i = ((12 + y) as usize * SIZE.width + (12 + x) as usize) * 3;
            frame[i..i + 3].copy_from_slice(&ORANGE);
        }
        frame
    }

    /// A path at (12, 12) turning by the given degrees, radius 3.
    fn path(degrees: &[f32]) -> PlannedPath {
        PlannedPath {
            centres: vec![(12.0, 12.0); degrees.len()],
            angles: degrees.iter().map(|d| d.to_radians()).collect(),
            scales: vec![1.0; degrees.len()],
            radius: 3.0,
        }
    }

    const QUARTERS: [f32; 5] = [0.0, 90.0, 180.0, 270.0, 360.0];

    #[test]
    fn a_keyframe_drawn_unturned_is_drawn_at_its_planned_angle() {
        // The plan turns the Z a quarter turn a keyframe; the model drew keyframe 3 unturned.
        let drawn = [0, 1, 2, 0, 4];
        let keyframes: Vec<Vec<f32>> = drawn.iter().map(|&q| frame(&z_turned(q))).collect();
        let held = hold_turning_objects(&keyframes, SIZE, &[path(&QUARTERS)]);
        assert_eq!(held[3], frame(&z_turned(3)), "keyframe 3 at three quarters");
        for k in [0, 1, 2, 4] {
            assert_eq!(held[k], keyframes[k], "keyframe {k} was drawn as planned");
        }
    }

    #[test]
    fn a_keyframe_drawn_larger_or_not_at_all_is_drawn_as_most_are() {
        let square: Vec<(i64, i64)> = (-2..=2)
            .flat_map(|y| (-2..=2).map(move |x| (x, y)))
            .collect();
        let bloated: Vec<(i64, i64)> = (-3..=3)
            .flat_map(|y| (-3..=3).map(move |x| (x, y)))
            .collect();
        let keyframes = vec![
            frame(&square),
            frame(&bloated),
            frame(&square),
            frame(&[]),
            frame(&square),
        ];
        let held = hold_turning_objects(&keyframes, SIZE, &[path(&QUARTERS)]);
        for (k, f) in held.iter().enumerate() {
            assert_eq!(f, &frame(&square), "keyframe {k}");
        }
    }

    #[test]
    fn objects_the_plan_does_not_turn_in_place_are_left_as_drawn() {
        let drawn = [0, 1, 2, 0, 4];
        let keyframes: Vec<Vec<f32>> = drawn.iter().map(|&q| frame(&z_turned(q))).collect();
        let mut travelling = path(&QUARTERS);
        travelling.centres = (0..5).map(|k| (4.0 + 4.0 * k as f32, 12.0)).collect();
        let mut growing = path(&QUARTERS);
        growing.scales = vec![1.0, 1.25, 1.5, 1.75, 2.0];
        for plan in [path(&[0.0; 5]), travelling, growing] {
            let held = hold_turning_objects(&keyframes, SIZE, std::slice::from_ref(&plan));
            assert_eq!(held, keyframes, "{plan:?}");
        }
        // Found in only two keyframes: no majority to draw.
        let sparse = vec![
            frame(&z_turned(0)),
            frame(&[]),
            frame(&z_turned(2)),
            frame(&[]),
            frame(&[]),
        ];
        assert_eq!(
            hold_turning_objects(&sparse, SIZE, &[path(&QUARTERS)]),
            sparse
        );
    }
}
