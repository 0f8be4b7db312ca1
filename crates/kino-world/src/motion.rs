//! Trajectories: where each object is, how big and how turned, at clip time `u` in `[0, 1]`.
//!
//! Motion is defined over the clip's duration, so a clip of any fps or length shows the same
//! path: an object moving right travels half the width of its region (clamped to what keeps
//! it inside), a bouncing one makes [`BOUNCES`] gravity arcs, growing/shrinking scale between
//! 0.5x and 1.5x, spinning turns [`SPIN_TURNS`] of a turn clockwise (3/8: less than any
//! shape's symmetry, so the keyframes at clip times 0, 1/4, 1/2, 3/4 and 1 all differ, even
//! for a square; [`crate::Renderer::with_spin_turns`] sets another amount). Start positions jitter with the seed inside the range
//! that keeps the whole object (at its largest) in its region for the whole clip.
//!
//! A layout spread in `[0, 1]` scales every one of those random choices about its middle:
//! 1 is the full variety above, 0 the one canonical layout of a scene (centred start,
//! the middle bounce height, the first object in the first region; the halves swap with
//! chance `spread^2 / 2`, so a narrow spread almost never swaps them; [`LayoutSpread`] sets
//! the paths' spread and the halves' apart). A narrow spread makes a scene's layout nearly a
//! function of its caption (a training-data option; kino-mini's model card has what it did
//! to its scores).
//!
//! Two objects get disjoint regions, so they never overlap: left and right halves when one
//! moves vertically (up, down, bouncing) and neither horizontally, so vertical travel gets the
//! full height; otherwise top and bottom halves (a vertical mover paired with a horizontal one
//! travels within its half). Which object gets which half is drawn from the seed.

use crate::rng::{Rng, mix64};
use crate::scene::{Motion, Object, SceneSpec};
use std::f32::consts::TAU;

/// Number of bounces (ground to ground) over a clip.
pub(crate) const BOUNCES: f32 = 2.0;
/// Turns a spinning object makes over a clip: 3/8, so that a square (the same picture every
/// quarter turn) shows a different angle at each of the clip times 0, 1/4, 1/2, 3/4 and 1.
/// The world turned once a clip before 2026-12-05; recipes from then set 1.
pub const SPIN_TURNS: f32 = 0.375;
/// Base radius as a fraction of the smaller frame side.
pub const BASE_RADIUS: f32 = 0.12;

/// An object's pose at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Centre x in pixels.
    pub cx: f32,
    /// Centre y in pixels (down).
    pub cy: f32,
    /// Size multiplier.
    pub scale: f32,
    /// Clockwise rotation in radians.
    pub angle: f32,
}

/// The base radius in pixels for a frame size.
pub(crate) fn base_radius(width: u32, height: u32) -> f32 {
    BASE_RADIUS * width.min(height) as f32
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy)]
struct Region {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

/// One object's path over the clip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trajectory {
    motion: Motion,
    start: (f32, f32),
    end: (f32, f32),
    bounce_height: f32,
    /// Turns over the clip when spinning.
    spin_turns: f32,
}

/// How widely a scene's layout varies with the seed: each part in `[0, 1]`, 1 the world's
/// full variety and 0 the scene's one canonical layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutSpread {
    /// Start positions and bounce height, each narrowed about the middle of its range.
    pub paths: f32,
    /// Which of two objects gets which half of the frame: they swap with chance
    /// `regions^2 / 2` (1: even odds; 0: the first object always in the first half).
    pub regions: f32,
}

impl LayoutSpread {
    /// The same spread for the paths and the halves.
    pub fn uniform(spread: f32) -> Self {
        Self {
            paths: spread,
            regions: spread,
        }
    }
}

/// Plans every object's path for a frame size, seed and layout spread.
pub(crate) fn plan(
    spec: &SceneSpec,
    width: u32,
    height: u32,
    seed: u64,
    layout: LayoutSpread,
) -> Vec<Trajectory> {
    let spread = layout.paths.clamp(0.0, 1.0);
    let regions_spread = layout.regions.clamp(0.0, 1.0);
    let mut rng = Rng::new(mix64(seed ^ 0x6c61_796f_7574)); // "layout"
    let (w, h) = (width as f32, height as f32);
    let full = Region {
        x0: 0.0,
        y0: 0.0,
        x1: w,
        y1: h,
    };
    let regions: Vec<Region> = match spec.objects.as_slice() {
        [a, b] => {
            let vertical =
                |o: &Object| matches!(o.motion, Motion::Up | Motion::Down | Motion::Bouncing);
            let horizontal = |o: &Object| matches!(o.motion, Motion::Left | Motion::Right);
            let side_by_side = (vertical(a) || vertical(b)) && !(horizontal(a) || horizontal(b));
            let (first, second) = if side_by_side {
                (
                    Region {
                        x1: w / 2.0,
                        ..full
                    },
                    Region {
                        x0: w / 2.0,
                        ..full
                    },
                )
            } else {
                (
                    Region {
                        y1: h / 2.0,
                        ..full
                    },
                    Region {
                        y0: h / 2.0,
                        ..full
                    },
                )
            };
            if rng.chance(1.0 - 0.5 * f64::from(regions_spread * regions_spread)) {
                vec![first, second]
            } else {
                vec![second, first]
            }
        }
        objects => vec![full; objects.len()],
    };
    let r0 = base_radius(width, height);
    let mut draw = Draw { rng, spread };
    spec.objects
        .iter()
        .zip(regions)
        .map(|(object, region)| trajectory(object, region, r0, &mut draw))
        .collect()
}

/// The layout's random draws, each narrowed about the middle of its range by the spread.
struct Draw {
    rng: Rng,
    spread: f32,
}

impl Draw {
    /// A uniform draw in `[0, 1]` narrowed to `0.5 +- spread / 2`.
    fn unit(&mut self) -> f32 {
        let u = self.rng.next_f32();
        if self.spread >= 1.0 {
            u // exactly the full-variety draw
        } else {
            0.5 + self.spread * (u - 0.5)
        }
    }
}

/// The range of centre positions in `[lo, hi]` that keeps `margin` clear of both ends (the
/// midpoint when the region is too small).
fn allowed(lo: f32, hi: f32, margin: f32) -> (f32, f32) {
    if hi - lo >= 2.0 * margin {
        (lo + margin, hi - margin)
    } else {
        ((lo + hi) / 2.0, (lo + hi) / 2.0)
    }
}

/// A point in the middle 60% of `[lo, hi]` (objects hugging the edge read poorly).
fn jitter(lo: f32, hi: f32, draw: &mut Draw) -> f32 {
    lo + (hi - lo) * (0.2 + 0.6 * draw.unit())
}

/// A travel along one axis: half the region's extent, less if it would leave the range.
fn travel(lo: f32, hi: f32, region_len: f32, draw: &mut Draw) -> (f32, f32) {
    let dist = (0.5 * region_len).min(hi - lo);
    let from = lo + (hi - lo - dist) * draw.unit();
    (from, from + dist)
}

fn trajectory(object: &Object, region: Region, r0: f32, draw: &mut Draw) -> Trajectory {
    let max_scale = match object.motion {
        Motion::Growing | Motion::Shrinking => 1.5,
        _ => 1.0,
    };
    // One extra pixel for the antialiasing ramp.
    let margin = r0 * object.shape.extent() * max_scale + 1.0;
    let (xlo, xhi) = allowed(region.x0, region.x1, margin);
    let (ylo, yhi) = allowed(region.y0, region.y1, margin);
    let (rw, rh) = (region.x1 - region.x0, region.y1 - region.y0);
    let mut bounce_height = 0.0;
    let (start, end) = match object.motion {
        Motion::Right | Motion::Left => {
            let (a, b) = travel(xlo, xhi, rw, draw);
            let y = jitter(ylo, yhi, draw);
            if object.motion == Motion::Right {
                ((a, y), (b, y))
            } else {
                ((b, y), (a, y))
            }
        }
        Motion::Down | Motion::Up => {
            let (a, b) = travel(ylo, yhi, rh, draw);
            let x = jitter(xlo, xhi, draw);
            if object.motion == Motion::Down {
                ((x, a), (x, b))
            } else {
                ((x, b), (x, a))
            }
        }
        Motion::Bouncing => {
            let x = jitter(xlo, xhi, draw);
            bounce_height = (yhi - ylo) * (0.7 + 0.3 * draw.unit());
            ((x, yhi), (x, yhi))
        }
        Motion::Still | Motion::Growing | Motion::Shrinking | Motion::Spinning => {
            let p = (jitter(xlo, xhi, draw), jitter(ylo, yhi, draw));
            (p, p)
        }
    };
    Trajectory {
        motion: object.motion,
        start,
        end,
        bounce_height,
        spin_turns: SPIN_TURNS,
    }
}

impl Trajectory {
    /// The same path with a spinning object turning `turns` over the clip.
    pub(crate) fn with_spin_turns(self, turns: f32) -> Self {
        Self {
            spin_turns: turns,
            ..self
        }
    }

    /// The pose at clip time `u` (0 = first frame, 1 = last frame).
    pub fn pose(&self, u: f32) -> Pose {
        let (cx, cy) = match self.motion {
            Motion::Bouncing => {
                let p = (BOUNCES * u).fract();
                (
                    self.start.0,
                    self.start.1 - self.bounce_height * 4.0 * p * (1.0 - p),
                )
            }
            _ => (
                self.start.0 + (self.end.0 - self.start.0) * u,
                self.start.1 + (self.end.1 - self.start.1) * u,
            ),
        };
        let scale = match self.motion {
            Motion::Growing => 0.5 + u,
            Motion::Shrinking => 1.5 - u,
            _ => 1.0,
        };
        let angle = if self.motion == Motion::Spinning {
            TAU * self.spin_turns * u
        } else {
            0.0
        };
        Pose {
            cx,
            cy,
            scale,
            angle,
        }
    }
}

/// Clip time in `[0, 1]` of frame `i` of `frames`.
pub(crate) fn clip_time(i: u32, frames: u32) -> f32 {
    if frames <= 1 {
        0.0
    } else {
        i as f32 / (frames - 1) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Background, Colour, Shape};

    #[test]
    fn clip_time_spans_zero_to_one() {
        assert_eq!(clip_time(0, 1), 0.0);
        assert_eq!(clip_time(0, 5), 0.0);
        assert_eq!(clip_time(4, 5), 1.0);
    }

    #[test]
    fn tiny_regions_collapse_to_their_middle() {
        assert_eq!(allowed(0.0, 4.0, 3.0), (2.0, 2.0));
        assert_eq!(allowed(0.0, 10.0, 3.0), (3.0, 7.0));
    }

    #[test]
    fn vertical_and_still_objects_share_the_frame_side_by_side() {
        let spec = SceneSpec::new(
            vec![
                Object::new(Colour::Red, Shape::Ball, Motion::Bouncing),
                Object::new(Colour::Blue, Shape::Star, Motion::Still),
            ],
            Background::Sky,
        );
        let paths = plan(&spec, 100, 100, 0, LayoutSpread::uniform(1.0));
        let (a, b) = (paths[0].pose(0.0), paths[1].pose(0.0));
        assert!((a.cx < 50.0) != (b.cx < 50.0), "{a:?} {b:?}");
        // The bounce uses most of the height.
        let top = (0..=20)
            .map(|i| paths[0].pose(i as f32 / 20.0).cy)
            .fold(f32::MAX, f32::min);
        assert!(a.cy - top > 40.0, "{} -> {top}", a.cy);
    }

    /// A red ball moving left and a still blue star on the sky: the two halves are top and
    /// bottom.
    fn left_mover_and_still_star() -> SceneSpec {
        SceneSpec::new(
            vec![
                Object::new(Colour::Red, Shape::Ball, Motion::Left),
                Object::new(Colour::Blue, Shape::Star, Motion::Still),
            ],
            Background::Sky,
        )
    }

    #[test]
    fn layout_spread_narrows_the_seeds_layouts_about_the_canonical_one() {
        let spec = left_mover_and_still_star();
        let start = |seed: u64, spread: f32| {
            let paths = plan(&spec, 100, 100, seed, LayoutSpread::uniform(spread));
            (paths[0].pose(0.0), paths[1].pose(0.0))
        };
        let canonical = start(0, 0.0);
        // Spread 0: one layout whatever the seed, the first object in the top half.
        for seed in 1..20 {
            assert_eq!(start(seed, 0.0), canonical, "seed {seed}");
        }
        assert!(
            canonical.0.cy < 50.0 && canonical.1.cy > 50.0,
            "{canonical:?}"
        );
        // Spread 0.2 (of a 100 px frame): within 6 px of it; spread 1: far apart for some seed.
        let single = SceneSpec::new(
            vec![Object::new(Colour::Red, Shape::Ball, Motion::Left)],
            Background::Sky,
        );
        let pose = |seed: u64, spread: f32| {
            plan(&single, 100, 100, seed, LayoutSpread::uniform(spread))[0].pose(0.0)
        };
        let middle = pose(0, 0.0);
        let distance = |a: Pose, b: Pose| (a.cx - b.cx).abs().max((a.cy - b.cy).abs());
        let mut widest = 0f32;
        for seed in 0..40 {
            let narrow = pose(seed, 0.2);
            assert!(distance(narrow, middle) < 6.0, "seed {seed}: {narrow:?}");
            widest = widest.max(distance(pose(seed, 1.0), middle));
        }
        assert!(widest > 10.0, "full spread moves objects only {widest} px");
    }

    #[test]
    fn the_halves_can_swap_freely_while_the_paths_stay_narrow() {
        let spec = left_mover_and_still_star();
        let layout = LayoutSpread {
            paths: 0.0,
            regions: 1.0,
        };
        let starts: Vec<(Pose, Pose)> = (0..40)
            .map(|seed| {
                let paths = plan(&spec, 100, 100, seed, layout);
                (paths[0].pose(0.0), paths[1].pose(0.0))
            })
            .collect();
        // The first object is in the top half for some seeds and the bottom for others, at
        // one canonical place in each.
        let top: Vec<_> = starts.iter().filter(|(a, _)| a.cy < 50.0).collect();
        assert!(
            top.len() > 10 && top.len() < 30,
            "{} of 40 on top",
            top.len()
        );
        assert!(top.iter().all(|s| **s == *top[0]));
        let bottom: Vec<_> = starts.iter().filter(|(a, _)| a.cy > 50.0).collect();
        assert!(bottom.iter().all(|s| **s == *bottom[0]));
    }
}
