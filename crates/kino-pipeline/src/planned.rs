//! A layout plan's objects as paths in a keyframe's pixels: where each planned object is, how
//! large and how far turned at every keyframe. The passes that keep the frames true to the
//! plan ([`crate::turns`], [`crate::still`]) read the plan this way.

use kino_models::layout::{SceneLayout, SceneLayoutConfig};

use crate::interpolate::FrameSize;

/// Presence above which a slot of the plan holds an object.
const PRESENT: f32 = 0.5;

/// One planned object's path over the keyframes, in the frame's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPath {
    /// Per keyframe: the planned centre, as (column, row) of the frame's pixels.
    pub centres: Vec<(f32, f32)>,
    /// Per keyframe: the planned clockwise turn, in radians.
    pub angles: Vec<f32>,
    /// Per keyframe: the planned size, as a multiple of the plan's base size.
    pub scales: Vec<f32>,
    /// The planned radius at the object's largest, in pixels.
    pub radius: f32,
}

impl PlannedPath {
    /// How far (pixels) from its planned centre the object may be found in a keyframe: twice
    /// its largest planned radius, at least 3 pixels.
    pub fn reach(&self) -> f32 {
        (2.0 * self.radius).max(3.0)
    }

    /// The planned radius (pixels) at keyframe `key`; 0 past the path's end.
    pub fn radius_at(&self, key: usize) -> f32 {
        let largest = self.scales.iter().copied().fold(0f32, f32::max);
        match self.scales.get(key) {
            Some(&scale) if largest > 0.0 => self.radius * scale / largest,
            _ => 0.0,
        }
    }

    /// Number of keyframes the path covers (the fewest of its per-keyframe lists).
    pub fn keyframes(&self) -> usize {
        self.centres
            .len()
            .min(self.angles.len())
            .min(self.scales.len())
    }
}

/// The objects `plan` holds (presence above one half), each with its path in the pixels of a
/// frame of `size`: the pose's `x` and `y` run from -1 to 1 across the frame, its scale `s`
/// makes the object `1 + s` times the base radius (`config.radius`, a share of the frame's
/// side), and its `(cos, sin)` pair is the turn.
pub fn planned_paths(
    plan: &SceneLayout,
    config: &SceneLayoutConfig,
    size: FrameSize,
) -> Vec<PlannedPath> {
    let (w, h) = (size.width as f32, size.height as f32);
    let base = (config.radius[0] * w).max(config.radius[1] * h) / 2.0;
    plan.presence
        .iter()
        .zip(&plan.poses)
        .filter(|(presence, _)| **presence > PRESENT)
        .map(|(_, poses)| {
            let scales: Vec<f32> = poses.iter().map(|p| 1.0 + p[2]).collect();
            PlannedPath {
                centres: poses
                    .iter()
                    .map(|p| ((p[0] + 1.0) / 2.0 * w - 0.5, (p[1] + 1.0) / 2.0 * h - 0.5))
                    .collect(),
                angles: poses.iter().map(|p| p[4].atan2(p[3])).collect(),
                radius: scales.iter().copied().fold(0f32, f32::max) * base,
                scales,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    const SIZE: FrameSize = FrameSize {
        height: 24,
        width: 24,
    };

    #[test]
    fn a_plan_is_read_in_the_frames_pixels() {
        let config = SceneLayoutConfig {
            slots: 2,
            keyframes: 2,
            colours: 1,
            shapes: 1,
            motions: 1,
            backgrounds: 1,
            text_dim: 4,
            hidden: 4,
            sample_steps: 1,
            radius: [0.25, 0.25],
            palette: Vec::new(),
        };
        let quarter = std::f32::consts::FRAC_1_SQRT_2;
        let layout = SceneLayout {
            presence: vec![1.0, 0.0],
            colours: vec![vec![1.0]; 2],
            shapes: vec![vec![1.0]; 2],
            poses: vec![
                vec![
                    [-1.0, 0.0, 0.0, 1.0, 0.0],
                    [0.5, 1.0, 1.0, quarter, quarter],
                ],
                vec![[0.0; 5]; 2],
            ],
        };
        let paths = planned_paths(&layout, &config, SIZE);
        assert_eq!(paths.len(), 1, "the absent slot is left out");
        let t = &paths[0];
        assert_eq!(t.centres, vec![(-0.5, 11.5), (17.5, 23.5)]);
        assert!((t.angles[1] - std::f32::consts::FRAC_PI_4).abs() < 1e-6);
        assert_eq!(t.scales, vec![1.0, 2.0]);
        // Radius 0.25 of a 2-wide frame at size 2: 6 pixels; twice that.
        assert!((t.radius - 6.0).abs() < 1e-4);
        assert!((t.reach() - 12.0).abs() < 1e-4);
        assert_eq!(t.keyframes(), 2);
        assert!((t.radius_at(0) - 3.0).abs() < 1e-4 && t.radius_at(2) == 0.0);
    }
}
