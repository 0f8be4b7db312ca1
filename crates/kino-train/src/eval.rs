//! Judging kino-mini: generate clips for prompts the model never saw in training (held-out
//! attribute combinations of the world), and score each with the world's oracle: is there an
//! object of the asked colour, does it move the asked way, is it the asked shape, and for
//! two-object prompts, are both there.
//!
//! Conventions of the judge, stated once: an object's colour counts as found when its colour
//! (by name, `Colour::classify`) shows as a patch in at least a third of the frames; motion is
//! `classify_motion` of its track, where a spinning ball may also read as still (a disc
//! looks the same at every angle); shape is `classify_shape`, whose ceiling on world-rendered
//! clips at 32x32 is about 88% (the oracle test measures it).

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use kino_pipeline::{
    GenerateRequest, ModelDefaults, NoProgress, Pipeline, PipelineError, SchedulerChoice,
};
use kino_world::{
    Motion, RenderSettings, SceneSpec, Shape, Split, classify_motion, classify_shape, measure,
};
use serde::Serialize;

/// The verdict on one object of one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectVerdict {
    /// What was asked: colour, shape and motion names.
    pub asked: (String, String, String),
    /// The colour was found (in at least a third of the frames).
    pub colour: bool,
    /// The motion the oracle saw, if the colour was found.
    pub seen_motion: Option<String>,
    /// The motion matches.
    pub motion: bool,
    /// The shape the oracle saw, if the colour was found.
    pub seen_shape: Option<String>,
    /// The shape matches.
    pub shape: bool,
}

/// Judges every object of `spec` in RGB8 `frames` of `width` x `height`.
pub fn judge(spec: &SceneSpec, frames: &[Vec<u8>], width: u32, height: u32) -> Vec<ObjectVerdict> {
    spec.objects
        .iter()
        .map(|object| {
            let track = measure(frames, width, height, object.colour);
            let found_frames = track.as_ref().map_or(0, |t| {
                t.points.iter().filter(|p| p.centroid.is_some()).count()
            });
            let colour = found_frames * 3 >= frames.len().max(1);
            let seen_motion = track
                .as_ref()
                .filter(|_| colour)
                .map(|t| classify_motion(t, width, height));
            let motion = seen_motion.is_some_and(|m| {
                m == object.motion
                    || (object.motion == Motion::Spinning
                        && object.shape == Shape::Ball
                        && m == Motion::Still)
            });
            let seen_shape = colour
                .then(|| classify_shape(frames, width, height, object.colour))
                .flatten();
            ObjectVerdict {
                asked: (
                    object.colour.name().into(),
                    object.shape.name().into(),
                    object.motion.name().into(),
                ),
                colour,
                seen_motion: seen_motion.map(|m| m.name().into()),
                motion,
                seen_shape: seen_shape.map(|s| s.name().into()),
                shape: seen_shape == Some(object.shape),
            }
        })
        .collect()
}

/// One generated clip and its verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct ClipVerdict {
    /// The prompt.
    pub prompt: String,
    /// The generation seed.
    pub seed: u64,
    /// One verdict per object.
    pub objects: Vec<ObjectVerdict>,
    /// The frames (RGB8, native size), for the worst-case sheet.
    #[serde(skip)]
    pub frames: Vec<Vec<u8>>,
}

impl ClipVerdict {
    /// How many checks failed (colour, motion, shape per object).
    pub fn failures(&self) -> usize {
        self.objects
            .iter()
            .map(|o| usize::from(!o.colour) + usize::from(!o.motion) + usize::from(!o.shape))
            .sum()
    }
}

/// Correct and total counts of one attribute.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Score {
    /// Correct.
    pub correct: usize,
    /// Judged.
    pub total: usize,
}

impl Score {
    fn add(&mut self, ok: bool) {
        self.correct += usize::from(ok);
        self.total += 1;
    }

    /// `correct / total` (0 when nothing was judged).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// The scores of an evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    /// Objects whose colour was found.
    pub colour: Score,
    /// Objects that moved as asked.
    pub motion: Score,
    /// Objects of the asked shape.
    pub shape: Score,
    /// Two-object prompts where both objects were found.
    pub count: Score,
    /// Motion accuracy per asked motion.
    pub motion_by_kind: BTreeMap<String, Score>,
    /// Of the objects whose colour was found, those that moved as asked: whether the motion
    /// is lost where the object is drawn or with the object.
    pub motion_of_found: Score,
    /// Colour and motion per prompt size ("one object", "two objects").
    pub by_prompt_size: BTreeMap<String, ColourAndMotion>,
}

/// Colour and motion scores of one group of objects.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ColourAndMotion {
    /// Objects whose colour was found.
    pub colour: Score,
    /// Objects that moved as asked.
    pub motion: Score,
}

/// The name of a prompt's size in [`Scores::by_prompt_size`].
fn prompt_size(objects: usize) -> String {
    match objects {
        1 => "one object".into(),
        2 => "two objects".into(),
        n => format!("{n} objects"),
    }
}

/// Scores the verdicts.
pub fn score(clips: &[ClipVerdict]) -> Scores {
    let mut scores = Scores::default();
    for clip in clips {
        for o in &clip.objects {
            scores.colour.add(o.colour);
            scores.motion.add(o.motion);
            scores.shape.add(o.shape);
            scores
                .motion_by_kind
                .entry(o.asked.2.clone())
                .or_default()
                .add(o.motion);
            if o.colour {
                scores.motion_of_found.add(o.motion);
            }
            let size = scores
                .by_prompt_size
                .entry(prompt_size(clip.objects.len()))
                .or_default();
            size.colour.add(o.colour);
            size.motion.add(o.motion);
        }
        if clip.objects.len() == 2 {
            scores.count.add(clip.objects.iter().all(|o| o.colour));
        }
    }
    scores
}

/// `count` held-out prompts, the same every time: freely phrased captions of scenes with at
/// least one attribute combination never shown in training.
pub fn held_out_prompts(count: usize) -> Vec<(SceneSpec, String)> {
    (0..count as u64)
        .map(|i| kino_world::sample(Split::HeldOut, 0x6576_616c ^ i)) // "eval"
        .collect()
}

/// Reads a prompt file: one caption per line, blank lines and `#` comments skipped; a caption
/// the world cannot parse is an error naming its line.
pub fn read_prompts(path: &Path) -> Result<Vec<(SceneSpec, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed =
            kino_world::parse(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push((parsed.spec, line.to_string()));
    }
    if out.is_empty() {
        return Err(format!("{}: no prompts", path.display()));
    }
    Ok(out)
}

/// What an evaluated clip starts from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Start {
    /// The prompt alone: text to video (the model's own sampling, keyframe first or one pass).
    #[default]
    Text,
    /// The world renders the prompt's scene and its first frame starts an image-to-video
    /// generation: this judges the motion pass alone, on a keyframe known to be right.
    WorldFirstFrame,
    /// The world renders the prompt's whole clip, which is noised `strength` of the way along
    /// the sampling schedule and redrawn (video to video): this judges how much of a right
    /// clip the model keeps from that noise level down, i.e. where in the schedule it loses
    /// the asked motion.
    WorldClip {
        /// The share of the schedule that is redrawn, in `[0, 1]`; 0 redraws nothing and
        /// judges the clip as the model's latent space holds it (its VAE's round trip).
        strength: f64,
    },
}

/// The seed of the world layout for evaluation seed `seed` (the same for the first frame and
/// the whole clip, so both show one scene).
fn world_seed(seed: u64) -> u64 {
    kino_world::mix64(0x6b65_7966 ^ seed) // "keyf"
}

/// The world's first frame of `spec` at the model's native size, `(H, W, 3)` in `[0, 1]`
/// (layout drawn from `seed`).
pub fn world_first_frame(
    spec: &SceneSpec,
    sampling: &ModelDefaults,
    seed: u64,
) -> Result<Tensor, PipelineError> {
    world_frames(spec, sampling, seed, 1)?
        .squeeze(0)
        .map_err(world_error("the world's first frame"))
}

/// The world's whole clip of `spec` at the model's native size and length, `(T, H, W, 3)` in
/// `[0, 1]`, in the layout [`world_first_frame`] starts from for the same `seed`.
pub fn world_clip(
    spec: &SceneSpec,
    sampling: &ModelDefaults,
    seed: u64,
) -> Result<Tensor, PipelineError> {
    world_frames(spec, sampling, seed, sampling.frames)
}

/// The first `frames` frames of the world's clip of `spec`, `(frames, H, W, 3)` in `[0, 1]`.
/// The world's motion spans the clip it renders, so a one-frame render is the first frame
/// of every longer one.
fn world_frames(
    spec: &SceneSpec,
    sampling: &ModelDefaults,
    seed: u64,
    frames: usize,
) -> Result<Tensor, PipelineError> {
    let settings = RenderSettings {
        width: sampling.width as u32,
        height: sampling.height as u32,
        fps: sampling.fps,
        frames: frames as u32,
        seed: world_seed(seed),
    };
    let stage = "the world's clip";
    let clip = kino_world::render(spec, &settings)
        .map_err(|e| world_error(stage)(candle_core::Error::Msg(e.to_string())))?;
    let values: Vec<f32> = clip
        .frames
        .iter()
        .flatten()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    Tensor::from_vec(
        values,
        (frames, sampling.height, sampling.width, 3),
        &Device::Cpu,
    )
    .map_err(world_error(stage))
}

/// Wraps a tensor error of the world's rendering as a pipeline error of `stage`.
fn world_error(stage: &'static str) -> impl Fn(candle_core::Error) -> PipelineError {
    move |source| PipelineError::Model { stage, source }
}

/// Generates each prompt with each of `seeds` seeds at the model's native size, sampled as
/// `sampling` says (usually `pipeline.defaults()`) with `scheduler`, from what `start` says,
/// and judges it; `on_clip` sees each verdict as it is made.
pub fn evaluate(
    pipeline: &Pipeline,
    sampling: &ModelDefaults,
    scheduler: SchedulerChoice,
    prompts: &[(SceneSpec, String)],
    seeds: u64,
    start: Start,
    on_clip: &mut dyn FnMut(&ClipVerdict),
) -> Result<Vec<ClipVerdict>, PipelineError> {
    let mut clips = Vec::with_capacity(prompts.len() * seeds as usize);
    for (spec, prompt) in prompts {
        for seed in 0..seeds {
            let mut request = GenerateRequest {
                seed,
                output_size: None,
                scheduler,
                ..sampling.request(prompt)
            };
            match start {
                Start::Text => {}
                Start::WorldFirstFrame => {
                    request.first_frame = Some(world_first_frame(spec, sampling, seed)?);
                }
                Start::WorldClip { strength } => {
                    request.init_video = Some(world_clip(spec, sampling, seed)?);
                    request.strength = strength;
                }
            }
            let video = match start {
                Start::WorldClip { strength: 0.0 } => {
                    pipeline.autoencode(&world_clip(spec, sampling, seed)?)?
                }
                _ => pipeline.generate(&request, &mut NoProgress)?,
            };
            let frames = video.to_rgb8()?;
            let (_, h, w) = video.dims()?;
            let objects = judge(spec, &frames, w as u32, h as u32);
            let clip = ClipVerdict {
                prompt: prompt.clone(),
                seed,
                objects,
                frames,
            };
            on_clip(&clip);
            clips.push(clip);
        }
    }
    Ok(clips)
}

/// A sheet of the worst clips: one row per clip (most failed checks first, at most `rows`),
/// eight evenly spaced frames each, scaled up `zoom` times. Row order is the order of the
/// returned labels.
pub fn worst_case_sheet(
    clips: &[ClipVerdict],
    width: u32,
    height: u32,
    rows: usize,
    zoom: u32,
) -> Option<(image::RgbImage, Vec<String>)> {
    let mut worst: Vec<&ClipVerdict> = clips.iter().filter(|c| c.failures() > 0).collect();
    worst.sort_by_key(|c| std::cmp::Reverse(c.failures()));
    worst.truncate(rows);
    if worst.is_empty() {
        return None;
    }
    let frames: Vec<&[Vec<u8>]> = worst.iter().map(|c| c.frames.as_slice()).collect();
    let labels = worst
        .iter()
        .map(|c| format!("{} (seed {})", c.prompt, c.seed))
        .collect();
    Some((
        crate::sheet::clips_sheet(&frames, width, height, zoom),
        labels,
    ))
}
