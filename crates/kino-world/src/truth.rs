//! Ground truth: what a rendered clip contains, object by object and frame by frame.
//!
//! Everything derives `Serialize`/`Deserialize`; write it as JSON with `serde_json` (the CLI
//! writes `out.truth.json`). Coordinates are pixels, x right and y down, with the image's
//! top-left corner at (0, 0) and pixel `(i, j)` covering `[i, i+1) x [j, j+1)`.

use crate::scene::{Object, SceneSpec};
use serde::{Deserialize, Serialize};

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Rightwards, pixels.
    pub x: f32,
    /// Downwards, pixels.
    pub y: f32,
}

/// An axis-aligned box in pixels (`x0 <= x1`, `y0 <= y1`), not clipped to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

impl BBox {
    /// Whether the box lies inside a `width` x `height` frame.
    pub fn inside(&self, width: u32, height: u32) -> bool {
        self.x0 >= 0.0 && self.y0 >= 0.0 && self.x1 <= width as f32 && self.y1 <= height as f32
    }
}

/// One object in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectFrame {
    /// The shape's geometric centre (its centroid; occlusion does not move it).
    pub centroid: Point,
    /// Exact bounds of the whole shape, outline included.
    pub bbox: BBox,
    /// Size multiplier (1 = the base size, about 24% of the smaller frame side across).
    pub scale: f32,
    /// Clockwise rotation in radians.
    pub rotation: f32,
    /// Visible pixel count: the sum of the object's antialiased coverage over the frame, less
    /// what later objects cover.
    pub coverage: f32,
}

/// One object over the whole clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectTruth {
    /// What the object is.
    pub object: Object,
    /// Its state in every frame, in frame order.
    pub frames: Vec<ObjectFrame>,
}

/// Everything known about a rendered clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The scene rendered.
    pub spec: SceneSpec,
    /// Its canonical caption.
    pub caption: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Number of frames.
    pub frame_count: u32,
    /// The seed that placed the objects and textured the background.
    pub seed: u64,
    /// Per object, in the spec's order.
    pub objects: Vec<ObjectTruth>,
}
