//! The kino-mini recipe: its architecture (diffusers config files, written out as such), the
//! clips it learns from, and the training hyperparameters. One struct, so a checkpoint records
//! exactly what produced it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Everything that determines a kino-mini training run. `Default` is the base recipe (pixel
/// space, no autoencoder; the weights shipped until 2026-12-04) that recipe files override; the
/// shipped weights come from `recipes/latent-plan.json` on top of it (`recipes/latent.json`
/// plus the caption-parse and token-read heads, `loss_sigma_floor` 0.3, the layout stage and
/// guidance 3). Field docs that say "shipped" describe that base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Native clip height in pixels (the model works in pixel space, no VAE).
    pub height: usize,
    /// Native clip width in pixels.
    pub width: usize,
    /// Frames per clip.
    pub frames: usize,
    /// Frames per second the clips are rendered (and played) at.
    pub fps: f64,
    /// Frames of the world clip that a training clip is a window of, when the model works in
    /// segments (`None`: the clip is the whole world clip, `frames` long). With `Some(n)` each
    /// training clip is `frames` consecutive frames at a random offset of an `n`-frame world
    /// clip (motion spans the `n` frames, so a window shows a stretch of it), and the pipeline
    /// makes an `n`-frame clip as a chain of segments, each continuing from the last frame of
    /// the one before (`segment_frames` in `_kino_defaults`).
    #[serde(default)]
    pub world_frames: Option<usize>,
    /// Frames of the clip that the model's `frames` are keyframes of, when it makes
    /// keyframes (`None`: the model makes every frame). The world renders `frames` frames
    /// spread evenly over the clip's duration (the first at its start, the last at its end),
    /// so the model learns the same motion over fewer, farther-apart frames; the pipeline
    /// makes a `clip_frames` clip by interpolating between them (`keyframes` in
    /// `_kino_defaults`).
    #[serde(default)]
    pub clip_frames: Option<usize>,
    /// DiT width (`num_attention_heads * attention_head_dim`).
    pub dim: usize,
    /// DiT attention heads.
    pub heads: usize,
    /// DiT blocks.
    pub layers: usize,
    /// DiT feed-forward width.
    pub ffn_dim: usize,
    /// DiT patch `(t, h, w)`.
    pub patch: [usize; 3],
    /// umT5 width.
    pub text_dim: usize,
    /// umT5 layers.
    pub text_layers: usize,
    /// Prompt length in tokens (captions of the world are short).
    pub max_sequence_length: usize,
    /// Clips per optimiser step.
    pub batch: usize,
    /// Peak learning rate (AdamW).
    pub learning_rate: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Update the DiT blocks' weight matrices with Muon (Jordan et al. 2024: momentum
    /// orthogonalised by a Newton-Schulz iteration, scaled to AdamW's update size as Liu et al.
    /// 2025 do, so the same learning rate and schedule serve both) instead of AdamW; every other
    /// tensor keeps AdamW. False: AdamW everywhere.
    #[serde(default)]
    pub muon: bool,
    /// EMA decay of the exported weights.
    pub ema_decay: f64,
    /// Shift applied to the sampled noise levels (and the sampler's `flow_shift`): values
    /// above 1 spend more training on high noise, where layout and motion are decided.
    pub flow_shift: f64,
    /// The smallest noise level the loss divides by (its weight `1 / max(s, floor)^2` is
    /// capped at `1 / floor^2`). The shipped 1 makes it a plain clean-clip loss, every noise
    /// level alike: with 0.2 (the earlier recipe) low-noise clips weighed up to 25 times as much
    /// as the high-noise ones where layout and motion are decided.
    pub loss_sigma_floor: f64,
    /// Extra loss weight on object pixels (inside an object's box, grown by one pixel), from
    /// step [`Recipe::foreground_from_step`] on: at noise level `s` a pixel there counts
    /// `1 + foreground_weight * (1 - s)` times. Objects cover about 5% of a 32x32 frame, so an
    /// unweighted loss is mostly background, while colour, shape and motion live in that 5%.
    /// The weight fades with noise because a per-pixel weight biases the prediction towards
    /// object colour wherever an object might be: harmless once `x_s` shows where the objects
    /// are, but at high noise it paints object colour everywhere (a run with a flat weight of
    /// 8 did).
    #[serde(default = "default_foreground_weight")]
    pub foreground_weight: f64,
    /// The step the object weighting starts (a curriculum: the scene first, then its objects).
    #[serde(default = "default_foreground_from_step")]
    pub foreground_from_step: usize,
    /// How widely the training clips' layouts vary about each scene's canonical one (see
    /// `kino_world::Renderer::with_layout_spread`): 1 is the world's full variety, 0 one
    /// layout per scene. Captions never say where an object is, so a wide spread asks the
    /// model for a many-moded choice of position; a narrow one makes the layout nearly a
    /// function of the caption, at the price of variety. Measured: a 2,000-step pixel-space
    /// run at 0.25 scored below the then shipped (spread 1) one, colour 48% and motion 4%
    /// against 56% and 9%; the latent `recipes/latent-layout.json` at 0.3 moved single
    /// objects as asked more often (44% against 33%) but drew two objects in one colour
    /// (see [`Recipe::region_spread`] and the model card).
    #[serde(default = "default_layout_spread")]
    pub layout_spread: f64,
    /// How freely two objects swap halves of the frame (`kino_world::LayoutSpread::regions`:
    /// the chance is `region_spread^2 / 2`); `None`: `layout_spread`. At 1 with a narrow
    /// `layout_spread`, objects keep canonical paths within their halves while either object
    /// may get either half, so the model need not tell the caption's first object from its
    /// second to place them.
    #[serde(default)]
    pub region_spread: Option<f64>,
    /// Chance that a training scene is drawn with one object rather than two, before the
    /// held-out filter (which rejects two-object scenes more often, so at the world's 0.6
    /// about 36% of training clips show two objects). Lower it to train more on two-object
    /// scenes, whose motion the shipped weights get wrong far more often than one object's.
    /// The autoencoder stage always draws the world's mix. Measured (`recipes/latent-two.json`,
    /// 0.3, so about 66% two-object clips; `kino eval mini --seeds 4` at step 4,000): colour
    /// 160/224 and motion 55/224 against the world mix's 165 and 83, two-object motion 22/128
    /// against 25, so not adopted (at step 3,000 colour was 179/224, motion 42).
    #[serde(default = "default_one_object_share")]
    pub one_object_share: f64,
    /// Turns a spinning object makes over a training clip (both stages). The world turned
    /// once a clip before 2026-12-05, which is what recipes without the field get; a turn of
    /// 1 shows a square (and a ball's marker) at the same angle at all 5 keyframes (clip
    /// times 0, 1/4, 1/2, 3/4, 1), so a model cannot learn to draw it spinning. The world's
    /// own default is now [`kino_world::SPIN_TURNS`] (3/8).
    #[serde(default = "default_spin_turns")]
    pub spin_turns: f64,
    /// Self-conditioning (Chen et al., "Analog Bits", 2022): the transformer also takes its
    /// own clean-clip estimate from the step before, in [`Recipe::latent_channels`] extra
    /// input channels after every other. In training, half the steps first run the model
    /// with those channels zero and feed its detached estimate back in; the other half keep
    /// them zero. Sampling feeds each step's (guided) estimate to the next. Off for recipes
    /// and checkpoints without the field. Measured (`recipes/latent-selfcond.json`, with the
    /// 3/8 spin, `kino eval mini --seeds 4` at step 4,000): colour 168/224 and motion 74/224
    /// against the shipped weights' 165 and 83, so not adopted (at step 3,000: 173 and 60).
    #[serde(default)]
    pub self_condition: bool,
    /// Weight of the caption-parse objective ([`crate::caption_parse`]): a training-only head
    /// must read each caption's objects (colour, shape, motion, in the caption's order) and
    /// background back out of the text encoder's output, so the encoder learns what the
    /// words mean and which object each belongs to from a direct signal, not only through the
    /// denoising loss. 0 (recipes and checkpoints without the field): no head.
    #[serde(default)]
    pub caption_parse_weight: f64,
    /// Steps of the caption-parse objective alone (text encoder and head, batch 64, learning
    /// rate 3e-3; [`crate::caption_parse::warm_up`]) before the DiT's first step. Trained
    /// jointly from the start, a run's encoder still read two-object captions no better
    /// than chance at step 1,300 (5 of 278 held-out ones entirely right), while alone it
    /// learns them in under 1,000 steps of a few seconds. 0: none.
    #[serde(default)]
    pub caption_parse_warm_up: usize,
    /// Weight of the token-read objective ([`crate::token_read`]): a training-only linear
    /// head must read, from each patch token as it leaves the first
    /// [`Recipe::token_read_block`] blocks of the DiT, what the clean clip holds at the
    /// token's place: the colour, shape and motion of the object that covers it most over the
    /// clip (or none), and in which keyframes any object covers it. 0 (recipes and
    /// checkpoints without the field): no head. Measured (`recipes/latent-parse-tokens.json`,
    /// weight 0.2, the shipped weights since the third set of 2026-12-05): motion 11/56 at
    /// step 1,000 against 4/56 for the caption-parse run and 0/56 for `latent.json`; at step
    /// 4,000 (4 seeds) motion 107/224 and colour 157/224 against 82 and 144 for the
    /// caption-parse run and 83 and 165 for `latent.json`.
    #[serde(default)]
    pub token_read_weight: f64,
    /// How many DiT blocks the token-read head reads after (at most the block count).
    #[serde(default = "default_token_read_block")]
    pub token_read_block: usize,
    /// Whether the transformer's input ends with absolute position planes (frame, row,
    /// column; `kino_models::dit::position_planes`). Wan's 3D RoPE is relative only, so a
    /// small model without them can tell the middle of the frame from its edge only through
    /// boundary effects (the spread-0.25 run put its objects at the edges and corners). Not
    /// yet shown to help: a 1,200-step run with them scored lower still at step 1,100.
    #[serde(default)]
    pub position_planes: bool,
    /// Whether the transformer is given a plan of the scene (`kino_models::layout`): per
    /// keyframe, a disc where each object the caption names is, its turn, and its colour and
    /// shape, after its other conditioning channels. Training draws the planes from the
    /// world's truth; generation from the layout stage, which reads the caption (the
    /// caption-parse head, so this needs `caption_parse_weight` above 0) and samples the paths
    /// with a small flow-matching network trained before the DiT
    /// ([`Recipe::layout_generator_steps`]). Exported as the model folder's `layout/`.
    #[serde(default)]
    pub layout_planes: bool,
    /// Steps of the layout stage's path generator (batches of
    /// [`crate::layout::GENERATOR_BATCH`] training-split scenes), trained before the DiT.
    #[serde(default = "default_layout_generator_steps")]
    pub layout_generator_steps: usize,
    /// Where a given first frame sits in the conditioning channels: at frame 0 only (Wan's
    /// layout, what checkpoints written before the field existed used) or at every frame.
    /// Measured: at every frame, objects persist through the clip (with frame 0 only they
    /// vanish after the first temporal patch), but a 2,600-step run scored no better (colour
    /// 60.7%, motion 7.1% at step 2,400).
    #[serde(default)]
    pub first_frame_layout: kino_models::dit::FirstFrameLayout,
    /// Initial gain of the self-attention query/key RMS norms (`attn1.norm_q`, `norm_k`).
    /// With unit gains and heads of 32 the attention logits of a query and key of average
    /// size are at most `32 / sqrt(32) = 5.7`, too flat to pick one of 256 tokens (the
    /// object's place in another frame); QKNorm (Henry et al., 2020) starts its logit scale
    /// near `log2(L^2 - L)`, about 16 for L = 256 tokens, which a gain of 1.7 gives. Checkpoints
    /// written before the field existed used 1.
    #[serde(default = "unit_gain")]
    pub self_attention_gain: f64,
    /// Initial gain of the cross-attention query/key RMS norms (`attn2.norm_q`, `norm_k`), as
    /// [`Recipe::self_attention_gain`] for the prompt's tokens.
    #[serde(default = "unit_gain")]
    pub cross_attention_gain: f64,
    /// Self-attention heads per block whose query and key biases start as a locality
    /// pattern (the first heads of each block; 0: none, every head starts from its random
    /// projections alone). See [`crate::model`]: such a head starts out looking at the
    /// tokens around the query, at the same frame patch (even heads) or at every frame patch
    /// (odd heads), as a small vision transformer needs to learn from little data
    /// (d'Ascoli et al., "ConViT", 2021; Trockman and Kolter, "Mimetic Initialization of
    /// Self-Attention Layers", 2023). Checkpoints written before the field existed used 0.
    #[serde(default)]
    pub local_heads: usize,
    /// Self-attention heads per block, after the local ones, whose query and key biases start
    /// as a shift pattern (see [`crate::model::attention_biases`]): such a head starts out
    /// looking one frame patch back or on and [`Recipe::shift_aside`] tokens aside (one by
    /// default), where an object moving one token a frame patch was or will be. Checkpoints
    /// written before the field existed used 0.
    #[serde(default)]
    pub shift_heads: usize,
    /// Energy of a shift head's query and key biases, in multiples of the head width: how
    /// far the shift pattern leads the head's random content part at the start. 3 (what
    /// checkpoints written before the field existed used) leaves the pattern about 0.8 logits
    /// over the next key, buried in the content part's noise: a head starts spread over a
    /// dozen keys, and training did not sharpen it. The attention norms are shared by every
    /// head, so the other heads' gains grow to make up for the larger norm, and they start as
    /// they would at 3.
    #[serde(default = "default_shift_energy")]
    pub shift_energy: f64,
    /// Initial gain of the shift heads' query/key norm dimensions (`None`: the other heads').
    /// With [`Recipe::shift_energy`] 30 and a gain of 3.5 a shift head starts with about 80%
    /// of its weight on its target token when the content is random, all of it when the
    /// content is alike (a plain background).
    #[serde(default)]
    pub shift_gain: Option<f64>,
    /// How many tokens aside a shift head looks (see [`crate::model::shift_offset`]): 1 (what
    /// checkpoints written before the field existed used) suits 4-frame patches, where a
    /// world object travels one 4-pixel token a patch; 0 makes them neighbour-frame heads, at
    /// the query's own place one frame patch back or on, which suits frame tokens (patch
    /// `(1, 8, 8)`), where an object travels an eighth of a token a frame and the content to
    /// continue from is the neighbouring frame's, not the average of every frame that the
    /// local heads which look at every frame patch start from.
    #[serde(default = "default_shift_aside")]
    pub shift_aside: usize,
    /// Share of steps whose caption is dropped (replaced by ""), for classifier-free guidance.
    pub caption_dropout: f64,
    /// Share of clips conditioned on their clean first frame (image-to-video).
    pub first_frame_share: f64,
    /// Seed of the data stream and the initial weights.
    pub seed: u64,
    /// Steps the shipped run trains for.
    pub steps: usize,
    /// Guidance scale the exported model uses by default.
    pub guidance: f64,
    /// Sampling steps the exported model uses by default.
    pub sample_steps: usize,
    /// Whether the exported model generates keyframe first, then motion, by default (two
    /// passes: text alone, then image-to-video from that clip's first frame; see
    /// `kino_pipeline::GenerateRequest::keyframe_first`).
    #[serde(default = "default_keyframe_first")]
    pub keyframe_first: bool,
    /// The detail standard deviation of a skip path around the transformer
    /// ([`kino_sampling::SkipPreconditioning`]): the clean-clip prediction is
    /// `c_skip x_s + c_out output` instead of the output itself, so at low noise the noisy clip
    /// passes through and the network only corrects it. Without it (`None`, what checkpoints
    /// written before the field existed used) every pixel of the prediction goes through the
    /// 128-wide tokens, and even a nearly clean input comes back as flat 4x4x4 blocks.
    #[serde(default)]
    pub skip_detail_std: Option<f64>,
    /// Weight of the decoded loss of a latent recipe (0: none, what checkpoints written
    /// before the field existed used): for up to [`Recipe::decoded_clips`] clips of a batch
    /// whose noise level is below [`Recipe::decoded_max_sigma`], the clean latent the DiT
    /// predicts is decoded by the frozen autoencoder and charged the autoencoder's own
    /// reconstruction error against the clip (object-weighted, frame-to-frame changes
    /// included). The latent loss weighs every latent direction alike, while the motion
    /// lies in directions of small variance that the decoder turns into where an object is
    /// in each frame; this charges errors by what they do to the video. Measured at 1
    /// (`recipes/latent.json`, on an autoencoder trained to the end of its schedule; 4
    /// seeds): at step 3,000 colour 73.7% and motion 25.0%, at step 4,000 (the shipped
    /// weights) 73.7% and 37.1%, against 68.3% and 33.5% for the weights before. The model
    /// card has the numbers.
    #[serde(default)]
    pub decoded_weight: f64,
    /// The noise levels the decoded loss applies below (above them the best prediction of
    /// the clean clip is an average of many, which no decoder makes sharp).
    #[serde(default = "default_decoded_max_sigma")]
    pub decoded_max_sigma: f64,
    /// At most this many clips of a batch (the first ones below the noise level) get the
    /// decoded loss: for eight clips the decoder's forward and backward add about a fifth to
    /// a DiT step (1.475 s against 1.24 s here).
    #[serde(default = "default_decoded_clips")]
    pub decoded_clips: usize,
    /// The clip autoencoder of a latent recipe (`None`: the model works in pixel space). With
    /// one, the DiT learns the autoencoder's latents, one latent picture per clip (time
    /// folded into channels) or one per keyframe (its `time_axis`), and the model folder gets
    /// a `vae/`.
    #[serde(default)]
    pub autoencoder: Option<crate::autoencoder::AutoencoderRecipe>,
    /// A last stage for a latent recipe: the autoencoder's decoder trained on alone once the
    /// DiT has finished its schedule (not at an earlier `--stop-at`), its encoder frozen
    /// ([`crate::decoder_polish`]); `None`: the model folder's `vae/` is the autoencoder as its
    /// own stage left it.
    #[serde(default)]
    pub decoder_polish: Option<crate::decoder_polish::DecoderPolish>,
    /// How the exported model folder stores its weights: `f32` (what checkpoints written
    /// before the field existed used) or `f16`, half the size (the loaders cast stored
    /// weights to the dtype they run in, as they do for Wan's bf16 files). Training and its
    /// checkpoints stay in f32 either way.
    #[serde(default)]
    pub export_dtype: ExportDType,
}

/// The dtype a model folder's safetensors are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportDType {
    /// 32-bit floats, the weights as trained.
    #[default]
    F32,
    /// 16-bit IEEE floats: half the size; small weights keep 11 bits of mantissa.
    F16,
}

impl ExportDType {
    /// The candle dtype.
    pub fn dtype(self) -> candle_core::DType {
        match self {
            Self::F32 => candle_core::DType::F32,
            Self::F16 => candle_core::DType::F16,
        }
    }
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            height: 32,
            width: 32,
            frames: 16,
            fps: 8.0,
            world_frames: None,
            clip_frames: None,
            dim: 128,
            heads: 4,
            layers: 6,
            ffn_dim: 512,
            patch: [4, 4, 4],
            text_dim: 64,
            text_layers: 2,
            max_sequence_length: 24,
            batch: 12,
            learning_rate: 1e-3,
            warmup_steps: 200,
            weight_decay: 0.01,
            muon: false,
            ema_decay: 0.998,
            flow_shift: 3.0,
            loss_sigma_floor: 1.0,
            foreground_weight: default_foreground_weight(),
            foreground_from_step: default_foreground_from_step(),
            layout_spread: 1.0,
            region_spread: None,
            one_object_share: default_one_object_share(),
            spin_turns: default_spin_turns(),
            self_condition: false,
            caption_parse_weight: 0.0,
            caption_parse_warm_up: 0,
            token_read_weight: 0.0,
            token_read_block: default_token_read_block(),
            position_planes: false,
            layout_planes: false,
            layout_generator_steps: default_layout_generator_steps(),
            first_frame_layout: kino_models::dit::FirstFrameLayout::FirstFrameOnly,
            self_attention_gain: 1.7,
            cross_attention_gain: 1.3,
            local_heads: 2,
            shift_heads: 0,
            shift_energy: default_shift_energy(),
            shift_gain: None,
            shift_aside: default_shift_aside(),
            caption_dropout: 0.1,
            first_frame_share: 0.5,
            seed: 0,
            steps: 3600,
            guidance: 4.0,
            sample_steps: 20,
            keyframe_first: default_keyframe_first(),
            skip_detail_std: None,
            autoencoder: None,
            decoder_polish: None,
            decoded_weight: 0.0,
            decoded_max_sigma: default_decoded_max_sigma(),
            decoded_clips: default_decoded_clips(),
            export_dtype: ExportDType::F32,
        }
    }
}

fn default_layout_generator_steps() -> usize {
    3000
}

/// Where the decoded loss stops: the median noise level of the shifted training draws.
fn default_token_read_block() -> usize {
    3
}

fn default_decoded_max_sigma() -> f64 {
    0.75
}

/// Clips of a batch that get the decoded loss.
fn default_decoded_clips() -> usize {
    8
}

/// The shipped object weighting (also what checkpoints written before the field existed get).
fn default_foreground_weight() -> f64 {
    8.0
}

/// The shipped sampling (also what checkpoints written before the field existed get: it is a
/// sampling default, not part of training).
fn default_keyframe_first() -> bool {
    true
}

/// A shift head's bias energy as the shift heads first had it (and the local heads have).
fn default_shift_energy() -> f64 {
    3.0
}

/// The world's mix, which every run before the field existed was trained on.
fn default_one_object_share() -> f64 {
    kino_world::ONE_OBJECT_SHARE
}

/// One turn a clip: what every run before the field existed was trained on.
fn default_spin_turns() -> f64 {
    1.0
}

/// Where shift heads looked before the field existed: one token aside.
fn default_shift_aside() -> usize {
    1
}

/// What checkpoints written before the field existed were trained on: the full variety.
fn default_layout_spread() -> f64 {
    1.0
}

/// What checkpoints written before the attention gains existed used.
fn unit_gain() -> f64 {
    1.0
}

/// The shipped curriculum's switch to object weighting.
fn default_foreground_from_step() -> usize {
    300
}

impl Recipe {
    /// The extra weight of object pixels at `step` (0-based).
    pub fn foreground_weight_at(&self, step: usize) -> f64 {
        if step >= self.foreground_from_step {
            self.foreground_weight
        } else {
            0.0
        }
    }

    /// A very small recipe for tests and smoke runs: 16x16, 4 frames, one block of width 32.
    pub fn tiny() -> Self {
        Self {
            height: 16,
            width: 16,
            frames: 4,
            dim: 32,
            heads: 2,
            layers: 1,
            ffn_dim: 64,
            patch: [2, 4, 4],
            text_dim: 16,
            text_layers: 1,
            batch: 4,
            learning_rate: 2e-3,
            warmup_steps: 5,
            steps: 40,
            sample_steps: 4,
            foreground_from_step: 0,
            // Whole clips, sampled keyframe first: the tests of those paths use this recipe
            // (`Recipe { world_frames: Some(8), ..Recipe::tiny() }` is a segmented one).
            world_frames: None,
            keyframe_first: true,
            ..Self::default()
        }
    }
}

impl Recipe {
    /// The default recipe with the fields of `overrides` (a JSON object of recipe fields, as
    /// a checkpoint's `state.json` records them) put in its place: how a run tries another
    /// architecture or schedule without a flag per field. An unknown field or a value of the
    /// wrong type is an error that names it.
    pub fn with_overrides(overrides: &Value) -> Result<Self, String> {
        let Value::Object(fields) = overrides else {
            return Err("a recipe file must hold a JSON object of recipe fields".into());
        };
        let mut merged = serde_json::to_value(Self::default()).map_err(|e| e.to_string())?;
        let known = merged
            .as_object_mut()
            .ok_or("the default recipe is not a JSON object")?;
        for (name, value) in fields {
            if !known.contains_key(name) {
                return Err(format!("unknown recipe field `{name}`"));
            }
            known.insert(name.clone(), value.clone());
        }
        serde_path_to_error::deserialize(merged)
            .map_err(|e| format!("recipe field `{}`: {}", e.path(), e.inner()))
    }
}

impl Recipe {
    /// Field combinations no run can train, each named: checked when a run starts, so a
    /// mistake in a recipe file is reported before its autoencoder stage, not half an hour
    /// into the run when the DiT is built.
    pub fn validate(&self) -> Result<(), String> {
        if self.layout_planes && self.caption_parse_weight <= 0.0 {
            return Err(
                "recipe field `layout_planes` needs `caption_parse_weight` above 0: the \
                 layout stage reads captions with the caption-parse head"
                    .into(),
            );
        }
        if self.layout_planes && ![1, self.frames].contains(&self.latent_size()[0]) {
            return Err(format!(
                "recipe field `layout_planes` needs a latent of one frame or one per keyframe, \
                 not {}",
                self.latent_size()[0]
            ));
        }
        if let Some(polish) = &self.decoder_polish {
            if self.autoencoder.is_none() {
                return Err(
                    "recipe field `decoder_polish` needs an `autoencoder`: it trains the \
                     autoencoder's decoder"
                        .into(),
                );
            }
            polish.check()?;
        }
        if self.caption_parse_warm_up > 0 && self.caption_parse_weight <= 0.0 {
            return Err(format!(
                "recipe field `caption_parse_warm_up` ({}) needs `caption_parse_weight` above 0",
                self.caption_parse_warm_up
            ));
        }
        if let Some(ae) = &self.autoencoder
            && ae.time_axis
            && self.frames % 4 != 1
        {
            return Err(format!(
                "recipe field `autoencoder.time_axis` needs `frames` of the form 1 + 4k (5, 9, \
                 ...), as the Wan VAE codes a video: the first frame alone, then four at a \
                 time; `frames` is {}",
                self.frames
            ));
        }
        if self.token_read_weight > 0.0 {
            if self.autoencoder.is_none() || self.latent_size()[0] != self.patch[0] {
                return Err(
                    "recipe field `token_read_weight` needs a latent recipe whose clip \
                            is one token deep (an `autoencoder`, and `patch` spanning its frames)"
                        .into(),
                );
            }
            if self.token_read_block > self.layers {
                return Err(format!(
                    "recipe field `token_read_block` ({}) is past the DiT's {} blocks (`layers`)",
                    self.token_read_block, self.layers
                ));
            }
        }
        Ok(())
    }
}

/// Channels of a video frame (RGB): the model's latent channels in pixel space.
pub const RGB: usize = 3;

impl Recipe {
    /// How widely the training clips' layouts vary ([`Recipe::layout_spread`] and
    /// [`Recipe::region_spread`]).
    pub fn layout(&self) -> kino_world::LayoutSpread {
        let paths = self.layout_spread as f32;
        kino_world::LayoutSpread {
            paths,
            regions: self.region_spread.map_or(paths, |r| r as f32),
        }
    }

    /// Transformer input channels: the noisy clip, a first-frame mask and the first frame
    /// (zeros when there is none), as Wan's image-to-video transformers stack them, then the
    /// position planes and the self-conditioning estimate for recipes that have them.
    pub fn in_channels(&self) -> usize {
        let positions = if self.position_planes {
            kino_models::dit::POSITION_PLANES
        } else {
            0
        };
        let z = self.latent_channels();
        let estimate = if self.self_condition { z } else { 0 };
        let layout = if self.layout_planes {
            crate::layout::layout_config(self).channels(self.latent_size()[0])
        } else {
            0
        };
        z + 1 + z + positions + layout + estimate
    }

    /// Channels of what the DiT denoises: the autoencoder's latent channels, else RGB.
    pub fn latent_channels(&self) -> usize {
        self.autoencoder.as_ref().map_or(RGB, |ae| ae.z_dim)
    }

    /// The shape `[frames, height, width]` of what the DiT denoises: the clip itself in pixel
    /// space; otherwise one latent picture of the autoencoder's spatial compression, or one
    /// per keyframe for an autoencoder with a time axis.
    pub fn latent_size(&self) -> [usize; 3] {
        match &self.autoencoder {
            None => [self.frames, self.height, self.width],
            Some(ae) => {
                let s = 1 << ae.dim_mult.len().saturating_sub(1);
                let frames = if ae.time_axis { self.frames } else { 1 };
                [frames, self.height / s, self.width / s]
            }
        }
    }

    /// Tokens the DiT sees per clip.
    pub fn tokens(&self) -> usize {
        let [pt, ph, pw] = self.patch;
        let [t, h, w] = self.latent_size();
        (t / pt) * (h / ph) * (w / pw)
    }

    /// `transformer/config.json` (diffusers' `WanTransformer3DModel`).
    pub fn transformer_config(&self) -> Value {
        json!({
            "_class_name": "WanTransformer3DModel",
            "_diffusers_version": "0.42.1",
            "patch_size": self.patch,
            "num_attention_heads": self.heads,
            "attention_head_dim": self.dim / self.heads,
            "in_channels": self.in_channels(),
            "out_channels": self.latent_channels(),
            "text_dim": self.text_dim,
            "freq_dim": 64,
            "ffn_dim": self.ffn_dim,
            "num_layers": self.layers,
            "cross_attn_norm": true,
            "qk_norm": "rms_norm_across_heads",
            "eps": 1e-6,
            "image_dim": null,
            "added_kv_proj_dim": null,
            "rope_max_seq_len": 1024,
            "pos_embed_seq_len": null
        })
    }

    /// `text_encoder/config.json` (transformers' `UMT5EncoderModel`) for `vocab_size` tokens.
    pub fn text_encoder_config(&self, vocab_size: usize) -> Value {
        json!({
            "architectures": ["UMT5EncoderModel"],
            "model_type": "umt5",
            "vocab_size": vocab_size,
            "d_model": self.text_dim,
            "d_kv": self.text_dim / 4,
            "d_ff": self.text_dim * 2,
            "num_layers": self.text_layers,
            "num_heads": 4,
            "relative_attention_num_buckets": 16,
            "relative_attention_max_distance": 32,
            "dropout_rate": 0.0,
            "layer_norm_epsilon": 1e-6,
            "feed_forward_proj": "gated-gelu",
            "pad_token_id": 0,
            "eos_token_id": 1,
            "decoder_start_token_id": 0,
            "is_encoder_decoder": true,
            "tie_word_embeddings": false
        })
    }

    /// `scheduler/scheduler_config.json`: Wan 2.1's flow UniPC with this recipe's shift, and
    /// `prediction_type` "sample": kino-mini predicts the clean clip (see [`crate::flow`]).
    pub fn scheduler_config(&self) -> Value {
        json!({
            "_class_name": "UniPCMultistepScheduler",
            "_diffusers_version": "0.42.1",
            "beta_end": 0.02,
            "beta_schedule": "linear",
            "beta_start": 0.0001,
            "disable_corrector": [],
            "dynamic_thresholding_ratio": 0.995,
            "final_sigmas_type": "zero",
            "flow_shift": self.flow_shift,
            "lower_order_final": true,
            "num_train_timesteps": 1000,
            "predict_x0": true,
            "prediction_type": "sample",
            "rescale_betas_zero_snr": false,
            "sample_max_value": 1.0,
            "solver_order": 2,
            "solver_p": null,
            "solver_type": "bh2",
            "steps_offset": 0,
            "thresholding": false,
            "timestep_spacing": "linspace",
            "trained_betas": null,
            "use_beta_sigmas": false,
            "use_exponential_sigmas": false,
            "use_flow_sigmas": true,
            "use_karras_sigmas": false
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    #[test]
    fn the_halves_follow_the_layout_spread_unless_the_recipe_sets_their_own() {
        let narrow = Recipe::with_overrides(&json!({"layout_spread": 0.3})).unwrap();
        assert_eq!(narrow.layout(), kino_world::LayoutSpread::uniform(0.3));
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/latent-regions.json");
        let regions = Recipe::with_overrides(
            &serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            regions.layout(),
            kino_world::LayoutSpread {
                paths: 0.3,
                regions: 1.0
            }
        );
    }

    #[test]
    fn overrides_replace_only_the_fields_they_name_and_name_what_is_wrong() {
        let recipe =
            Recipe::with_overrides(&json!({"patch": [16, 4, 4], "dim": 192, "batch": 16})).unwrap();
        assert_eq!(
            (recipe.patch, recipe.dim, recipe.batch),
            ([16, 4, 4], 192, 16)
        );
        let rest = Recipe {
            patch: Recipe::default().patch,
            dim: Recipe::default().dim,
            batch: Recipe::default().batch,
            ..recipe
        };
        assert_eq!(rest, Recipe::default());
        assert_eq!(
            Recipe::with_overrides(&json!({})).unwrap(),
            Recipe::default()
        );

        let unknown = Recipe::with_overrides(&json!({"widht": 64})).unwrap_err();
        assert!(unknown.contains("`widht`"), "{unknown}");
        let wrong = Recipe::with_overrides(&json!({"dim": "wide"})).unwrap_err();
        assert!(wrong.contains("`dim`"), "{wrong}");
        let not_object = Recipe::with_overrides(&json!([1, 2])).unwrap_err();
        assert!(not_object.contains("JSON object"), "{not_object}");
    }

    #[test]
    fn every_recipe_file_in_the_repository_loads_and_tiles_its_clip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        assert!(files.len() >= 5, "recipes found: {files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let fields: Value = serde_json::from_str(&text).unwrap();
            let recipe = Recipe::with_overrides(&fields)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let [pt, ph, pw] = recipe.patch;
            assert_eq!(recipe.frames % pt, 0, "{}", path.display());
            assert_eq!(recipe.height % ph, 0, "{}", path.display());
            assert_eq!(recipe.width % pw, 0, "{}", path.display());
            assert_eq!(recipe.dim % recipe.heads, 0, "{}", path.display());
            assert!(recipe.tokens() > 0, "{}", path.display());
            recipe
                .validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn field_combinations_no_run_can_train_are_named() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("recipes/latent-parse-tokens.json");
        let fields: Value =
            serde_json::from_str(&std::fs::read_to_string(shipped).unwrap()).unwrap();
        let recipe = Recipe::with_overrides(&fields).unwrap();
        assert_eq!(recipe.validate(), Ok(()));
        let no_parse_head = Recipe {
            caption_parse_weight: 0.0,
            ..recipe.clone()
        };
        let error = no_parse_head.validate().unwrap_err();
        assert!(
            error.contains("`caption_parse_warm_up` (1500)")
                && error.contains("`caption_parse_weight`"),
            "{error}"
        );
        let deep_tap = Recipe {
            token_read_block: 7,
            ..recipe.clone()
        };
        let error = deep_tap.validate().unwrap_err();
        assert!(
            error.contains("`token_read_block` (7)") && error.contains("6 blocks"),
            "{error}"
        );
        let pixel_space = Recipe {
            autoencoder: None,
            caption_parse_warm_up: 0,
            ..recipe.clone()
        };
        let error = pixel_space.validate().unwrap_err();
        assert!(error.contains("`token_read_weight`"), "{error}");
        // A time axis needs a frame count the Wan VAE codes (1 + 4k), and no token-read head
        // (which reads one token per place).
        let time_axis = |frames: usize| Recipe {
            frames,
            token_read_weight: 0.0,
            autoencoder: recipe.autoencoder.clone().map(|ae| {
                crate::autoencoder::AutoencoderRecipe {
                    time_axis: true,
                    ..ae
                }
            }),
            ..recipe.clone()
        };
        assert_eq!(time_axis(5).validate(), Ok(()));
        let error = time_axis(4).validate().unwrap_err();
        assert!(
            error.contains("`autoencoder.time_axis`") && error.contains("`frames` is 4"),
            "{error}"
        );
        let error = Recipe {
            token_read_weight: 0.2,
            ..time_axis(5)
        }
        .validate()
        .unwrap_err();
        assert!(error.contains("`token_read_weight`"), "{error}");
        // The layout stage reads captions with the caption-parse head.
        let planned = Recipe {
            layout_planes: true,
            ..recipe.clone()
        };
        assert_eq!(planned.validate(), Ok(()));
        let error = Recipe {
            caption_parse_weight: 0.0,
            caption_parse_warm_up: 0,
            ..planned
        }
        .validate()
        .unwrap_err();
        assert!(
            error.contains("`layout_planes`") && error.contains("`caption_parse_weight`"),
            "{error}"
        );
    }

    #[test]
    fn object_weighting_starts_at_its_step_and_old_checkpoints_get_the_curriculum() {
        let recipe = Recipe::default();
        assert_eq!(
            recipe.foreground_weight_at(recipe.foreground_from_step - 1),
            0.0
        );
        assert_eq!(
            recipe.foreground_weight_at(recipe.foreground_from_step),
            recipe.foreground_weight
        );
        // A recipe saved before the fields existed reads back as the shipped one.
        let mut saved = serde_json::to_value(&recipe).unwrap();
        let fields = saved.as_object_mut().unwrap();
        fields.remove("foreground_weight");
        fields.remove("foreground_from_step");
        fields.remove("keyframe_first");
        let read: Recipe = serde_json::from_value(saved.clone()).unwrap();
        assert_eq!(read, recipe);
        // Runs from before the attention fields started plainly: unit gains, no local or shift
        // heads.
        for field in [
            "self_attention_gain",
            "cross_attention_gain",
            "local_heads",
            "shift_heads",
            "shift_energy",
            "shift_gain",
            "shift_aside",
        ] {
            saved.as_object_mut().unwrap().remove(field);
        }
        let read: Recipe = serde_json::from_value(saved.clone()).unwrap();
        assert_eq!(
            (
                read.self_attention_gain,
                read.cross_attention_gain,
                read.local_heads,
                read.shift_heads
            ),
            (1.0, 1.0, 0, 0)
        );
        assert_eq!(
            (read.shift_energy, read.shift_gain, read.shift_aside),
            (3.0, None, 1)
        );
        // ... except the layout spread: those runs trained on the world's full variety.
        saved.as_object_mut().unwrap().remove("layout_spread");
        let read: Recipe = serde_json::from_value(saved).unwrap();
        assert_eq!(read.layout_spread, 1.0);
        // ... and on the world's mix of one- and two-object scenes.
        let mut saved = serde_json::to_value(&recipe).unwrap();
        saved.as_object_mut().unwrap().remove("one_object_share");
        let read: Recipe = serde_json::from_value(saved).unwrap();
        assert_eq!(read.one_object_share, kino_world::ONE_OBJECT_SHARE);
        // ... and on spinning objects that turned once a clip.
        let mut saved = serde_json::to_value(&recipe).unwrap();
        saved.as_object_mut().unwrap().remove("spin_turns");
        let read: Recipe = serde_json::from_value(saved).unwrap();
        assert_eq!(read.spin_turns, 1.0);
        // ... and without self-conditioning.
        let mut saved = serde_json::to_value(&recipe).unwrap();
        saved.as_object_mut().unwrap().remove("self_condition");
        let read: Recipe = serde_json::from_value(saved).unwrap();
        assert!(!read.self_condition);
        // ... and without position planes.
        let mut saved = serde_json::to_value(&recipe).unwrap();
        saved.as_object_mut().unwrap().remove("position_planes");
        let read: Recipe = serde_json::from_value(saved).unwrap();
        assert!(!read.position_planes);
        let with_planes = Recipe {
            position_planes: true,
            ..Recipe::default()
        };
        assert_eq!(read.in_channels() + 3, with_planes.in_channels());
    }
}
