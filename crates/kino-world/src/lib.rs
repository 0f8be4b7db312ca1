//! Kino's procedural world: renders short clips of simple scenes ("a red ball moving left and
//! a blue square moving up on green grass") from a small caption grammar, at any size, frame
//! rate and length, deterministically from a seed, together with exact ground truth.
//!
//! It is for: what `kino world render` shows; the on-the-fly training data of `kino-mini`
//! (a 32x32x8 clip costs microseconds); and the oracle that judges generated clips
//! ([`measure`], [`classify_motion`]). It is not a general renderer or a scene-graph engine:
//! the vocabulary is fixed (8 colours, 4 shapes, 9 motions, 7 backgrounds, 1-2 objects) and
//! it does no file I/O (the CLI encodes frames and writes the truth JSON).
//!
//! ```
//! let parsed = kino_world::parse("A red ball moves to the left across the green grass.")?;
//! let clip = kino_world::render(&parsed.spec, &kino_world::RenderSettings::default())?;
//! assert_eq!(clip.frames.len(), 24);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod background;
mod caption;
mod judge;
mod motion;
mod render;
mod rng;
mod sample;
mod scene;
mod shape;
mod truth;
mod words;

pub use caption::{ParseError, Parsed, parse};
pub use judge::{Track, TrackPoint, classify_motion, classify_shape, measure, shape_measures};
pub use motion::{BASE_RADIUS, LayoutSpread, Pose, SPIN_TURNS};
pub use render::{Clip, MAX_SIDE, RenderError, RenderSettings, Renderer, render, scene_poses};
pub use rng::{Rng, mix64};
pub use sample::{
    ONE_OBJECT_SHARE, Split, is_held_out, is_held_out_combination, phrase, sample, sample_from,
    sample_from_with, sample_scene, sample_scene_with,
};
pub use scene::{
    Background, Colour, DEFAULT_BACKGROUND, MAX_OBJECTS, Motion, Object, SceneSpec, Shape,
};
pub use truth::{BBox, GroundTruth, ObjectFrame, ObjectTruth, Point};
pub use words::vocabulary;
