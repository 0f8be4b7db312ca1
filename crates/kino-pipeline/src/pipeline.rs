//! The text-to-video pipeline, as diffusers' `WanPipeline.__call__` (pipeline_wan.py, diffusers
//! 0.42.1) runs it: encode the prompts, free the text encoder, denoise with classifier-free
//! guidance, un-normalise the latents, decode, and map `[-1, 1]` to `[0, 1]` frames.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use kino_models::dit::WanTransformer3D;
use kino_models::layout::{SceneLayout, SceneLayoutConfig, SceneLayoutModel, layout_planes};
use kino_models::text::PromptEncoder;
use kino_models::vae::{AutoencoderKlWan, denormalize_latents, normalize_latents};
use kino_models::{ModelDir, WanVaeConfig};
use kino_sampling::{
    FlowEulerConfig, FlowScheduler, FlowUniPcConfig, Scheduler, SchedulerConfig,
    SkipPreconditioning, cfg, guidance_enabled, rescale_guided,
};

use crate::planned::{PlannedPath, planned_paths};

mod segments;

pub use segments::SegmentPlan;

use crate::defaults::ModelDefaults;
use crate::error::{PipelineError, Result};
use crate::memory::{MemoryEstimate, VideoSize, available_memory};
use crate::progress::{Pass, Progress, Stage};
use crate::request::{GenerateRequest, SchedulerChoice, SizeRules};

/// How to load a pipeline.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The dtype every network computes in (f32 matches the reference's float32 runs; on CPU
    /// candle 0.11 has no bf16 matmul, so use f32 or f16 there).
    pub dtype: DType,
    /// Where the networks run.
    pub device: Device,
    /// The largest video this pipeline will be asked for; the memory check counts its
    /// activations.
    pub plan: VideoSize,
    /// Load even when the estimated peak memory exceeds what is available.
    pub force: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            dtype: DType::F32,
            device: Device::Cpu,
            plan: VideoSize::default(),
            force: false,
        }
    }
}

/// A generated clip.
#[derive(Debug, Clone)]
pub struct GeneratedVideo {
    /// `(T, H, W, 3)` f32 in `[0, 1]`: what diffusers returns with `output_type="np"`.
    pub frames: Tensor,
    /// Frames per second to play it at.
    pub fps: f64,
    /// The layout stage's plan the clip followed, for a model that has one.
    pub plan: Option<SceneLayout>,
}

impl GeneratedVideo {
    /// Frame count, height and width.
    pub fn dims(&self) -> Result<(usize, usize, usize)> {
        let (t, h, w, _) = self
            .frames
            .dims4()
            .map_err(PipelineError::model("frames"))?;
        Ok((t, h, w))
    }

    /// Every frame as packed 8-bit RGB (row-major, `H * W * 3` bytes), `round(255 x)`.
    pub fn to_rgb8(&self) -> Result<Vec<Vec<u8>>> {
        let (t, _, _) = self.dims()?;
        let bytes = self
            .frames
            .affine(255.0, 0.0)
            .and_then(|x| x.round())
            .and_then(|x| x.clamp(0f32, 255f32))
            .and_then(|x| x.to_dtype(DType::U8))
            .and_then(|x| x.flatten_from(1))
            .and_then(|x| x.to_vec2::<u8>())
            .map_err(PipelineError::model("converting frames to 8-bit RGB"))?;
        debug_assert_eq!(bytes.len(), t);
        Ok(bytes)
    }
}

impl SizeRules {
    /// The size rules of the model in `model`, from its transformer and VAE configs.
    /// A model without a `vae` works on pixels: its latent is the RGB video itself.
    pub fn for_model(model: &ModelDir) -> Result<Self> {
        let dit = model.transformer_config()?;
        let [pt, ph, pw] = dit.patch();
        if !model.has_component("vae") {
            return Ok(Self {
                pixel_multiple: ph.max(pw),
                temporal: 1,
                spatial: 1,
                latent_channels: dit.out_channels(),
                pixel_space: true,
                patch_frames: pt,
                folded_frames: None,
            });
        }
        let vae = model.vae_config()?;
        let spatial = vae.spatial_compression();
        Ok(Self {
            pixel_multiple: spatial * ph.max(pw),
            temporal: vae.temporal_compression(),
            spatial,
            latent_channels: vae.z_dim,
            pixel_space: false,
            patch_frames: pt,
            folded_frames: folded_frames(&vae),
        })
    }
}

/// The frames a VAE folds into its channels: `in_channels / 3` when its input is more than
/// one RGB picture (kino-mini's clip autoencoder), else `None` (Wan's VAE).
pub(crate) fn folded_frames(vae: &WanVaeConfig) -> Option<usize> {
    (vae.in_channels > 3 && vae.in_channels.is_multiple_of(3)).then_some(vae.in_channels / 3)
}

/// How latents become frames.
#[derive(Debug)]
enum Decoder {
    /// Wan's VAE (un-normalise, decode).
    Vae(Box<(WanVaeConfig, AutoencoderKlWan)>),
    /// A pixel-space model: the latents are the frames, in `[-1, 1]`.
    Pixels,
}

/// A loaded Wan 2.1 text-to-video model: transformer and VAE in memory; the text encoder is
/// loaded for each [`generate`](Self::generate) and freed before denoising.
#[derive(Debug)]
pub struct Pipeline {
    model: ModelDir,
    dtype: DType,
    device: Device,
    rules: SizeRules,
    memory: MemoryEstimate,
    scheduler_config: SchedulerConfig,
    defaults: ModelDefaults,
    transformer: WanTransformer3D,
    decoder: Decoder,
    /// kino-mini's scene-layout stage, for a model folder with a `layout/` component.
    layout: Option<SceneLayoutModel>,
}

/// Mixed into the request's seed for the layout stage's plan noise.
const LAYOUT_SEED: u64 = 0x6c61_796f_7574; // "layout"

impl Pipeline {
    /// Opens the diffusers-layout model in `model_dir`, checks the estimated peak memory
    /// against what is available (unless `options.force`), and loads the transformer and VAE.
    pub fn load(model_dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        let model = ModelDir::open(model_dir)?;
        let rules = SizeRules::for_model(&model)?;
        let memory = MemoryEstimate::for_model(&model, options.dtype, options.plan)?;
        if !options.force
            && let Some(available) = available_memory().filter(|&a| a < memory.total())
        {
            return Err(PipelineError::NotEnoughMemory {
                estimate: memory,
                available,
            });
        }
        let scheduler_config = SchedulerConfig::from_file(&model.scheduler_config()?)?;
        let defaults = ModelDefaults::for_model(&model)?;
        let (dtype, device) = (options.dtype, options.device.clone());
        let vb = model
            .weights("transformer")?
            .into_var_builder(dtype, &device);
        let transformer = WanTransformer3D::new(&model.transformer_config()?, vb)
            .map_err(PipelineError::model("loading the transformer"))?;
        let decoder = if rules.pixel_space {
            Decoder::Pixels
        } else {
            let vae_config = model.vae_config()?;
            let vb = model.weights("vae")?.into_var_builder(dtype, &device);
            let vae = AutoencoderKlWan::new(&vae_config, vb)
                .map_err(PipelineError::model("loading the VAE"))?;
            Decoder::Vae(Box::new((vae_config, vae)))
        };
        let layout = if model.has_component("layout") {
            let config =
                SceneLayoutConfig::from_file(&model.component_dir("layout")?.join("config.json"))?;
            let vb = model
                .weights("layout")?
                .into_var_builder(DType::F32, &device);
            Some(
                SceneLayoutModel::new(&config, vb)
                    .map_err(PipelineError::model("loading the layout stage"))?,
            )
        } else {
            None
        };
        Ok(Self {
            model,
            dtype,
            device,
            rules,
            memory,
            scheduler_config,
            defaults,
            transformer,
            decoder,
            layout,
        })
    }

    /// The size rules requests must follow.
    pub fn size_rules(&self) -> SizeRules {
        self.rules
    }

    /// The model's generation defaults ([`ModelDefaults::request`] makes a request of them).
    pub fn defaults(&self) -> &ModelDefaults {
        &self.defaults
    }

    /// Whether the model takes a first frame ([`GenerateRequest::first_frame`]): its
    /// transformer's input is the latent, a mask channel and the conditioning frames (and,
    /// for some, [`Pipeline::takes_positions`]).
    pub fn takes_first_frame(&self) -> bool {
        let z = self.rules.latent_channels;
        let c = self.conditioned_channels();
        self.stacks_conditions()
            && (c == 2 * z + 1 || c == 2 * z + 1 + kino_models::dit::POSITION_PLANES)
    }

    /// Whether the latent is one of kino-mini's, whose transformer may stack a first-frame
    /// condition and position planes after it: pixels, a clip autoencoder's folded latent,
    /// or one latent frame per keyframe (a VAE without temporal compression). Wan's VAE
    /// compresses time 4x, and its image-to-video models condition otherwise.
    fn stacks_conditions(&self) -> bool {
        self.rules.pixel_space || self.rules.folded_frames.is_some() || self.rules.temporal == 1
    }

    /// Whether the transformer's input ends with absolute position planes
    /// ([`kino_models::dit::position_planes`]) after its first-frame condition.
    pub fn takes_positions(&self) -> bool {
        let z = self.rules.latent_channels;
        self.stacks_conditions()
            && self.conditioned_channels() == 2 * z + 1 + kino_models::dit::POSITION_PLANES
    }

    /// The transformer's input channels before the self-conditioning estimate
    /// ([`ModelDefaults::self_condition`]): the latent and its conditions.
    fn conditioned_channels(&self) -> usize {
        let c = self.transformer.config().in_channels;
        let c = if self.defaults.self_condition {
            c.saturating_sub(self.rules.latent_channels)
        } else {
            c
        };
        c.saturating_sub(self.layout_channels())
    }

    /// The channels the layout stage's planes take ([`kino_models::layout::layout_planes`]):
    /// every keyframe's folded into one latent frame, or one keyframe's per latent frame.
    fn layout_channels(&self) -> usize {
        self.layout.as_ref().map_or(0, |layout| {
            let frames = if self.rules.folded_frames.is_some() {
                1
            } else {
                layout.config.keyframes
            };
            layout.config.channels(frames)
        })
    }

    /// `video` `(T, H, W, 3)` in `[0, 1]` as the model's latent space holds it: encoded by its
    /// VAE and decoded again, `(T, H, W, 3)` (a pixel-space model returns it as it is). What
    /// any generation can at best reproduce.
    /// A keyframe model codes the video's keyframes and interpolates between them, as it
    /// generates.
    pub fn autoencode(&self, video: &Tensor) -> Result<GeneratedVideo> {
        let frames = video
            .dim(0)
            .map_err(PipelineError::model("reading the video's frames"))?;
        let keyframes = self.defaults.keyframes.filter(|&k| frames > k);
        let coded = match keyframes {
            Some(k) => frames_at_keyframes(video, 0, k)
                .map_err(PipelineError::model("taking the video's keyframes"))?,
            None => video.clone(),
        };
        let latents = self
            .encode_video(&coded)
            .map_err(PipelineError::model("encoding the video"))?;
        let decoded = self
            .decode(&latents)
            .map_err(PipelineError::model("decoding the latents"))?;
        let frames = match keyframes {
            Some(_) => interpolate_frames(&decoded, frames, &[])
                .map_err(PipelineError::model("interpolating between keyframes"))?,
            None => decoded,
        };
        Ok(GeneratedVideo {
            frames,
            fps: self.defaults.fps,
            plan: None,
        })
    }

    /// The peak memory estimated at load time.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        self.memory
    }

    /// Generates the video `request` asks for, reporting to `progress`.
    pub fn generate(
        &self,
        request: &GenerateRequest,
        progress: &mut dyn Progress,
    ) -> Result<GeneratedVideo> {
        request.validate_with_keyframes(&self.rules, self.defaults.keyframes)?;
        if request.first_frame.is_some() && !self.takes_first_frame() {
            return Err(PipelineError::InvalidRequest {
                field: "first_frame",
                message: "this model was not trained with a first-frame condition \
                          (text-to-video only)"
                    .into(),
            });
        }
        let guided = guidance_enabled(request.guidance);
        let (text, negative, layout) = self.encode_prompts(request, guided, progress)?;
        let prompts = Prompts {
            text: &text,
            negative: negative.as_ref(),
            layout: layout.as_ref(),
        };
        let video = match self.defaults.keyframes.filter(|&k| request.frames > k) {
            Some(keyframes) => self.generate_keyframes(request, keyframes, prompts, progress),
            None => self.generate_encoded(request, prompts, progress),
        }?;
        Ok(GeneratedVideo {
            plan: layout,
            ..video
        })
    }

    /// [`ModelDefaults::keyframes`]: the model makes `keyframes` frames spread over the clip,
    /// then the frames between are interpolated at the native size and the clip resized. For
    /// video-to-video the keyframes start from the init video's frames at their times; a
    /// request's `noise` is the whole clip's, and the keyframes denoise their frames of it.
    fn generate_keyframes(
        &self,
        request: &GenerateRequest,
        keyframes: usize,
        prompts: Prompts<'_>,
        progress: &mut dyn Progress,
    ) -> Result<GeneratedVideo> {
        let at_keyframes = |tensor: &Option<Tensor>, dim: usize, what: &'static str| {
            tensor
                .as_ref()
                .map(|t| frames_at_keyframes(t, dim, keyframes))
                .transpose()
                .map_err(PipelineError::model(what))
        };
        let keyframe_request = GenerateRequest {
            frames: keyframes,
            output_size: None,
            init_video: at_keyframes(&request.init_video, 0, "taking the init video's keyframes")?,
            noise: at_keyframes(&request.noise, 2, "taking the noise of the keyframes")?,
            ..request.clone()
        };
        keyframe_request.validate(&self.rules)?;
        let keys = self.generate_encoded(&keyframe_request, prompts, progress)?;
        progress.stage(Stage::Interpolate);
        // The plan's paths in the keyframes' pixels, when it plans one pose per keyframe.
        let paths = match (&self.layout, prompts.layout) {
            (Some(layout), Some(plan)) if layout.config.keyframes == keyframes => {
                let (_, h, w, _) = keys
                    .frames
                    .dims4()
                    .map_err(PipelineError::model("reading the keyframes"))?;
                let size = crate::interpolate::FrameSize {
                    height: h,
                    width: w,
                };
                planned_paths(plan, &layout.config, size)
            }
            _ => Vec::new(),
        };
        let frames = interpolate_frames(&keys.frames, request.frames, &paths)
            .map_err(PipelineError::model("interpolating between keyframes"))?;
        let frames = at_output_size(frames, request)?;
        Ok(GeneratedVideo {
            frames,
            fps: keys.fps,
            plan: None,
        })
    }

    /// [`Pipeline::generate`] once the prompts are encoded: every pass of a request made of
    /// several (keyframe first, segments) denoises with the same embeddings, so the text
    /// encoder is loaded and run once per request.
    fn generate_encoded(
        &self,
        request: &GenerateRequest,
        prompts: Prompts<'_>,
        progress: &mut dyn Progress,
    ) -> Result<GeneratedVideo> {
        let from_video = request.init_video.is_some();
        if request.keyframe_first
            && request.first_frame.is_none()
            && !from_video
            && self.takes_first_frame()
        {
            return self.generate_keyframe_first(request, prompts, progress);
        }
        if let Some(segment) = self.defaults.segment_frames
            && !from_video
            && self.takes_first_frame()
            && let Some(plan) = SegmentPlan::new(request.frames, segment)
        {
            return self.generate_segments(request, segment, plan, prompts, progress);
        }
        let scheduler_config = self.scheduler_config(request);
        let prediction = match &scheduler_config {
            kino_sampling::SchedulerConfig::UniPc(c) => c.prediction_type,
            kino_sampling::SchedulerConfig::Euler(c) => c.prediction_type,
        };
        let mut scheduler = FlowScheduler::new(scheduler_config)?;
        scheduler.set_noise_seed(request.seed);
        let shape = self
            .rules
            .latent_shape(request.height, request.width, request.frames);
        let noise = match &request.noise {
            Some(noise) => noise
                .to_dtype(DType::F32)
                .and_then(|n| n.to_device(&self.device))
                .map_err(PipelineError::model("moving the noise to the device"))?,
            None => kino_sampling::randn(&shape, request.seed, &self.device)?,
        };

        let condition = self
            .condition(request, &shape, prompts.layout)
            .map_err(PipelineError::model("preparing the first-frame condition"))?;
        // Video-to-video: the clip's latents, noised to the sigma of the first step run.
        let begin = request.steps - request.denoising_steps();
        scheduler.set_timesteps(request.steps)?;
        let latents = match &request.init_video {
            Some(video) => {
                progress.stage(Stage::EncodeVideo);
                let clean = self
                    .encode_video(video)
                    .map_err(PipelineError::model("encoding the init video"))?;
                let sigma = f64::from(scheduler.sigmas()[begin]);
                ((clean * (1.0 - sigma)).and_then(|c| c + (noise * sigma)?))
                    .map_err(PipelineError::model("noising the init video"))?
            }
            None => noise,
        };

        progress.stage(Stage::Denoise);
        let inputs = DenoiseInputs {
            text: prompts.text,
            negative: prompts.negative,
            condition: condition.as_ref(),
            guidance: request.guidance,
            guidance_rescale: request.guidance_rescale,
            guidance_interval: request.guidance_interval,
            prediction,
        };
        let latents = self.denoise(latents, &inputs, begin, &mut scheduler, progress)?;

        progress.stage(Stage::Decode);
        let frames = self
            .decode(&latents)
            .map_err(PipelineError::model("decoding the latents"))?;
        let frames = at_output_size(frames, request)?;
        Ok(GeneratedVideo {
            frames,
            fps: self.defaults.fps,
            plan: None,
        })
    }

    /// [`GenerateRequest::keyframe_first`]: a text-only pass at the native size, then the
    /// same request continuing from that pass's first frame.
    fn generate_keyframe_first(
        &self,
        request: &GenerateRequest,
        prompts: Prompts<'_>,
        progress: &mut dyn Progress,
    ) -> Result<GeneratedVideo> {
        let total = 2 * request.steps;
        let keyframe_pass = GenerateRequest {
            keyframe_first: false,
            output_size: None,
            ..request.clone()
        };
        let scene = self.generate_encoded(
            &keyframe_pass,
            prompts,
            &mut Pass {
                inner: progress,
                offset: 0,
                total,
            },
        )?;
        // (T, H, W, 3) -> the first frame (H, W, 3) in [0, 1]
        let keyframe = scene
            .frames
            .get(0)
            .map_err(PipelineError::model("taking the keyframe"))?;
        let motion_pass = GenerateRequest {
            keyframe_first: false,
            first_frame: Some(keyframe),
            ..request.clone()
        };
        self.generate_encoded(
            &motion_pass,
            prompts,
            &mut Pass {
                inner: progress,
                offset: request.steps,
                total,
            },
        )
    }

    /// The conditioning channels `(1, 1 + z, T, H, W)` of a model that takes a first frame:
    /// a mask that is 1 on the given frame and that frame in `[-1, 1]` (zeros when the
    /// request has none, as in training's text-only share), then the position planes for a
    /// model that takes them. `None` for other models.
    fn condition(
        &self,
        request: &GenerateRequest,
        shape: &[usize; 5],
        plan: Option<&SceneLayout>,
    ) -> candle_core::Result<Option<Tensor>> {
        if !self.takes_first_frame() {
            return Ok(None);
        }
        let [_, z, t, h, w] = *shape;
        let (first, given) = match &request.first_frame {
            // A clip autoencoder's latent of the still clip that holds the frame throughout,
            // as training gives it: a clip the autoencoder has learnt to code.
            Some(frame) if self.rules.folded_frames.is_some() => {
                let frames = self.rules.folded_frames.unwrap_or(1);
                let frame = frame
                    .to_device(&self.device)?
                    .to_dtype(DType::F32)?
                    .unsqueeze(0)?;
                let clip = frame.repeat((frames, 1, 1, 1))?;
                (self.encode_video(&clip)?.squeeze(2)?, true)
            }
            // A time-axis autoencoder's first latent frame, coded from the first frame alone.
            Some(frame) if !self.rules.pixel_space => {
                let frame = frame.to_device(&self.device)?.unsqueeze(0)?;
                (self.encode_video(&frame)?.squeeze(2)?, true)
            }
            // (H, W, 3) in [0, 1] -> (1, 3, H, W) in [-1, 1]
            Some(frame) => (
                frame
                    .to_device(&self.device)?
                    .to_dtype(DType::F32)?
                    .affine(2.0, -1.0)?
                    .permute((2, 0, 1))?
                    .unsqueeze(0)?,
                true,
            ),
            None => (
                Tensor::zeros((1, z, h, w), DType::F32, &self.device)?,
                false,
            ),
        };
        let condition = kino_models::dit::condition_channels(
            &first,
            &[given],
            t,
            self.defaults.first_frame_layout,
            self.takes_positions(),
        )?;
        match (&self.layout, plan) {
            (Some(layout), Some(plan)) => {
                let planes = layout_planes(
                    &layout.config,
                    std::slice::from_ref(plan),
                    t,
                    h,
                    w,
                    &self.device,
                )?;
                Tensor::cat(&[&condition, &planes.to_dtype(condition.dtype())?], 1).map(Some)
            }
            (Some(_), None) => candle_core::bail!("the layout stage made no plan"),
            (None, _) => Ok(Some(condition)),
        }
    }

    /// The prompt's embeddings, the negative prompt's when guidance is on, and the layout
    /// stage's plan for a model that has one; the text encoder is dropped on return, before
    /// the denoising loop needs the memory.
    fn encode_prompts(
        &self,
        request: &GenerateRequest,
        guided: bool,
        progress: &mut dyn Progress,
    ) -> Result<(Tensor, Option<Tensor>, Option<SceneLayout>)> {
        progress.stage(Stage::LoadTextEncoder);
        let encoder = PromptEncoder::load_as(&self.model, &self.device, self.dtype)
            .map_err(PipelineError::model("loading the text encoder"))?
            .with_max_sequence_length(request.max_sequence_length);
        progress.stage(Stage::EncodePrompt);
        // A closed-vocabulary model never saw other words: they are named, then left out.
        let closed = self.defaults.vocabulary.is_some();
        let (prompt, negative_prompt) = if closed {
            let tokenizer = encoder.tokenizer();
            let (prompt, unknown) = tokenizer.split_by_vocabulary(&request.prompt);
            if !unknown.is_empty() {
                progress.warning(&format!(
                    "ignored words outside this model's vocabulary ({}): {}; for open-vocabulary \
                     prompts use --model DIR with a model such as Wan 2.1 T2V",
                    self.defaults.vocabulary.as_deref().unwrap_or("closed"),
                    unknown.join(", ")
                ));
            }
            (prompt, tokenizer.known_words_only(&request.negative_prompt))
        } else {
            (request.prompt.clone(), request.negative_prompt.clone())
        };
        // One prompt per call, as the reference encodes the prompt and the negative apart.
        let mut encode = |prompt: &str| -> Result<Tensor> {
            let (embeds, warnings) = encoder
                .encode(&[prompt])
                .map_err(PipelineError::model("encoding the prompt"))?;
            for w in &warnings {
                progress.warning(&w.to_string());
            }
            Ok(embeds)
        };
        let text = encode(&prompt)?;
        let negative = if guided {
            Some(encode(&negative_prompt)?)
        } else {
            None
        };
        let plan = match (&self.layout, &request.plan) {
            (Some(layout), Some(plan)) => {
                plan.check(&layout.config)
                    .map_err(|message| PipelineError::InvalidRequest {
                        field: "plan",
                        message,
                    })?;
                Some(plan.clone())
            }
            (Some(layout), None) => {
                let mut plan = self
                    .plan_layout(layout, &encoder, &prompt, &text, request.seed)
                    .map_err(PipelineError::model("planning the scene's layout"))?;
                if let Some(frame) = &request.first_frame {
                    // The objects start where the given frame has them.
                    let (height, width, _) = frame
                        .dims3()
                        .map_err(PipelineError::model("reading the first frame"))?;
                    let pixels = frame
                        .to_dtype(DType::F32)
                        .and_then(|f| f.flatten_all())
                        .and_then(|f| f.to_vec1::<f32>())
                        .map_err(PipelineError::model("reading the first frame"))?;
                    crate::anchor::anchor_plan(
                        &mut plan,
                        &layout.config,
                        &pixels,
                        crate::interpolate::FrameSize { height, width },
                    );
                }
                Some(plan)
            }
            (None, Some(_)) => {
                return Err(PipelineError::InvalidRequest {
                    field: "plan",
                    message: "this model has no layout stage (no layout/ folder) to follow a \
                              plan"
                        .into(),
                });
            }
            (None, None) => None,
        };
        Ok((text, negative, plan))
    }

    /// The layout stage's plan for `prompt` (encoded as `text`), its paths sampled from
    /// noise of `seed`.
    fn plan_layout(
        &self,
        layout: &SceneLayoutModel,
        encoder: &PromptEncoder,
        prompt: &str,
        text: &Tensor,
        seed: u64,
    ) -> candle_core::Result<SceneLayout> {
        let tokens = encoder
            .tokenizer()
            .tokenize(&[prompt], encoder.max_sequence_length())?;
        let mask = tokens.attention_mask_tensor(&self.device)?;
        let noise = kino_sampling::randn(
            &[1, layout.config.plan_values()],
            seed ^ LAYOUT_SEED,
            &self.device,
        )
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut plans = layout.plan(text, &mask, &noise)?;
        plans
            .pop()
            .ok_or_else(|| candle_core::Error::Msg("the layout stage made no plan".into()))
    }

    /// The scheduler config for `request`: the chosen kind, with the request's shift.
    fn scheduler_config(&self, request: &GenerateRequest) -> SchedulerConfig {
        let unipc = match &self.scheduler_config {
            SchedulerConfig::UniPc(c) => c.clone(),
            SchedulerConfig::Euler(_) => FlowUniPcConfig::wan_2_1(),
        };
        let mut config = match request.scheduler {
            SchedulerChoice::Model => self.scheduler_config.clone(),
            SchedulerChoice::UniPc => SchedulerConfig::UniPc(unipc),
            SchedulerChoice::Euler | SchedulerChoice::EulerStochastic => {
                let mut euler = match &self.scheduler_config {
                    SchedulerConfig::Euler(c) => c.clone(),
                    SchedulerConfig::UniPc(c) => FlowEulerConfig::like_unipc(c),
                };
                euler.stochastic_sampling = request.scheduler == SchedulerChoice::EulerStochastic;
                SchedulerConfig::Euler(euler)
            }
        };
        if let Some(shift) = request.flow_shift {
            match &mut config {
                SchedulerConfig::UniPc(c) => c.flow_shift = shift,
                SchedulerConfig::Euler(c) => c.shift = shift,
            }
        }
        config
    }

    /// The denoising loop over the scheduler's timesteps from `begin` on (0 but for
    /// video-to-video): at each the transformer's velocity for the prompt (and for the
    /// negative prompt, combined by classifier-free guidance), then one scheduler step.
    fn denoise(
        &self,
        mut latents: Tensor,
        inputs: &DenoiseInputs,
        begin: usize,
        scheduler: &mut FlowScheduler,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        scheduler.set_begin_index(begin)?;
        let timesteps = scheduler.timesteps().to_vec();
        let guidance = inputs.guidance;
        // Self-conditioning: the clean-clip estimate of the step before (none at the first).
        let mut estimate = match self.defaults.self_condition {
            true => Some(latents.zeros_like().map_err(run_err)?),
            false => None,
        };
        for (i, &t) in timesteps.iter().enumerate().skip(begin) {
            // (B,): the same timestep for the whole batch of one.
            let timestep = Tensor::new(&[t as f32], &self.device).map_err(run_err)?;
            let (text, negative) = (inputs.text, inputs.negative);
            let condition = inputs
                .condition
                .map(|c| c.to_dtype(latents.dtype()))
                .transpose()
                .map_err(run_err)?;
            let parts: Vec<&Tensor> = std::iter::once(&latents)
                .chain(condition.as_ref())
                .chain(estimate.as_ref())
                .collect();
            let input = if parts.len() == 1 {
                latents.clone()
            } else {
                Tensor::cat(&parts, 1).map_err(run_err)?
            };
            let cond = self
                .transformer
                .forward(&input, &timestep, text)
                .map_err(run_err)?;
            let sigma = f64::from(scheduler.sigmas()[i]);
            let guided_here = inputs.guidance_interval.is_none_or(|g| g.contains(sigma));
            let mut output = match negative.filter(|_| guided_here) {
                Some(negative) => {
                    let uncond = self
                        .transformer
                        .forward(&input, &timestep, negative)
                        .map_err(run_err)?;
                    let guided = cfg(&cond, &uncond, guidance)?;
                    rescale_guided(&guided, &cond, inputs.guidance_rescale)?
                }
                None => cond,
            };
            // The skip path is linear in the output, so it commutes with guidance (a rescale
            // applies to the network's guided output, before it).
            if let Some(detail_std) = self.defaults.skip_detail_std {
                output = SkipPreconditioning { detail_std }
                    .x0(&latents, &output, sigma)?
                    .to_dtype(latents.dtype())
                    .map_err(run_err)?;
            }
            if estimate.is_some() {
                estimate = Some(clean_clip(&latents, &output, sigma, inputs.prediction)?);
            }
            latents = scheduler.step(&output, i, &latents)?;
            progress.step(i - begin, timesteps.len() - begin);
        }
        Ok(latents)
    }

    /// Frames `(T, H, W, 3)` in `[0, 1]` -> the latents `(1, z, T', h, w)` the denoiser works
    /// in: the frames in `[-1, 1]` for a pixel-space model; else the VAE posterior's mean,
    /// normalised, as the reference's video-to-video pipeline encodes its video.
    fn encode_video(&self, video: &Tensor) -> candle_core::Result<Tensor> {
        let pixels = video
            .to_device(&self.device)?
            .to_dtype(self.dtype)?
            .affine(2.0, -1.0)?
            .permute((3, 0, 1, 2))? // (T, H, W, 3) -> (3, T, H, W)
            .unsqueeze(0)?
            .contiguous()?;
        match &self.decoder {
            Decoder::Pixels => pixels.to_dtype(DType::F32),
            Decoder::Vae(vae) => {
                let (config, vae) = (&vae.0, &vae.1);
                let pixels = match self.rules.folded_frames {
                    Some(_) => kino_models::vae::fold_frames(&pixels)?,
                    None => pixels,
                };
                normalize_latents(config, &vae.encode(&pixels)?)?.to_dtype(DType::F32)
            }
        }
    }

    /// Latents `(1, z, T', h, w)` -> frames `(T, H, W, 3)` f32 in `[0, 1]`, as the reference's
    /// `latents / (1 / std) + mean`, `vae.decode`, then `VideoProcessor.postprocess_video`
    /// (`x * 0.5 + 0.5` clamped to `[0, 1]`, channels last).
    fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        let video = match &self.decoder {
            Decoder::Vae(vae) => {
                let (config, vae) = (&vae.0, &vae.1);
                let z = denormalize_latents(config, &latents.to_dtype(self.dtype)?)?;
                let video = vae.decode(&z)?; // (1, 3, T, H, W) in [-1, 1]
                match self.rules.folded_frames {
                    Some(frames) => kino_models::vae::unfold_frames(&video, frames)?,
                    None => video,
                }
            }
            Decoder::Pixels => latents.clone(),
        };
        video
            .affine(0.5, 0.5)?
            .clamp(0f32, 1f32)?
            .to_dtype(DType::F32)?
            .squeeze(0)?
            .permute((1, 2, 3, 0))? // (3, T, H, W) -> (T, H, W, 3)
            .contiguous()
    }
}

/// A request's prompt embeddings, and the negative prompt's when guidance is on.
#[derive(Clone, Copy)]
struct Prompts<'a> {
    text: &'a Tensor,
    negative: Option<&'a Tensor>,
    /// The layout stage's plan, for a model that has one.
    layout: Option<&'a SceneLayout>,
}

/// What the transformer sees besides the latents at every step.
struct DenoiseInputs<'a> {
    /// The prompt's embeddings.
    text: &'a Tensor,
    /// The negative prompt's, when guidance is on.
    negative: Option<&'a Tensor>,
    /// Extra input channels (the first-frame mask and frame), for models that take them.
    condition: Option<&'a Tensor>,
    /// The classifier-free guidance scale.
    guidance: f64,
    /// [`GenerateRequest::guidance_rescale`].
    guidance_rescale: f64,
    /// [`GenerateRequest::guidance_interval`].
    guidance_interval: Option<kino_sampling::GuidanceInterval>,
    /// What the transformer predicts, to turn its output into a clean-clip estimate.
    prediction: kino_sampling::PredictionType,
}

/// The clean clip `x0` that a (guided) model `output` at noise level `sigma` stands for:
/// the output itself for a model that predicts it, else `x - sigma v` of the velocity `v`.
fn clean_clip(
    latents: &Tensor,
    output: &Tensor,
    sigma: f64,
    prediction: kino_sampling::PredictionType,
) -> Result<Tensor> {
    match prediction {
        kino_sampling::PredictionType::Sample => Ok(output.clone()),
        kino_sampling::PredictionType::FlowPrediction => (output * sigma)
            .and_then(|step| latents - step)
            .and_then(|x0| x0.to_dtype(latents.dtype()))
            .map_err(run_err),
    }
}

/// The `count` frames along dimension `dim` of `tensor` nearest to `count` times spread
/// evenly over them, the first and last included.
fn frames_at_keyframes(tensor: &Tensor, dim: usize, count: usize) -> candle_core::Result<Tensor> {
    let t = tensor.dim(dim)?;
    let picks: Vec<u32> = (0..count)
        .map(|k| {
            let at = k as f64 * t.saturating_sub(1) as f64 / count.saturating_sub(1).max(1) as f64;
            at.round() as u32
        })
        .collect();
    let index = Tensor::new(picks.as_slice(), tensor.device())?;
    tensor.index_select(&index, dim)
}

/// Keyframes `(K, H, W, 3)` in `[0, 1]` -> `frames` frames `(frames, H, W, 3)`, the ones
/// between motion compensated, true to the plan's `paths`: the objects they hold still held
/// still, the objects they turn drawn turning
/// ([`crate::interpolate::interpolate_planned_clip`]).
fn interpolate_frames(
    keys: &Tensor,
    frames: usize,
    paths: &[PlannedPath],
) -> candle_core::Result<Tensor> {
    let (k, h, w, c) = keys.dims4()?;
    let device = keys.device().clone();
    let flat = keys
        .to_dtype(DType::F32)?
        .reshape((k, h * w * c))?
        .to_vec2::<f32>()?;
    let size = crate::interpolate::FrameSize {
        height: h,
        width: w,
    };
    let clip = crate::interpolate::interpolate_planned_clip(&flat, size, frames, paths);
    let values: Vec<f32> = clip.into_iter().flatten().collect();
    Tensor::from_vec(values, (frames, h, w, c), &device)
}

/// Frames `(T, H, W, 3)` at the native size -> at the request's output size, when it asks for
/// another.
fn at_output_size(frames: Tensor, request: &GenerateRequest) -> Result<Tensor> {
    match request.output_size {
        Some((h, w)) if (h, w) != (request.height, request.width) => {
            resize_frames(&frames, h, w).map_err(PipelineError::model("resizing the frames"))
        }
        _ => Ok(frames),
    }
}

/// Bilinear resize of frames `(T, H, W, 3)` to `(T, height, width, 3)`.
fn resize_frames(frames: &Tensor, height: usize, width: usize) -> candle_core::Result<Tensor> {
    frames
        .permute((0, 3, 1, 2))? // (T, 3, H, W)
        .contiguous()?
        .upsample_bilinear2d(height, width, false)?
        .clamp(0f32, 1f32)?
        .permute((0, 2, 3, 1))?
        .contiguous()
}

fn run_err(source: candle_core::Error) -> PipelineError {
    PipelineError::Model {
        stage: "running the transformer",
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kino_sampling::PredictionType;

    /// A clean-sample model's output is its estimate; a velocity model's estimate is
    /// `x - sigma v` (with flow sigmas, `x = (1 - sigma) x0 + sigma e` and `v = e - x0`).
    #[test]
    fn the_clean_clip_estimate_follows_the_prediction_type() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let x0 = Tensor::new(&[0.5f32, -0.25, 1.0], &device)?;
        let e = Tensor::new(&[-1.0f32, 2.0, 0.5], &device)?;
        let sigma = 0.3;
        let x = ((&x0 * (1.0 - sigma))? + (&e * sigma)?)?;
        let v = (&e - &x0)?;
        let from_v = clean_clip(&x, &v, sigma, PredictionType::FlowPrediction)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let diff = (from_v - &x0)?.abs()?.max(0)?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{diff}");
        let same = clean_clip(&x, &x0, sigma, PredictionType::Sample)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        assert_eq!(same.to_vec1::<f32>()?, x0.to_vec1::<f32>()?);
        Ok(())
    }
}
