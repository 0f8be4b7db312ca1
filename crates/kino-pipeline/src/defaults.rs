//! What a request defaults to for a given model: Wan 2.1's `WanPipeline.__call__` defaults,
//! or the `_kino_defaults` a model folder carries in its `model_index.json` (kino-mini does).

use kino_models::ModelDir;
use serde::Deserialize;

use crate::error::{PipelineError, Result};
use crate::request::GenerateRequest;

/// Generation defaults of one model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelDefaults {
    /// Native frame height.
    pub height: usize,
    /// Native frame width.
    pub width: usize,
    /// Frames per clip.
    pub frames: usize,
    /// Frames the model makes in one denoising pass when it works in segments: a longer clip
    /// is a chain of such segments, each continuing from the last frame of the one before
    /// ([`crate::Pipeline::generate`]). `None`: the whole clip in one pass.
    #[serde(default)]
    pub segment_frames: Option<usize>,
    /// Keyframes the model denoises, spread evenly over the clip (the first at its first frame,
    /// the last at its last); the frames between are motion-compensated interpolations
    /// ([`crate::interpolate`]), as cascaded video models raise their frame rate. `None`:
    /// the model makes every frame.
    #[serde(default)]
    pub keyframes: Option<usize>,
    /// Frames per second the model was trained at.
    pub fps: f64,
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance scale.
    pub guidance: f64,
    /// Guidance rescale `phi` in `[0, 1]` ([`kino_sampling::rescale_guided`]); 0 is plain
    /// guidance, as Wan 2.1's pipeline has it.
    #[serde(default)]
    pub guidance_rescale: f64,
    /// Guide only at noise levels `[low, high]` ([`kino_sampling::GuidanceInterval`]); `None`
    /// guides every step, as Wan 2.1's pipeline does.
    #[serde(default)]
    pub guidance_interval: Option<[f64; 2]>,
    /// Prompt length in tokens.
    pub max_sequence_length: usize,
    /// Height the frames are resized to on output (the native height when absent).
    #[serde(default)]
    pub output_height: Option<usize>,
    /// Width the frames are resized to on output (the native width when absent).
    #[serde(default)]
    pub output_width: Option<usize>,
    /// The closed vocabulary the model knows ("kino-world" for kino-mini), if it has one:
    /// prompts with other words get a warning naming them.
    #[serde(default)]
    pub vocabulary: Option<String>,
    /// Text-to-video in two passes, keyframe then motion ([`GenerateRequest::keyframe_first`]).
    #[serde(default)]
    pub keyframe_first: bool,
    /// The sampler's shift when it differs from the scheduler config's (which also records
    /// the shift of training's noise levels).
    #[serde(default)]
    pub flow_shift: Option<f64>,
    /// Where a first frame goes in the conditioning channels, as the model was trained.
    #[serde(default)]
    pub first_frame_layout: kino_models::dit::FirstFrameLayout,
    /// For a model that predicts the clean clip through a skip path
    /// ([`kino_sampling::SkipPreconditioning`]): the detail standard deviation it was trained
    /// with. The clean-clip prediction is then `c_skip x + c_out output`, not the output.
    #[serde(default)]
    pub skip_detail_std: Option<f64>,
    /// Whether the transformer takes its own clean-clip estimate of the step before, in as
    /// many channels as the latent has, after every other input channel (self-conditioning;
    /// zeros at the first step). False for Wan 2.1 and models without the field.
    #[serde(default)]
    pub self_condition: bool,
}

impl ModelDefaults {
    /// Wan 2.1 T2V (diffusers 0.42.1 `WanPipeline.__call__`): 480x832, 81 frames at 16 fps,
    /// 50 steps, guidance 5.0, 512 prompt tokens.
    pub fn wan_2_1() -> Self {
        Self {
            height: 480,
            width: 832,
            frames: 81,
            segment_frames: None,
            keyframes: None,
            fps: crate::request::WAN_FPS,
            steps: 50,
            guidance: 5.0,
            guidance_rescale: 0.0,
            guidance_interval: None,
            max_sequence_length: kino_models::text::DEFAULT_MAX_SEQUENCE_LENGTH,
            output_height: None,
            output_width: None,
            vocabulary: None,
            keyframe_first: false,
            flow_shift: None,
            first_frame_layout: kino_models::dit::FirstFrameLayout::FirstFrameOnly,
            skip_detail_std: None,
            self_condition: false,
        }
    }

    /// The defaults `model` declares under `_kino_defaults`, else Wan 2.1's.
    pub fn for_model(model: &ModelDir) -> Result<Self> {
        match model.index().settings.get("_kino_defaults") {
            None => Ok(Self::wan_2_1()),
            Some(value) => {
                let invalid = |e: String| PipelineError::InvalidRequest {
                    field: "_kino_defaults",
                    message: format!(
                        "{}: `_kino_defaults` is not valid: {e}",
                        model.root().join("model_index.json").display()
                    ),
                };
                let defaults: Self =
                    serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
                if defaults.keyframes.is_some_and(|k| k < 2) {
                    return Err(invalid("keyframes must be at least 2".into()));
                }
                if !(0.0..=1.0).contains(&defaults.guidance_rescale) {
                    return Err(invalid(format!(
                        "guidance_rescale must be in [0, 1], got {}",
                        defaults.guidance_rescale
                    )));
                }
                if let Some([low, high]) = defaults.guidance_interval {
                    kino_sampling::GuidanceInterval::new(low, high)
                        .map_err(|e| invalid(format!("guidance_interval: {e}")))?;
                }
                if let Some(sd) = defaults
                    .skip_detail_std
                    .filter(|sd| !(sd.is_finite() && *sd > 0.0))
                {
                    return Err(invalid(format!(
                        "skip_detail_std must be a positive number, got {sd}"
                    )));
                }
                Ok(defaults)
            }
        }
    }

    /// A request for `prompt` with these defaults.
    pub fn request(&self, prompt: &str) -> GenerateRequest {
        GenerateRequest {
            prompt: prompt.to_string(),
            height: self.height,
            width: self.width,
            frames: self.frames,
            steps: self.steps,
            guidance: self.guidance,
            guidance_rescale: self.guidance_rescale,
            guidance_interval: self
                .guidance_interval
                .and_then(|[low, high]| kino_sampling::GuidanceInterval::new(low, high).ok()),
            max_sequence_length: self.max_sequence_length,
            output_size: self.output_height.zip(self.output_width),
            keyframe_first: self.keyframe_first,
            flow_shift: self.flow_shift,
            ..GenerateRequest::default()
        }
    }
}
