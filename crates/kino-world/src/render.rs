//! The rasteriser: a [`SceneSpec`] and [`RenderSettings`] become a [`Clip`] of RGB8 frames
//! with its [`GroundTruth`].
//!
//! Each frame is one flat buffer: the backdrop is painted (copied, for static ones), then each
//! object is drawn over its bounding box only, with coverage from its signed distance (a
//! one-pixel antialiasing ramp, clean at any size). Every object has a thin outline that
//! contrasts with the background (dark grey on light backgrounds, light grey on the night sky
//! and black), so a black ball on a night sky or a white one on white stays visible. A
//! spinning ball shows its turn with an off-centre dot in the outline colour.

use crate::background::Backdrop;
use crate::motion::{self, LayoutSpread, Pose};
use crate::scene::{MAX_OBJECTS, Motion, SceneSpec, Shape};
use crate::shape::Placed;
use crate::truth::{GroundTruth, ObjectFrame, ObjectTruth, Point};

/// The largest width or height accepted.
pub const MAX_SIDE: u32 = 8192;

/// Outline colour on light backgrounds.
const DARK_OUTLINE: [f32; 3] = [40.0, 40.0, 40.0];
/// Outline colour on dark backgrounds (below white's value threshold, so never "white").
const LIGHT_OUTLINE: [f32; 3] = [200.0, 200.0, 200.0];

/// How to render: frame size, frame rate, length and seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Frame width in pixels, `1..=8192`.
    pub width: u32,
    /// Frame height in pixels, `1..=8192`.
    pub height: u32,
    /// Frames per second, finite and positive. Only time-based textures (sea waves) depend on
    /// it: object paths span the clip whatever its frame rate.
    pub fps: f64,
    /// Number of frames, at least 1.
    pub frames: u32,
    /// Places the objects and textures the background.
    pub seed: u64,
}

impl Default for RenderSettings {
    /// 256x256, 12 fps, 24 frames (2 seconds), seed 0.
    fn default() -> Self {
        Self {
            width: 256,
            height: 256,
            fps: 12.0,
            frames: 24,
            seed: 0,
        }
    }
}

/// Why a clip cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// Width outside `1..=8192`.
    #[error("invalid width {0}: must be 1 to 8192 pixels")]
    Width(u32),
    /// Height outside `1..=8192`.
    #[error("invalid height {0}: must be 1 to 8192 pixels")]
    Height(u32),
    /// Zero frames.
    #[error("invalid frames {0}: a clip needs at least 1 frame")]
    Frames(u32),
    /// Non-finite or non-positive frame rate.
    #[error("invalid fps {0}: must be a finite number above 0")]
    Fps(f64),
    /// A scene with no objects or more than two.
    #[error("invalid scene: {0} objects, a scene holds 1 or 2")]
    ObjectCount(usize),
}

impl RenderSettings {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), RenderError> {
        if !(1..=MAX_SIDE).contains(&self.width) {
            return Err(RenderError::Width(self.width));
        }
        if !(1..=MAX_SIDE).contains(&self.height) {
            return Err(RenderError::Height(self.height));
        }
        if self.frames == 0 {
            return Err(RenderError::Frames(self.frames));
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(RenderError::Fps(self.fps));
        }
        Ok(())
    }
}

/// A rendered clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// RGB8 frames, row-major, `width * height * 3` bytes each.
    pub frames: Vec<Vec<u8>>,
    /// What the clip shows, per object and frame.
    pub truth: GroundTruth,
}

/// Renders a scene. The same spec and settings always give byte-identical frames.
pub fn render(spec: &SceneSpec, settings: &RenderSettings) -> Result<Clip, RenderError> {
    let renderer = Renderer::new(spec, settings)?;
    let mut frames = Vec::with_capacity(settings.frames as usize);
    let mut truth = renderer.empty_truth();
    for i in 0..settings.frames {
        let (buf, poses) = renderer.frame(i);
        frames.push(buf);
        for (track, pose) in truth.objects.iter_mut().zip(poses) {
            track.frames.push(pose);
        }
    }
    Ok(Clip {
        width: settings.width,
        height: settings.height,
        fps: settings.fps,
        frames,
        truth,
    })
}

/// Where each of `spec`'s objects is at each frame of `frames`, as a [`Renderer`] with the
/// same settings, layout and turns would place it (per frame, in the spec's order), without
/// texturing a backdrop or painting a pixel.
pub fn scene_poses(
    spec: &SceneSpec,
    settings: &RenderSettings,
    layout: LayoutSpread,
    spin_turns: f32,
    frames: std::ops::Range<u32>,
) -> Result<Vec<Vec<Pose>>, RenderError> {
    check_scene(spec, settings)?;
    let paths: Vec<motion::Trajectory> =
        motion::plan(spec, settings.width, settings.height, settings.seed, layout)
            .into_iter()
            .map(|p| p.with_spin_turns(spin_turns))
            .collect();
    Ok(frames
        .map(|i| poses_at(&paths, i, settings.frames))
        .collect())
}

/// Checks that `settings` can render and `spec` has one to [`MAX_OBJECTS`] objects.
fn check_scene(spec: &SceneSpec, settings: &RenderSettings) -> Result<(), RenderError> {
    settings.validate()?;
    if spec.objects.is_empty() || spec.objects.len() > MAX_OBJECTS {
        return Err(RenderError::ObjectCount(spec.objects.len()));
    }
    Ok(())
}

/// Every path's pose at frame `i` of a `frames`-frame clip.
fn poses_at(paths: &[motion::Trajectory], i: u32, frames: u32) -> Vec<Pose> {
    let u = motion::clip_time(i, frames);
    paths.iter().map(|p| p.pose(u)).collect()
}

/// Renders a scene one frame at a time, so long clips stream to a file without being held
/// in memory. [`render`] is this in a loop.
pub struct Renderer {
    spec: SceneSpec,
    settings: RenderSettings,
    backdrop: Backdrop,
    paths: Vec<motion::Trajectory>,
    r0: f32,
    style: Style,
}

impl Renderer {
    /// Validates the settings and lays out the scene with the full variety of layouts.
    pub fn new(spec: &SceneSpec, settings: &RenderSettings) -> Result<Self, RenderError> {
        Self::with_layout_spread(spec, settings, 1.0)
    }

    /// Like [`Renderer::new`], with the seed's layout choices (start positions, bounce
    /// height, which object gets which half) narrowed about their middle by `spread`: 1 is
    /// the full variety, 0 the scene's one canonical layout. Textures still vary with the seed.
    pub fn with_layout_spread(
        spec: &SceneSpec,
        settings: &RenderSettings,
        spread: f32,
    ) -> Result<Self, RenderError> {
        Self::with_layout(spec, settings, LayoutSpread::uniform(spread))
    }

    /// Like [`Renderer::with_layout_spread`], with the paths' spread and the halves' apart.
    pub fn with_layout(
        spec: &SceneSpec,
        settings: &RenderSettings,
        layout: LayoutSpread,
    ) -> Result<Self, RenderError> {
        check_scene(spec, settings)?;
        let (w, h) = (settings.width, settings.height);
        let r0 = motion::base_radius(w, h);
        Ok(Self {
            spec: spec.clone(),
            settings: *settings,
            backdrop: Backdrop::new(spec.background, w, h, settings.seed),
            paths: motion::plan(spec, w, h, settings.seed, layout),
            r0,
            style: Style {
                outline: if spec.background.is_dark() {
                    LIGHT_OUTLINE
                } else {
                    DARK_OUTLINE
                },
                outline_width: (0.07 * r0).max(0.8),
            },
        })
    }

    /// The same renderer with spinning objects turning `turns` (clockwise) over the clip
    /// instead of [`crate::SPIN_TURNS`]. Everything else, the layout included, is unchanged.
    pub fn with_spin_turns(mut self, turns: f32) -> Self {
        for path in &mut self.paths {
            *path = path.with_spin_turns(turns);
        }
        self
    }

    /// Ground truth with each object's per-frame list still empty (filled by the caller
    /// from [`Renderer::frame`]'s second result).
    pub fn empty_truth(&self) -> GroundTruth {
        let s = &self.settings;
        GroundTruth {
            spec: self.spec.clone(),
            caption: self.spec.caption(),
            width: s.width,
            height: s.height,
            fps: s.fps,
            frame_count: s.frames,
            seed: s.seed,
            objects: self
                .spec
                .objects
                .iter()
                .map(|&object| ObjectTruth {
                    object,
                    frames: Vec::with_capacity(s.frames as usize),
                })
                .collect(),
        }
    }

    /// Where each object is at frame `i`, in the spec's order, without painting the frame:
    /// the poses [`Renderer::frame`] draws (centre, size and turn).
    pub fn poses(&self, i: u32) -> Vec<Pose> {
        poses_at(&self.paths, i, self.settings.frames)
    }

    /// Frame `i` (RGB8, row-major) and where each object is in it, in the spec's order.
    pub fn frame(&self, i: u32) -> (Vec<u8>, Vec<ObjectFrame>) {
        let (w, h) = (self.settings.width, self.settings.height);
        let r0 = self.r0;
        let mut buf = vec![0u8; w as usize * h as usize * 3];
        let t = f64::from(i) / self.settings.fps;
        self.backdrop.paint(t as f32, &mut buf);
        let poses = self.poses(i);
        let placed: Vec<Placed> = self
            .spec
            .objects
            .iter()
            .zip(&poses)
            .map(|(o, p)| Placed::new(o.shape, p.cx, p.cy, r0 * p.scale, p.angle))
            .collect();
        let mut truth = Vec::with_capacity(placed.len());
        for (k, (object, pose)) in self.spec.objects.iter().zip(&poses).enumerate() {
            let marker =
                (object.shape == Shape::Ball && object.motion == Motion::Spinning).then(|| {
                    let r = r0 * pose.scale;
                    Placed::new(
                        Shape::Ball,
                        pose.cx + 0.5 * r * pose.angle.sin(),
                        pose.cy - 0.5 * r * pose.angle.cos(),
                        0.3 * r,
                        0.0,
                    )
                });
            let fill = object.colour.rgb().map(f32::from);
            let coverage = draw(
                &mut buf,
                w,
                h,
                &placed[k],
                fill,
                marker.as_ref(),
                &placed[k + 1..],
                &self.style,
            );
            truth.push(ObjectFrame {
                centroid: Point {
                    x: pose.cx,
                    y: pose.cy,
                },
                bbox: placed[k].bbox,
                scale: pose.scale,
                rotation: pose.angle,
                coverage,
            });
        }
        (buf, truth)
    }
}

/// Per-clip drawing constants.
struct Style {
    outline: [f32; 3],
    outline_width: f32,
}

/// Draws one object over its bounding box and returns its visible coverage (pixels), that is
/// its own coverage less what the `occluders` (drawn later) will cover.
#[allow(clippy::too_many_arguments)]
fn draw(
    buf: &mut [u8],
    width: u32,
    height: u32,
    shape: &Placed,
    fill: [f32; 3],
    marker: Option<&Placed>,
    occluders: &[Placed],
    style: &Style,
) -> f32 {
    let b = shape.bbox;
    // Pixels whose centre is within the one-pixel ramp of the bounds.
    let x0 = (b.x0 - 1.0).floor().max(0.0) as u32;
    let y0 = (b.y0 - 1.0).floor().max(0.0) as u32;
    let x1 = ((b.x1 + 1.0).ceil().max(0.0) as u32).min(width);
    let y1 = ((b.y1 + 1.0).ceil().max(0.0) as u32).min(height);
    // Pixel centres within `solid` of the centre are fully filled and those beyond `empty`
    // are untouched (the distance is 1-Lipschitz): only the ring between needs the distance.
    let (cx, cy) = shape.centre();
    let solid = shape.inner - style.outline_width - 0.5;
    let solid_sq = if solid > 0.0 { solid * solid } else { -1.0 };
    let empty_sq = (shape.outer + 0.5).powi(2);
    let mut visible = 0.0;
    for y in y0..y1 {
        let py = y as f32 + 0.5;
        let row = (y as usize * width as usize) * 3;
        for x in x0..x1 {
            let px = x as f32 + 0.5;
            let r2 = (px - cx).powi(2) + (py - cy).powi(2);
            if r2 >= empty_sq {
                continue;
            }
            let (a, af) = if r2 < solid_sq {
                (1.0, 1.0)
            } else {
                let d = shape.sdf(px, py);
                (
                    (0.5 - d).clamp(0.0, 1.0),
                    (0.5 - d - style.outline_width).clamp(0.0, 1.0),
                )
            };
            if a <= 0.0 {
                continue;
            }
            let am = marker.map_or(0.0, |m| {
                if m.near(px, py) {
                    m.coverage(px, py).min(af)
                } else {
                    0.0
                }
            });
            let i = row + x as usize * 3;
            for c in 0..3 {
                let bg = f32::from(buf[i + c]);
                let v = bg * (1.0 - a) + style.outline[c] * (a - af + am) + fill[c] * (af - am);
                // `as` saturates; adding 0.5 rounds without a libm call.
                buf[i + c] = (v + 0.5) as u8;
            }
            let mut seen = a;
            for o in occluders {
                if o.near(px, py) {
                    seen *= 1.0 - o.coverage(px, py);
                }
            }
            visible += seen;
        }
    }
    visible
}
