//! What to generate: one struct with the reference's defaults, checked once before any work.

use candle_core::Tensor;

use crate::error::{PipelineError, Result};

/// Which sampler runs the denoising loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerChoice {
    /// The model's own `scheduler/scheduler_config.json` (UniPC for Wan 2.1).
    #[default]
    Model,
    /// Flow-matching UniPC multistep with the model's config, or Wan 2.1's when the model's
    /// scheduler is another kind.
    UniPc,
    /// Flow-matching Euler with the model's training timesteps and shift.
    Euler,
    /// Flow-matching Euler with diffusers' `stochastic_sampling`: each step's clean estimate
    /// is re-noised to the next noise level with fresh noise drawn from the request's seed.
    EulerStochastic,
}

/// One text-to-video request. `Default` holds `WanPipeline.__call__`'s defaults (diffusers
/// 0.42.1, pipeline_wan.py): 480x832, 81 frames, 50 steps, guidance 5.0, an empty negative
/// prompt, 512 prompt tokens.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// What the video should show.
    pub prompt: String,
    /// What it should not show; used only when guidance is on (`guidance > 1`).
    pub negative_prompt: String,
    /// Frame height in pixels: a multiple of 16 (VAE factor 8 times patch 2 for Wan 2.1).
    pub height: usize,
    /// Frame width in pixels: a multiple of 16.
    pub width: usize,
    /// Number of frames: `4k + 1` (the VAE's temporal factor 4 for Wan 2.1).
    pub frames: usize,
    /// Denoising steps (at least 1).
    pub steps: usize,
    /// Classifier-free guidance scale; `<= 1` skips the negative pass.
    pub guidance: f64,
    /// Guidance rescale `phi` in `[0, 1]` ([`kino_sampling::rescale_guided`]): the guided
    /// prediction keeps the conditional one's spread; 0 (the reference's) is plain guidance.
    pub guidance_rescale: f64,
    /// Guide only the steps whose noise level is in this interval
    /// ([`kino_sampling::GuidanceInterval`]); the others skip the negative pass. `None` (the
    /// reference's) guides every step.
    pub guidance_interval: Option<kino_sampling::GuidanceInterval>,
    /// The scheduler's shift; `None` keeps the model's (`flow_shift` 3.0 for Wan 2.1 at 480p).
    pub flow_shift: Option<f64>,
    /// Seed for the initial noise (Kino's own generator; see `noise` to reproduce another run).
    pub seed: u64,
    /// Prompt length in tokens; longer prompts are truncated with a warning.
    pub max_sequence_length: usize,
    /// The sampler.
    pub scheduler: SchedulerChoice,
    /// The initial noise `(1, z_dim, T', H/8, W/8)`, replacing the seeded noise: with the
    /// same noise, the same request gives the reference's video.
    pub noise: Option<Tensor>,
    /// Image-to-video: the clip's first frame `(height, width, 3)` f32 in `[0, 1]`, for models
    /// trained with a first-frame condition (kino-mini); the clip continues from it.
    pub first_frame: Option<Tensor>,
    /// Resize the frames to `(height, width)` after decoding (bilinear); `None` keeps the
    /// model's size.
    pub output_size: Option<(usize, usize)>,
    /// Text-to-video in two passes, for models trained with a first-frame condition (Emu
    /// Video's factorisation, Girdhar et al. 2023): a text-only pass fixes the scene, and its
    /// first frame starts an image-to-video pass that makes the motion. Ignored when
    /// `first_frame` or `init_video` is given or the model takes none.
    pub keyframe_first: bool,
    /// Video-to-video (diffusers' `WanVideoToVideoPipeline`): a clip `(frames, height, width,
    /// 3)` f32 in `[0, 1]` that is encoded, noised to the sigma `strength` of the way along
    /// the schedule, and denoised from there, so the result keeps its layout and motion and
    /// the prompt restyles it.
    pub init_video: Option<Tensor>,
    /// How much of `init_video` is redrawn, in `(0, 1]`: the last `floor(steps * strength)`
    /// steps of the schedule are run (1 is plain text-to-video from noise). Unused without
    /// `init_video`.
    pub strength: f64,
    /// For a model with a layout stage (kino-mini): follow this plan of where each object is
    /// at each keyframe instead of sampling one from the prompt.
    pub plan: Option<kino_models::layout::SceneLayout>,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            height: 480,
            width: 832,
            frames: 81,
            steps: 50,
            guidance: 5.0,
            guidance_rescale: 0.0,
            guidance_interval: None,
            flow_shift: None,
            seed: 0,
            max_sequence_length: kino_models::text::DEFAULT_MAX_SEQUENCE_LENGTH,
            scheduler: SchedulerChoice::Model,
            noise: None,
            first_frame: None,
            output_size: None,
            keyframe_first: false,
            init_video: None,
            strength: DEFAULT_STRENGTH,
            plan: None,
        }
    }
}

/// The reference video-to-video pipeline's default strength.
pub const DEFAULT_STRENGTH: f64 = 0.8;

/// The frames per second Wan 2.1 is trained at, and so the rate its videos are written at.
pub const WAN_FPS: f64 = 16.0;

/// The factors a request's size must respect, read from the model's configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRules {
    /// Height and width must be multiples of this (VAE spatial factor times DiT patch).
    pub pixel_multiple: usize,
    /// VAE temporal factor: frames must be `temporal * k + 1` (1 for a pixel-space model).
    pub temporal: usize,
    /// VAE spatial factor: latent side = pixel side / this (1 for a pixel-space model).
    pub spatial: usize,
    /// Latent channels (3 for a pixel-space model).
    pub latent_channels: usize,
    /// The model works on pixels (no VAE): its frames must be a multiple of the DiT's
    /// temporal patch, `patch_frames`.
    pub pixel_space: bool,
    /// The DiT's temporal patch size.
    pub patch_frames: usize,
    /// For a VAE that codes a whole clip as one picture, its frames folded into channels
    /// (`kino_models::vae::fold_frames`; kino-mini's clip autoencoder): the clip's frame
    /// count, the only one it takes. `None` for Wan's and pixel-space models.
    pub folded_frames: Option<usize>,
}

impl SizeRules {
    /// The shape of the initial noise for a video of this size: `(1, z, T', H/s, W/s)`.
    pub fn latent_shape(&self, height: usize, width: usize, frames: usize) -> [usize; 5] {
        [
            1,
            self.latent_channels,
            self.latent_frames(frames),
            height / self.spatial,
            width / self.spatial,
        ]
    }

    /// Latent frames for `frames` video frames.
    pub fn latent_frames(&self, frames: usize) -> usize {
        if self.folded_frames.is_some() {
            return 1;
        }
        if self.pixel_space {
            frames
        } else {
            frames.saturating_sub(1) / self.temporal + 1
        }
    }

    /// As [`Self::frames_problem`] for a model that makes `keyframes` keyframes and
    /// interpolates between them (`ModelDefaults::keyframes`): a clip longer than the
    /// keyframes may have any length, since the model's own frame rule binds the keyframes.
    pub fn frames_problem_with_keyframes(
        &self,
        frames: usize,
        keyframes: Option<usize>,
    ) -> Option<String> {
        self.for_clip(frames, keyframes).frames_problem(frames)
    }

    /// The rules a clip of `frames` frames answers to from a model that makes `keyframes`
    /// keyframes: these rules up to the keyframe count, any frame count beyond it.
    fn for_clip(&self, frames: usize, keyframes: Option<usize>) -> Self {
        if keyframes.is_none_or(|k| frames <= k) {
            return *self;
        }
        Self {
            patch_frames: 1,
            folded_frames: None,
            ..*self
        }
    }

    /// Why `frames` is not a valid frame count, with the nearest valid ones; `None` if it is.
    pub fn frames_problem(&self, frames: usize) -> Option<String> {
        if let Some(folded) = self.folded_frames {
            return (frames != folded).then(|| {
                format!(
                    "{frames} frames: this model makes clips of exactly {folded} (try {folded})"
                )
            });
        }
        if self.pixel_space {
            let m = self.patch_frames.max(1);
            if frames > 0 && frames.is_multiple_of(m) {
                return None;
            }
            let below = (frames / m * m).max(m);
            return Some(format!(
                "{frames} is not a positive multiple of {m} (try {below} or {})",
                below + m
            ));
        }
        let t = self.temporal;
        if frames > 0 && (frames - 1).is_multiple_of(t) {
            return None;
        }
        let below = (frames.max(1) - 1) / t * t + 1;
        Some(format!(
            "{frames} is not {t}k + 1 (try {below} or {})",
            below + t
        ))
    }
}

impl GenerateRequest {
    /// The steps a video-to-video request runs, the last of the schedule (diffusers:
    /// `int(steps * strength)`); all of them without `init_video`.
    pub fn denoising_steps(&self) -> usize {
        if self.init_video.is_none() {
            return self.steps;
        }
        ((self.steps as f64 * self.strength) as usize).min(self.steps)
    }

    /// Checks every value as a model with `rules` that makes `keyframes` keyframes and
    /// interpolates between them (`ModelDefaults::keyframes`) takes it: a clip longer than the
    /// keyframes may have any length, since the model's own frame rule binds the keyframes
    /// (checked when they are asked for), not the interpolated clip.
    pub fn validate_with_keyframes(
        &self,
        rules: &SizeRules,
        keyframes: Option<usize>,
    ) -> Result<()> {
        self.validate(&rules.for_clip(self.frames, keyframes))
    }

    /// Checks every value against `rules` before any work starts; the error names the field.
    pub fn validate(&self, rules: &SizeRules) -> Result<()> {
        let bad = |field, message: String| Err(PipelineError::InvalidRequest { field, message });
        let m = rules.pixel_multiple;
        for (field, v) in [("height", self.height), ("width", self.width)] {
            if v == 0 || !v.is_multiple_of(m) {
                return bad(field, format!("{v} is not a positive multiple of {m}"));
            }
        }
        if let Some(problem) = rules.frames_problem(self.frames) {
            return bad("frames", problem);
        }
        if self.steps == 0 {
            return bad("steps", "must be at least 1".into());
        }
        if !self.guidance.is_finite() || self.guidance < 0.0 {
            return bad(
                "guidance",
                format!("must be a finite number >= 0, got {}", self.guidance),
            );
        }
        if !(self.guidance_rescale.is_finite() && (0.0..=1.0).contains(&self.guidance_rescale)) {
            return bad(
                "guidance_rescale",
                format!("must be in [0, 1], got {}", self.guidance_rescale),
            );
        }
        if let Some(s) = self.flow_shift.filter(|s| !(s.is_finite() && *s > 0.0)) {
            return bad("flow_shift", format!("must be a positive number, got {s}"));
        }
        if self.max_sequence_length == 0 {
            return bad("max_sequence_length", "must be at least 1".into());
        }
        if let Some((h, w)) = self.output_size
            && (h == 0 || w == 0 || h > 8192 || w > 8192)
        {
            return bad(
                "output_size",
                format!("{w}x{h} (W x H) is outside 1 to 8192 pixels a side"),
            );
        }
        if let Some(frame) = &self.first_frame
            && frame.dims() != [self.height, self.width, 3]
        {
            return bad(
                "first_frame",
                format!(
                    "has shape {:?}, expected [{}, {}, 3] (height, width, RGB)",
                    frame.dims(),
                    self.height,
                    self.width
                ),
            );
        }
        if !(self.strength.is_finite() && self.strength > 0.0 && self.strength <= 1.0) {
            return bad(
                "strength",
                format!("must be in (0, 1], got {}", self.strength),
            );
        }
        if let Some(video) = &self.init_video {
            let want = [self.frames, self.height, self.width, 3];
            if video.dims() != want {
                return bad(
                    "init_video",
                    format!(
                        "has shape {:?}, expected {want:?} (frames, height, width, RGB)",
                        video.dims()
                    ),
                );
            }
            if self.denoising_steps() == 0 {
                return bad(
                    "strength",
                    format!(
                        "{} of {} steps keeps none of them; raise the strength or the steps",
                        self.strength, self.steps
                    ),
                );
            }
        }
        if let Some(noise) = &self.noise {
            let want = rules.latent_shape(self.height, self.width, self.frames);
            if noise.dims() != want {
                return bad(
                    "noise",
                    format!(
                        "has shape {:?}, expected {want:?} for {} frames of {}x{} (W x H)",
                        noise.dims(),
                        self.frames,
                        self.width,
                        self.height
                    ),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SizeRules;

    /// kino-mini's latent rules: a clip autoencoder that codes 5 folded keyframes.
    fn folded_keyframes() -> SizeRules {
        SizeRules {
            pixel_multiple: 4,
            temporal: 1,
            spatial: 2,
            latent_channels: 8,
            pixel_space: false,
            patch_frames: 1,
            folded_frames: Some(5),
        }
    }

    #[test]
    fn a_keyframe_model_takes_any_clip_longer_than_its_keyframes() {
        let rules = folded_keyframes();
        // The model's own rule binds its keyframes alone: 16 frames are refused without
        // keyframes, and the refusal names the only count the autoencoder takes.
        let refused = rules.frames_problem(16).unwrap();
        assert!(refused.contains('5'), "{refused}");
        for frames in [6, 16, 17, 33, 100] {
            assert_eq!(
                rules.frames_problem_with_keyframes(frames, Some(5)),
                None,
                "{frames}"
            );
        }
        // At or below the keyframe count the model's rule still holds.
        assert_eq!(rules.frames_problem_with_keyframes(5, Some(5)), None);
        assert!(rules.frames_problem_with_keyframes(3, Some(5)).is_some());
        assert!(rules.frames_problem_with_keyframes(16, None).is_some());
    }
}
