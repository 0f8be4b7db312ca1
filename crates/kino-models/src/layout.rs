//! kino-mini's scene-layout stage: a learned plan of where each object a caption names is at
//! each keyframe, given to the transformer as planes after its other conditioning channels
//! (as layout-to-video systems ground a video model in boxes planned from the text).
//!
//! Two learned parts, both trained on the world's captions and clips by `kino-train`:
//! - the [`CaptionReader`]: learned queries pool the text encoder's output into one vector per
//!   object slot (and one for the background), and a linear layer reads each slot's colour,
//!   shape and motion, each with a "no object" class;
//! - the [`PathGenerator`]: a small flow-matching network over every slot's pose at every
//!   keyframe (centre, size, turn), conditioned on what the reader read. It is sampled, not
//!   regressed: where an object starts, and which of two objects takes which half of the
//!   frame, are free choices of the world, and each sample makes one.
//!
//! [`layout_planes`] draws a plan as the transformer reads it: per keyframe and slot, a disc
//! where the object is and that disc times the cosine and sine of its turn; then the slots'
//! colour and shape probabilities painted over their discs.

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::linear::{Linear, linear};

/// Values of one pose: centre x and y (-1 to 1 across the frame), size multiplier less one,
/// and the cosine and sine of the clockwise turn.
pub const POSE_VALUES: usize = 5;
/// Planes per object slot per keyframe: its disc, and the disc times the cosine and the sine
/// of its turn.
pub const SLOT_PLANES: usize = 3;
/// Sinusoidal features of the generator's flow time.
const TIME_FEATURES: usize = 16;
/// The "layout" component's weight file.
pub const LAYOUT_WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

/// `layout/config.json`: the sizes of the layout stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneLayoutConfig {
    /// Object slots (the most objects a caption names).
    pub slots: usize,
    /// Keyframes a plan covers.
    pub keyframes: usize,
    /// Object colours (the reader adds "no object").
    pub colours: usize,
    /// Object shapes (the reader adds "no object").
    pub shapes: usize,
    /// Object motions (the reader adds "no object").
    pub motions: usize,
    /// Backgrounds.
    pub backgrounds: usize,
    /// Width of the text encoder's output.
    pub text_dim: usize,
    /// Width of the generator's hidden layers.
    pub hidden: usize,
    /// Euler steps a plan is sampled with.
    pub sample_steps: usize,
    /// An object's radius at size 1 across the frame's width and height, in the pose's units
    /// (the frame spans 2).
    pub radius: [f32; 2],
    /// The RGB each colour class is painted with, in the classes' order: how a plan's objects
    /// are found in a given first frame (empty: unknown, and a plan is not anchored to one).
    #[serde(default)]
    pub palette: Vec<[u8; 3]>,
}

impl SceneLayoutConfig {
    /// Reads and checks `path`.
    pub fn from_file(path: &std::path::Path) -> std::result::Result<Self, crate::LoadError> {
        let config: Self = crate::loading::read_json(path)?;
        for (field, value) in [
            ("slots", config.slots),
            ("keyframes", config.keyframes),
            ("sample_steps", config.sample_steps),
        ] {
            if value == 0 {
                return Err(crate::LoadError::InvalidConfig {
                    path: path.to_path_buf(),
                    field: field.into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        Ok(config)
    }

    /// Classes the reader gives one slot: colours, shapes and motions, each with "no object".
    pub fn reads(&self) -> usize {
        self.colours + self.shapes + self.motions + 3
    }

    /// Planes one keyframe gets: [`SLOT_PLANES`] per slot, then the colour and shape planes.
    pub fn planes_per_keyframe(&self) -> usize {
        self.slots * SLOT_PLANES + self.colours + self.shapes
    }

    /// Conditioning channels the plan adds to a transformer whose latent has `latent_frames`
    /// frames: every keyframe's planes folded into channels when the latent has one frame
    /// (kino-mini's folded clip latent), else one keyframe's planes at each frame.
    pub fn channels(&self, latent_frames: usize) -> usize {
        if latent_frames == 1 {
            self.planes_per_keyframe() * self.keyframes
        } else {
            self.planes_per_keyframe()
        }
    }

    /// Values of a whole plan: every slot's pose at every keyframe.
    pub fn plan_values(&self) -> usize {
        self.slots * self.keyframes * POSE_VALUES
    }

    /// Values the generator is conditioned on: every slot's read classes.
    pub fn condition_values(&self) -> usize {
        self.slots * self.reads()
    }
}

/// One clip's plan, as `kino generate --save-plan` writes it and `--plan` reads it (JSON with
/// these four fields; slot 0 is the object the caption names first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneLayout {
    /// Per slot: how surely it holds an object, in `[0, 1]`.
    pub presence: Vec<f32>,
    /// Per slot: the probability of each colour (without "no object").
    pub colours: Vec<Vec<f32>>,
    /// Per slot: the probability of each shape (without "no object").
    pub shapes: Vec<Vec<f32>>,
    /// Per slot, per keyframe: the pose ([`POSE_VALUES`]).
    pub poses: Vec<Vec<[f32; POSE_VALUES]>>,
}

impl SceneLayout {
    /// Checks that the plan has `config`'s slots, keyframes, colours and shapes, and that
    /// every value is finite; the error names the first field that does not fit.
    pub fn check(&self, config: &SceneLayoutConfig) -> std::result::Result<(), String> {
        let slots = config.slots;
        let lengths = [
            ("presence", self.presence.len()),
            ("colours", self.colours.len()),
            ("shapes", self.shapes.len()),
            ("poses", self.poses.len()),
        ];
        for (field, n) in lengths {
            if n != slots {
                return Err(format!("`{field}` has {n} slots; the model plans {slots}"));
            }
        }
        for slot in 0..slots {
            let inner = [
                ("colours", self.colours[slot].len(), config.colours),
                ("shapes", self.shapes[slot].len(), config.shapes),
                ("poses", self.poses[slot].len(), config.keyframes),
            ];
            for (field, n, want) in inner {
                if n != want {
                    return Err(format!(
                        "`{field}[{slot}]` has {n} entries; the model takes {want}"
                    ));
                }
            }
        }
        let values = self
            .presence
            .iter()
            .chain(self.colours.iter().flatten())
            .chain(self.shapes.iter().flatten())
            .chain(self.poses.iter().flatten().flatten());
        if values.clone().any(|v| !v.is_finite()) {
            return Err("a value is not a finite number".into());
        }
        Ok(())
    }
}

/// Reads a caption's objects out of the text encoder's output.
#[derive(Debug, Clone)]
pub struct CaptionReader {
    /// `(slots + 1, text_dim)`: one pooling query per object slot, then the background's.
    queries: Tensor,
    /// Pooled object slot to colour, shape and motion logits (each with "no object").
    objects: Linear,
    /// Pooled background slot to background logits.
    background: Linear,
}

impl CaptionReader {
    /// The reader's variables under `vb` (`queries`, `objects.*`, `background.*`).
    pub fn new(config: &SceneLayoutConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            queries: vb.get((config.slots + 1, config.text_dim), "queries")?,
            objects: linear(config.text_dim, config.reads(), vb.pp("objects"))?,
            background: linear(config.text_dim, config.backgrounds, vb.pp("background"))?,
        })
    }

    /// The pooled slots `(B, slots + 1, text_dim)` of encoder output `text` `(B, L, text_dim)`
    /// with token mask `mask` `(B, L)` (1 on real tokens): softmax attention of each query
    /// over the real tokens.
    pub fn pool(&self, text: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, _, dim) = text.dims3()?;
        let slots = self.queries.dim(0)?;
        let queries = self.queries.unsqueeze(0)?.broadcast_as((b, slots, dim))?;
        let scores = (queries
            .contiguous()?
            .matmul(&text.transpose(1, 2)?.contiguous()?)?
            / (dim as f64).sqrt())?;
        // Padding gets a score far below any real token's.
        let padding = ((mask.to_dtype(DType::F32)?.unsqueeze(1)? - 1.0)? * 1e9)?;
        let scores = scores.broadcast_add(&padding.to_dtype(scores.dtype())?)?;
        let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
        weights.matmul(&text.contiguous()?)
    }

    /// Each object slot's logits `(B, slots, reads)` from pooled slots (see [`Self::pool`]).
    pub fn object_logits(&self, pooled: &Tensor) -> Result<Tensor> {
        let slots = self.queries.dim(0)? - 1;
        self.objects.forward(&pooled.narrow(1, 0, slots)?)
    }

    /// The background logits `(B, backgrounds)` from pooled slots.
    pub fn background_logits(&self, pooled: &Tensor) -> Result<Tensor> {
        let slots = self.queries.dim(0)? - 1;
        self.background
            .forward(&pooled.narrow(1, slots, 1)?.squeeze(1)?)
    }
}

/// The flow-matching network that samples a plan.
#[derive(Debug, Clone)]
pub struct PathGenerator {
    layers: Vec<Linear>,
    steps: usize,
}

/// `(B,)` flow times to `(B, TIME_FEATURES)` sinusoidal features.
fn time_features(t: &Tensor) -> Result<Tensor> {
    let half = TIME_FEATURES / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (std::f32::consts::PI * 2f32.powi(i as i32)).min(1e4))
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?.to_dtype(t.dtype())?;
    let angles = t.unsqueeze(1)?.broadcast_mul(&freqs)?;
    Tensor::cat(&[angles.sin()?, angles.cos()?], 1)
}

impl PathGenerator {
    /// The generator's variables under `vb` (`layers.{0..3}.*`).
    pub fn new(config: &SceneLayoutConfig, vb: VarBuilder) -> Result<Self> {
        let inputs = config.plan_values() + TIME_FEATURES + config.condition_values();
        let sizes = [
            (inputs, config.hidden),
            (config.hidden, config.hidden),
            (config.hidden, config.hidden),
            (config.hidden, config.plan_values()),
        ];
        let layers = sizes
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| linear(a, b, vb.pp("layers").pp(i.to_string())))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            steps: config.sample_steps,
        })
    }

    /// The velocity `noise - plan` the network predicts at `x` `(B, plan_values)`, flow times
    /// `t` `(B,)` in `[0, 1]` (1 is pure noise) and condition `(B, condition_values)`.
    pub fn velocity(&self, x: &Tensor, t: &Tensor, condition: &Tensor) -> Result<Tensor> {
        let mut h = Tensor::cat(&[x, &time_features(t)?, condition], 1)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = candle_nn::ops::silu(&h)?;
            }
        }
        Ok(h)
    }

    /// Plans `(B, plan_values)` sampled from `noise` (same shape, unit Gaussian) by Euler
    /// steps from flow time 1 to 0, for `condition` `(B, condition_values)`.
    pub fn sample(&self, condition: &Tensor, noise: &Tensor) -> Result<Tensor> {
        let b = noise.dim(0)?;
        let mut x = noise.clone();
        let dt = 1.0 / self.steps as f64;
        for i in 0..self.steps {
            let t = 1.0 - i as f64 * dt;
            let times = Tensor::full(t as f32, b, noise.device())?.to_dtype(noise.dtype())?;
            let v = self.velocity(&x, &times, condition)?;
            x = (x - (v * dt)?)?;
        }
        Ok(x)
    }
}

/// The layout stage: reader and generator.
#[derive(Debug, Clone)]
pub struct SceneLayoutModel {
    /// Its sizes.
    pub config: SceneLayoutConfig,
    /// Reads the caption.
    pub reader: CaptionReader,
    /// Samples the paths.
    pub generator: PathGenerator,
}

impl SceneLayoutModel {
    /// The stage's variables under `vb` (`reader.*`, `generator.*`).
    pub fn new(config: &SceneLayoutConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            config: config.clone(),
            reader: CaptionReader::new(config, vb.pp("reader"))?,
            generator: PathGenerator::new(config, vb.pp("generator"))?,
        })
    }

    /// The generator's condition `(B, condition_values)` from object logits `(B, slots,
    /// reads)`: each attribute's softmax, slot after slot.
    pub fn condition(&self, logits: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let mut parts = Vec::with_capacity(3);
        let mut start = 0;
        for classes in [c.colours + 1, c.shapes + 1, c.motions + 1] {
            let part = logits.narrow(D::Minus1, start, classes)?;
            parts.push(candle_nn::ops::softmax(&part, D::Minus1)?);
            start += classes;
        }
        Tensor::cat(&parts, D::Minus1)?.flatten_from(1)
    }

    /// Plans for encoder output `text` `(B, L, text_dim)` with token mask `(B, L)`, sampled
    /// from `noise` `(B, plan_values)`.
    pub fn plan(&self, text: &Tensor, mask: &Tensor, noise: &Tensor) -> Result<Vec<SceneLayout>> {
        let text = text.to_dtype(DType::F32)?;
        let pooled = self.reader.pool(&text, mask)?;
        let condition = self.condition(&self.reader.object_logits(&pooled)?)?;
        let plans = self
            .generator
            .sample(&condition, &noise.to_dtype(DType::F32)?)?;
        let reads = condition.to_vec2::<f32>()?;
        let plans = plans.to_vec2::<f32>()?;
        let c = &self.config;
        Ok(reads
            .iter()
            .zip(&plans)
            .map(|(read, plan)| layout_from_values(c, read, plan))
            .collect())
    }
}

/// A [`SceneLayout`] from one clip's condition row (every slot's class probabilities) and
/// plan row (every slot's poses).
pub fn layout_from_values(c: &SceneLayoutConfig, read: &[f32], plan: &[f32]) -> SceneLayout {
    let mut layout = SceneLayout {
        presence: Vec::with_capacity(c.slots),
        colours: Vec::with_capacity(c.slots),
        shapes: Vec::with_capacity(c.slots),
        poses: Vec::with_capacity(c.slots),
    };
    for slot in 0..c.slots {
        let r = &read[slot * c.reads()..(slot + 1) * c.reads()];
        let colours = &r[..=c.colours];
        let shapes = &r[c.colours + 1..c.colours + 1 + c.shapes];
        layout.presence.push(1.0 - colours[c.colours]);
        layout.colours.push(colours[..c.colours].to_vec());
        layout.shapes.push(shapes.to_vec());
        let poses = (0..c.keyframes)
            .map(|k| {
                let at = (slot * c.keyframes + k) * POSE_VALUES;
                std::array::from_fn(|v| plan[at + v])
            })
            .collect();
        layout.poses.push(poses);
    }
    layout
}

/// The planes `(B, channels, T, H, W)` of `layouts` for a latent of `latent_frames` frames of
/// `height x width` cells ([`SceneLayoutConfig::channels`]): per keyframe, every slot's disc
/// and turn planes, then the colour and shape planes; keyframe after keyframe in the channels
/// when the latent has one frame.
pub fn layout_planes(
    c: &SceneLayoutConfig,
    layouts: &[SceneLayout],
    latent_frames: usize,
    height: usize,
    width: usize,
    device: &Device,
) -> Result<Tensor> {
    if latent_frames != 1 && latent_frames != c.keyframes {
        candle_core::bail!(
            "layout planes: a latent of {latent_frames} frames for a plan of {} keyframes",
            c.keyframes
        );
    }
    let per_key = c.planes_per_keyframe();
    let cells = height * width;
    let mut values = vec![0f32; layouts.len() * c.keyframes * per_key * cells];
    for (b, layout) in layouts.iter().enumerate() {
        for k in 0..c.keyframes {
            let base = (b * c.keyframes + k) * per_key * cells;
            for slot in 0..c.slots.min(layout.poses.len()) {
                let [cx, cy, size, cos, sin] = layout.poses[slot][k];
                let presence = layout.presence[slot].clamp(0.0, 1.0);
                let scale = (1.0 + size).max(0.05);
                let (rx, ry) = (c.radius[0] * scale, c.radius[1] * scale);
                // The disc's edge ramps over one cell.
                let edge = rx * width as f32 / 2.0;
                for i in 0..height {
                    let v = (i as f32 + 0.5) / height as f32 * 2.0 - 1.0;
                    for j in 0..width {
                        let u = (j as f32 + 0.5) / width as f32 * 2.0 - 1.0;
                        let d = (((u - cx) / rx).powi(2) + ((v - cy) / ry).powi(2)).sqrt();
                        let disc = (((1.0 - d) * edge + 0.5).clamp(0.0, 1.0)) * presence;
                        if disc == 0.0 {
                            continue;
                        }
                        let cell = i * width + j;
                        let plane = |p: usize| base + p * cells + cell;
                        values[plane(slot * SLOT_PLANES)] += disc;
                        values[plane(slot * SLOT_PLANES + 1)] += disc * cos;
                        values[plane(slot * SLOT_PLANES + 2)] += disc * sin;
                        let attributes = layout.colours[slot].iter().chain(&layout.shapes[slot]);
                        for (a, &p) in attributes.enumerate() {
                            values[plane(c.slots * SLOT_PLANES + a)] += disc * p;
                        }
                    }
                }
            }
        }
    }
    let planes = Tensor::from_vec(
        values,
        (layouts.len(), c.keyframes, per_key, height, width),
        device,
    )?;
    if latent_frames == 1 {
        planes
            .reshape((layouts.len(), c.keyframes * per_key, 1, height, width))?
            .contiguous()
    } else {
        planes.permute((0, 2, 1, 3, 4))?.contiguous()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use candle_nn::VarMap;

    fn config() -> SceneLayoutConfig {
        SceneLayoutConfig {
            slots: 2,
            keyframes: 3,
            colours: 2,
            shapes: 1,
            motions: 2,
            backgrounds: 2,
            text_dim: 4,
            hidden: 8,
            sample_steps: 4,
            radius: [0.25, 0.25],
            palette: Vec::new(),
        }
    }

    fn one_object(cx: f32) -> SceneLayout {
        let pose = |x: f32| [x, 0.0, 0.0, 1.0, 0.0];
        SceneLayout {
            presence: vec![1.0, 0.0],
            colours: vec![vec![0.0, 1.0], vec![1.0, 0.0]],
            shapes: vec![vec![1.0], vec![1.0]],
            poses: vec![
                vec![pose(-cx), pose(0.0), pose(cx)],
                vec![pose(0.0), pose(0.0), pose(0.0)],
            ],
        }
    }

    #[test]
    fn planes_put_each_keyframes_disc_where_its_pose_says() -> Result<()> {
        let c = config();
        let planes = layout_planes(&c, &[one_object(0.5)], 1, 8, 8, &Device::Cpu)?;
        let per_key = c.planes_per_keyframe();
        assert_eq!(planes.dims(), &[1, per_key * 3, 1, 8, 8]);
        // Keyframe 0's disc sits left of centre, keyframe 2's right of it.
        let column_mass = |k: usize| -> Vec<f32> {
            let disc = planes
                .get(0)
                .unwrap()
                .get(k * per_key)
                .unwrap()
                .squeeze(0)
                .unwrap();
            disc.sum(0).unwrap().to_vec1::<f32>().unwrap()
        };
        let centre = |m: Vec<f32>| {
            let total: f32 = m.iter().sum();
            m.iter().enumerate().map(|(i, v)| i as f32 * v).sum::<f32>() / total
        };
        let (left, right) = (centre(column_mass(0)), centre(column_mass(2)));
        assert!(
            (left - 1.5).abs() < 0.3,
            "left disc centred at column {left}"
        );
        assert!(
            (right - 5.5).abs() < 0.3,
            "right disc centred at column {right}"
        );
        // The absent second slot draws nothing; the colour plane of the present slot's colour
        // equals its disc, the other colour plane is empty.
        let key0 = planes.get(0)?.narrow(0, 0, per_key)?;
        let sum = |p: usize| {
            key0.get(p)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(sum(SLOT_PLANES), 0.0);
        assert_eq!(sum(2 * SLOT_PLANES), 0.0);
        assert!((sum(2 * SLOT_PLANES + 1) - sum(0)).abs() < 1e-4);
        // Unturned: the cosine plane is the disc, the sine plane empty.
        assert!((sum(1) - sum(0)).abs() < 1e-4 && sum(2) == 0.0);
        // A latent with a frame per keyframe gets the same planes, keyframe by frame.
        let framed = layout_planes(&c, &[one_object(0.5)], 3, 8, 8, &Device::Cpu)?;
        assert_eq!(framed.dims(), &[1, per_key, 3, 8, 8]);
        let a = framed
            .get(0)?
            .narrow(1, 2, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let b = planes
            .get(0)?
            .narrow(0, 2 * per_key, per_key)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(a, b);
        assert!(layout_planes(&c, &[one_object(0.5)], 2, 8, 8, &Device::Cpu).is_err());
        Ok(())
    }

    #[test]
    fn a_plan_is_deterministic_for_its_noise_and_reads_the_slots() -> Result<()> {
        let c = config();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = SceneLayoutModel::new(&c, vb)?;
        let text = Tensor::randn(0f32, 1.0, (2, 5, c.text_dim), &Device::Cpu)?;
        let mask = Tensor::new(
            &[[1f32, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]],
            &Device::Cpu,
        )?;
        let noise = Tensor::randn(0f32, 1.0, (2, c.plan_values()), &Device::Cpu)?;
        let a = model.plan(&text, &mask, &noise)?;
        let b = model.plan(&text, &mask, &noise)?;
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        for layout in &a {
            assert_eq!(layout.poses.len(), 2);
            assert_eq!(layout.poses[0].len(), 3);
            assert_eq!(layout.colours[0].len(), 2);
            let total: f32 = layout.colours[0].iter().sum::<f32>() + 1.0 - layout.presence[0];
            assert!(
                (total - 1.0).abs() < 1e-5,
                "colour probabilities sum to {total}"
            );
        }
        // Padding is not read: changing it leaves the plan alone.
        let padded = text.slice_assign(
            &[0..1, 3..5, 0..c.text_dim],
            &Tensor::ones((1, 2, c.text_dim), DType::F32, &Device::Cpu)?,
        )?;
        assert_eq!(model.plan(&padded, &mask, &noise)?[0], a[0]);
        Ok(())
    }
}
