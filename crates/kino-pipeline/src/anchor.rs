//! A layout plan anchored to a given first frame (image to video, and movie mode's continued
//! shots). The layout stage plans from the caption alone, so its first keyframe may put an
//! object where the given frame does not have it, and the transformer would be asked for both
//! at once. Each planned object found in the frame by its colour has its whole path moved so
//! that it starts where the frame shows it; the path's shape (its motion) is kept.

use kino_models::layout::{SceneLayout, SceneLayoutConfig};

use crate::interpolate::FrameSize;
use crate::layers::{FoundObject, frame_objects};

/// Colour distance (summed over RGB in `[0, 1]`) within which a pixel shows a planned colour.
const SAME_COLOUR: f32 = 0.45;
/// Pixels of a found object that must show a slot's colour for it to be that slot's object.
const MIN_MATCHING_PIXELS: usize = 2;
/// Presence above which a slot holds an object.
const PRESENT: f32 = 0.5;

/// Moves the path of each slot of `plan` that holds an object so that its first keyframe's
/// centre lies on the object of its colour in `frame` (`size`, RGB in `[0, 1]`, row-major);
/// each found object anchors one slot at most, the surest slot choosing first. Returns the
/// slots moved, in order. A slot whose colour no object in the frame shows keeps its path,
/// and nothing moves when `config` has no palette.
pub fn anchor_plan(
    plan: &mut SceneLayout,
    config: &SceneLayoutConfig,
    frame: &[f32],
    size: FrameSize,
) -> Vec<usize> {
    if config.palette.len() != config.colours || frame.len() != size.width * size.height * 3 {
        return Vec::new();
    }
    let mut objects: Vec<Option<FoundObject>> =
        frame_objects(frame, size).into_iter().map(Some).collect();
    let slots = plan
        .presence
        .len()
        .min(plan.poses.len())
        .min(plan.colours.len());
    let mut order: Vec<usize> = (0..slots)
        .filter(|&slot| plan.presence[slot] > PRESENT)
        .collect();
    order.sort_by(|&a, &b| plan.presence[b].total_cmp(&plan.presence[a]));
    let mut moved = Vec::new();
    for slot in order {
        let Some(class) = most_likely(&plan.colours[slot]) else {
            continue;
        };
        let Some(&rgb) = config.palette.get(class) else {
            continue;
        };
        let rgb = rgb.map(|v| f32::from(v) / 255.0);
        // The found object with the most pixels of the slot's colour (the larger on a tie).
        let best = objects
            .iter()
            .enumerate()
            .filter_map(|(i, object)| object.as_ref().map(|o| (i, matching_pixels(o, rgb))))
            .filter(|&(_, n)| n >= MIN_MATCHING_PIXELS)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some(object) = best.and_then(|(i, _)| objects[i].take()) else {
            continue;
        };
        let Some(&[x0, y0, ..]) = plan.poses[slot].first() else {
            continue;
        };
        let (x, y) = object.centroid;
        let dx = (x + 0.5) / size.width as f32 * 2.0 - 1.0 - x0;
        let dy = (y + 0.5) / size.height as f32 * 2.0 - 1.0 - y0;
        for pose in &mut plan.poses[slot] {
            pose[0] += dx;
            pose[1] += dy;
        }
        moved.push(slot);
    }
    moved.sort_unstable();
    moved
}

/// The index of the largest probability, if any.
fn most_likely(probabilities: &[f32]) -> Option<usize> {
    probabilities
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// How many of `object`'s pixels show `rgb` (within [`SAME_COLOUR`]).
fn matching_pixels(object: &FoundObject, rgb: [f32; 3]) -> usize {
    object
        .colours
        .iter()
        .filter(|px| (0..3).map(|c| (px[c] - rgb[c]).abs()).sum::<f32>() < SAME_COLOUR)
        .count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    const RED: [u8; 3] = [220, 30, 30];
    const BLUE: [u8; 3] = [30, 80, 230];
    const SIZE: FrameSize = FrameSize {
        height: 32,
        width: 32,
    };

    fn config(palette: Vec<[u8; 3]>) -> SceneLayoutConfig {
        SceneLayoutConfig {
            slots: 2,
            keyframes: 3,
            colours: 2,
            shapes: 1,
            motions: 1,
            backgrounds: 1,
            text_dim: 8,
            hidden: 8,
            sample_steps: 1,
            radius: [0.25, 0.25],
            palette,
        }
    }

    /// A green frame with a 5x5 square of `rgb` whose top-left pixel is (`x`, `y`).
    fn frame_with_square(x: usize, y: usize, rgb: [u8; 3]) -> Vec<f32> {
        let mut frame: Vec<f32> = (0..SIZE.width * SIZE.height)
            .flat_map(|_| [0.2, 0.6, 0.2])
            .collect();
        for row in y..y + 5 {
            for col in x..x + 5 {
                let p = (row * SIZE.width + col) * 3;
                for c in 0..3 {
                    frame[p + c] = f32::from(rgb[c]) / 255.0;
                }
            }
        }
        frame
    }

    /// A plan whose slot 0 is red and moves right from the left edge, and whose slot 1 is
    /// blue (present or not) and stands still at the centre.
    fn plan(blue_presence: f32) -> SceneLayout {
        SceneLayout {
            presence: vec![1.0, blue_presence],
            colours: vec![vec![0.9, 0.1], vec![0.2, 0.8]],
            shapes: vec![vec![1.0], vec![1.0]],
            poses: vec![
                vec![
                    [-0.8, 0.0, 0.0, 1.0, 0.0],
                    [-0.4, 0.0, 0.0, 1.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0, 0.0],
                ],
                vec![[0.0, 0.0, 0.0, 1.0, 0.0]; 3],
            ],
        }
    }

    #[test]
    fn a_path_starts_where_the_frame_shows_its_colour_and_keeps_its_motion() {
        // The red square's centre is pixel (22, 8): (22.5 / 32) * 2 - 1 across, (8.5 / 32) * 2 - 1 down.
        let frame = frame_with_square(20, 6, RED);
        let mut anchored = plan(0.0);
        let moved = anchor_plan(&mut anchored, &config(vec![RED, BLUE]), &frame, SIZE);
        assert_eq!(moved, vec![0]);
        let (cx, cy) = (22.5 / 32.0 * 2.0 - 1.0, 8.5 / 32.0 * 2.0 - 1.0);
        let start = anchored.poses[0][0];
        assert!(
            (start[0] - cx).abs() < 1e-5 && (start[1] - cy).abs() < 1e-5,
            "{start:?}"
        );
        // Still moving right by 0.4 a keyframe, at the same height.
        for k in 1..3 {
            let (a, b) = (anchored.poses[0][k - 1], anchored.poses[0][k]);
            assert!((b[0] - a[0] - 0.4).abs() < 1e-5 && (b[1] - a[1]).abs() < 1e-6);
        }
        // The empty slot is left alone.
        assert_eq!(anchored.poses[1], plan(0.0).poses[1]);
    }

    #[test]
    fn a_colour_the_frame_does_not_show_or_a_model_without_a_palette_moves_nothing() {
        let frame = frame_with_square(20, 6, RED);
        // The blue slot finds no blue object; the red one takes the red square.
        let mut both = plan(1.0);
        assert_eq!(
            anchor_plan(&mut both, &config(vec![RED, BLUE]), &frame, SIZE),
            vec![0]
        );
        assert_eq!(both.poses[1], plan(1.0).poses[1]);
        // No palette: the plan is followed as sampled.
        let mut unknown = plan(1.0);
        assert!(anchor_plan(&mut unknown, &config(Vec::new()), &frame, SIZE).is_empty());
        assert_eq!(unknown, plan(1.0));
        // A frame of another size than the one stated is not read.
        assert!(anchor_plan(&mut unknown, &config(vec![RED, BLUE]), &frame[3..], SIZE).is_empty());
    }
}
