//! Command-line definitions (clap). Defaults live here once; library calls take structs.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 the work failed (I/O, encoding, a model), 2 bad usage (flags, values).

Examples:
  kino world render \"a red ball moving to the right on green grass\" -o ball.mp4
  kino generate \"a blue ball moving left on green grass\" -o clip.mp4
  kino info ball.mp4
  kino movie render script.fountain -o film.mp4";

/// Kino: local text-to-video. A sentence in, a video out, on your own machine.
#[derive(Debug, Parser)]
#[command(name = "kino", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// Print nothing but errors and warnings (no progress bars, no summary).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a video from a text prompt with a diffusion model.
    Generate(GenerateArgs),
    /// The procedural world: render clips straight from simple captions (no model).
    #[command(subcommand)]
    World(WorldCommand),
    /// Describe a video, image, safetensors file or model folder.
    Info(InfoArgs),
    /// Measure speed (prints key=value lines).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Movie mode: a screenplay (Fountain) or storyboard (TOML) becomes a film.
    #[command(subcommand)]
    Movie(crate::cli_movie::MovieCommand),
    /// Train Kino's own models.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Score Kino's own models against the procedural world's ground truth.
    #[command(subcommand)]
    Eval(EvalCommand),
}

/// `kino eval ...`
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Generate clips for held-out prompts (attribute combinations never trained on) and judge
    /// colour, motion, shape and count with the world's oracle; prints a table per attribute
    /// and writes a sheet of the worst clips.
    Mini(EvalMiniArgs),
}

/// `kino eval mini`
#[derive(Debug, Args)]
pub struct EvalMiniArgs {
    /// The model to judge: `mini` (the shipped kino-mini) or a model folder (e.g. a training
    /// run's runs/kino-mini/model).
    #[arg(long, default_value = "mini")]
    pub model: String,
    /// Prompts to judge, one world caption per line (# comments); default: the fixed
    /// held-out set.
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Size of the fixed held-out set (ignored with --prompts).
    #[arg(long, default_value_t = 40)]
    pub count: usize,
    /// Seeds per prompt.
    #[arg(long, default_value_t = 2)]
    pub seeds: u64,
    /// Where to write the worst clips' sheet (PNG).
    #[arg(long, default_value = "eval-worst.png")]
    pub sheet: PathBuf,
    /// Also write every verdict and the scores as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale (default: the model's).
    #[arg(long, allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    /// Guidance rescale PHI in [0, 1]: the guided prediction is scaled back to the spread of
    /// the prompt's own, against over-saturated colours at high guidance (default: the
    /// model's; 0, plain guidance, for Wan 2.1).
    #[arg(long, value_name = "PHI")]
    pub guidance_rescale: Option<f64>,
    /// Guide only the steps whose noise level is in LOW,HIGH (each in [0, 1]); the other steps
    /// use the prompt alone and skip the negative pass (default: the model's; every step for
    /// Wan 2.1).
    #[arg(long, value_name = "LOW,HIGH", value_parser = parse_guidance_interval)]
    pub guidance_interval: Option<kino_pipeline::GuidanceInterval>,
    /// Keyframe first, then motion, in two passes: true or false (default: the model's).
    #[arg(long, value_name = "BOOL")]
    pub keyframe_first: Option<bool>,
    /// The sampler's flow shift (default: the model's).
    #[arg(long)]
    pub flow_shift: Option<f64>,
    /// Sampler (default: the model's scheduler config).
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedulerArg>,
    /// Judge image-to-video instead: the world renders each prompt's first frame and the
    /// model continues it (the motion pass alone, on a keyframe known to be right).
    #[arg(long)]
    pub world_first_frame: bool,
    /// Judge video-to-video instead: the world renders each prompt's whole clip, it is noised
    /// STRENGTH of the way along the sampling schedule (0 to 1; 1 is pure noise) and the
    /// model redraws it. Shows from which noise level down the model keeps the asked motion;
    /// 0 judges the clips as the model's VAE encodes and decodes them (its latent space's
    /// ceiling).
    #[arg(long, value_name = "STRENGTH", conflicts_with = "world_first_frame")]
    pub world_clip: Option<f64>,
}

/// `kino train ...`
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Train kino-mini on clips of the procedural world (flow matching, AdamW, EMA), with a
    /// checkpoint, an exported model folder and a loss curve every --checkpoint-every steps.
    Mini(TrainMiniArgs),
}

/// `kino train mini`
#[derive(Debug, Args)]
pub struct TrainMiniArgs {
    /// The run's folder: checkpoint/, model/ (the EMA weights, loadable with --model),
    /// loss.png, samples/.
    #[arg(long, short, default_value = "runs/kino-mini")]
    pub out: PathBuf,
    /// Train until this many steps in all (default: the recipe's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop after this step, with a checkpoint (and the export, with --export); the
    /// learning-rate schedule still spans --steps, so --resume later continues the same run.
    #[arg(long)]
    pub stop_at: Option<usize>,
    /// A JSON file of recipe fields (as a checkpoint's state.json records them) that replace
    /// the base recipe's (pixel space), e.g. `{"patch": [16, 4, 4], "dim": 192}`; the flags
    /// below apply after it. The shipped weights' recipe is
    /// crates/kino-train/recipes/latent-plan.json. Ignored with --resume.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Clips per step (default: the recipe's). Ignored with --resume.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of the data stream and initial weights. Ignored with --resume.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How widely training layouts vary about each scene's canonical one, 0 to 1 (default:
    /// the recipe's, 1, the world's full variety). Ignored with --resume.
    #[arg(long, value_parser = parse_unit_interval)]
    pub layout_spread: Option<f64>,
    /// How freely two objects swap halves of the frame, 0 to 1 (the chance is half its
    /// square; default: the recipe's, else --layout-spread). Ignored with --resume.
    #[arg(long, value_parser = parse_unit_interval)]
    pub region_spread: Option<f64>,
    /// Give the transformer absolute position planes (frame, row, column) after its
    /// conditioning channels: true or false (default: the recipe's, false). Ignored with
    /// --resume.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub position_planes: Option<bool>,
    /// Share of training clips conditioned on their first frame (image-to-video), 0 to 1
    /// (default: the recipe's, 0.5). Ignored with --resume.
    #[arg(long, value_parser = parse_unit_interval)]
    pub first_frame_share: Option<f64>,
    /// Repeat a given first frame at every frame of the conditioning channels (true), or
    /// give it at frame 0 only as Wan does (false, the recipe's default). Ignored with
    /// --resume.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub first_frame_everywhere: Option<bool>,
    /// Initial gain of the self-attention query/key norms (default: the recipe's). Ignored
    /// with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub self_attention_gain: Option<f64>,
    /// Initial gain of the cross-attention query/key norms (default: the recipe's). Ignored
    /// with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub cross_attention_gain: Option<f64>,
    /// The smallest noise level the loss divides by (default: the recipe's, 1: every noise
    /// level weighs alike, a plain clean-clip loss; 0.2 was the earlier recipe's). Ignored with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub loss_sigma_floor: Option<f64>,
    /// Self-attention heads per block that start as local heads (their query and key biases
    /// a RoPE locality pattern; default: the recipe's, 2). Ignored with --resume.
    #[arg(long)]
    pub local_heads: Option<usize>,
    /// Self-attention heads per block, after the local ones, that start as shift heads
    /// (looking one frame patch back or on and --shift-aside tokens aside; default: the
    /// recipe's, 0).
    /// Ignored with --resume.
    #[arg(long)]
    pub shift_heads: Option<usize>,
    /// Energy of the shift heads' query/key biases in multiples of the head width: how sharply
    /// they start (default: the recipe's, 3; 30 starts them on their target token). Ignored
    /// with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub shift_energy: Option<f64>,
    /// Initial gain of the shift heads' query/key norm dimensions (default: the other heads').
    /// Ignored with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub shift_gain: Option<f64>,
    /// Tokens aside the shift heads look (default: the recipe's, 1; 0 makes them
    /// neighbour-frame heads, at the query's own place one frame patch back or on, for frame
    /// tokens). Ignored with --resume.
    #[arg(long)]
    pub shift_aside: Option<usize>,
    /// Put a skip path around the transformer that carries detail of this standard deviation
    /// through the noise (clips in [-1, 1]; recipes/skip.json uses 0.2): the clean-clip
    /// prediction is c_skip x + (1 - c_skip alpha) output, so the noisy clip passes through at
    /// low noise (default: the recipe's, none). Ignored with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub skip_detail_std: Option<f64>,
    /// Peak learning rate (default: the recipe's). Ignored with --resume.
    #[arg(long, value_parser = parse_positive)]
    pub learning_rate: Option<f64>,
    /// Linear warm-up steps (default: the recipe's). Ignored with --resume.
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: change a recipe field from the checkpoint's step on, e.g.
    /// `--change loss_sigma_floor=0.3` (a fine-tune; repeat for more fields). Only the
    /// schedule, loss weights, data mix and the decoder-only last stage (`decoder_polish`, a
    /// JSON object) can change; the checkpoint's state.json records each change and the step
    /// it took effect.
    #[arg(long, value_name = "FIELD=VALUE", value_parser = kino_train::recipe_change::parse_change)]
    pub change: Vec<(String, serde_json::Value)>,
    /// Steps between checkpoints (a kill loses at most this many).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Do not render sample clips at each checkpoint.
    #[arg(long)]
    pub no_samples: bool,
    /// When training reaches its last step (or --stop-at), also write the model here (the
    /// shipped weights are made with `--export models/kino-mini`).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// For a latent recipe: take the autoencoder from this model folder's vae/ (made by the
    /// same autoencoder config, e.g. models/kino-mini) instead of training it, and train only
    /// the DiT on its latents. For a new run (or one whose autoencoder/ is still empty).
    #[arg(long, value_name = "MODEL_DIR")]
    pub autoencoder_from: Option<PathBuf>,
}

/// Output options shared by every command that writes a video.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output path. The extension picks the format: .mp4 (H.264), .gif, .y4m, or a folder
    /// name ending in / for numbered PNG frames.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Force a format instead of guessing from the extension.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Do not write the contact sheet (OUT.contact.png, a grid of frames) beside the video.
    #[arg(long)]
    pub no_contact_sheet: bool,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// MP4 with H.264 (even sizes only, up to 3840x2160).
    Mp4,
    /// Animated GIF (up to 50 fps).
    Gif,
    /// YUV4MPEG2 raw 4:2:0 video.
    Y4m,
    /// A folder of PNG frames with video.json.
    Png,
}

/// `kino world ...`
#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Render a caption such as "a red ball moving left and a blue square moving up on
    /// green grass". Vocabulary: colours red orange yellow green blue purple white black;
    /// shapes ball square triangle star; motions left right up down (moving, sliding,
    /// drifting, falling), bouncing, growing, shrinking, spinning, still; backgrounds green
    /// grass, blue sky, night sky, desert, sea, white/black background. One or two objects.
    Render(WorldRenderArgs),
}

/// `kino world render`
#[derive(Debug, Args)]
pub struct WorldRenderArgs {
    /// The caption to render.
    pub prompt: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
    /// Frame width in pixels (1-8192; MP4 needs even sizes).
    #[arg(long, default_value_t = 256)]
    pub width: u32,
    /// Frame height in pixels (1-8192; MP4 needs even sizes).
    #[arg(long, default_value_t = 256)]
    pub height: u32,
    /// Frames per second (above 0, at most 240).
    #[arg(long, default_value_t = 12.0, allow_negative_numbers = true)]
    pub fps: f64,
    /// Length in seconds (frames = round(seconds x fps)).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Seed for placement and texture jitter; the same seed gives the same clip.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the clip's ground truth (objects, per-frame positions) as JSON here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

/// `kino generate`
///
/// Defaults are those of diffusers' `WanPipeline.__call__` (Wan 2.1 T2V).
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What the video should show.
    pub prompt: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
    /// "mini" for the built-in kino-mini, or a diffusers-layout model folder (e.g. Wan 2.1
    /// T2V-1.3B with model_index.json, text_encoder/, transformer/, vae/, ...).
    #[arg(long, default_value = "mini")]
    pub model: String,
    /// What the video should not show (classifier-free guidance's negative prompt; used only
    /// when --guidance is above 1).
    #[arg(long, default_value = "")]
    pub negative: String,
    /// Width of the video in pixels (default: the model's; Wan 2.1 832, a multiple of 16).
    /// For a model that generates small and upscales (kino-mini: 32 upscaled to 256), the
    /// size the frames are resized to.
    #[arg(long)]
    pub width: Option<u32>,
    /// Height of the video in pixels (default: the model's; Wan 2.1 480). See --width.
    #[arg(long)]
    pub height: Option<u32>,
    /// Number of frames (default: the model's; Wan 2.1 81, which must be 4k + 1; kino-mini
    /// 16, a multiple of 4).
    #[arg(long)]
    pub frames: Option<u32>,
    /// Frames per second of the output file (default: the model's, 16 for Wan 2.1, 8 for
    /// kino-mini).
    #[arg(long, allow_negative_numbers = true)]
    pub fps: Option<f64>,
    /// Denoising steps (default: the model's; Wan 2.1 50).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Classifier-free guidance scale; 1 or less disables the negative pass (default: the
    /// model's; Wan 2.1 5.0).
    #[arg(long, allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    /// Guidance rescale PHI in [0, 1]: the guided prediction is scaled back to the spread of
    /// the prompt's own, against over-saturated colours at high guidance (default: the
    /// model's; 0, plain guidance, for Wan 2.1).
    #[arg(long, value_name = "PHI")]
    pub guidance_rescale: Option<f64>,
    /// Guide only the steps whose noise level is in LOW,HIGH (each in [0, 1]); the other steps
    /// use the prompt alone and skip the negative pass (default: the model's; every step for
    /// Wan 2.1).
    #[arg(long, value_name = "LOW,HIGH", value_parser = parse_guidance_interval)]
    pub guidance_interval: Option<kino_pipeline::GuidanceInterval>,
    /// Image-to-video: start the clip from this image (PNG or JPEG; resized to the model's
    /// size). Only for models trained with a first-frame condition, such as kino-mini.
    #[arg(long, value_name = "IMAGE")]
    pub first_frame: Option<PathBuf>,
    /// For models with a first-frame condition: make a keyframe with the text alone, then
    /// the clip continuing from it, in two passes: true or false (default: the model's;
    /// true for kino-mini). Ignored with --first-frame.
    #[arg(long, value_name = "BOOL")]
    pub keyframe_first: Option<bool>,
    /// The scheduler's flow shift (default: the model's scheduler config, 3.0 for Wan 2.1
    /// at 480p; 5.0 suits 720p).
    #[arg(long, allow_negative_numbers = true)]
    pub flow_shift: Option<f64>,
    /// Sampler (default: the model's scheduler config, UniPC for Wan 2.1).
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedulerArg>,
    /// Seed for the initial noise (Kino's own generator: use --noise to match another
    /// implementation's run).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prompt length in tokens; longer prompts are truncated with a warning (default: the
    /// model's; Wan 2.1 512).
    #[arg(long)]
    pub max_sequence_length: Option<usize>,
    /// Start from this noise instead of the seeded one: a .safetensors file with a tensor
    /// "noise" of shape (1, z, (frames - 1) / 4 + 1, height / 8, width / 8).
    #[arg(long, value_name = "FILE.safetensors")]
    pub noise: Option<PathBuf>,
    /// Video-to-video: redraw this clip (a .y4m file or a folder of PNG frames, e.g. from
    /// `ffmpeg -i in.mp4 in.y4m`) instead of starting from noise; its first --frames frames
    /// are resized to the model's size, so the result keeps their layout and motion.
    #[arg(long, value_name = "VIDEO")]
    pub init_video: Option<PathBuf>,
    /// With --init-video: how much of it is redrawn, above 0 to 1 (the last floor(steps x
    /// strength) denoising steps run; 1 starts from pure noise) [default: 0.8]
    #[arg(long, requires = "init_video", allow_negative_numbers = true)]
    pub strength: Option<f64>,
    /// For a model with a layout stage (kino-mini): follow this plan of where each object is
    /// at each keyframe (JSON as --save-plan writes it: per object slot, its presence,
    /// colour and shape probabilities, and per keyframe its pose [x, y, size - 1, cos, sin],
    /// x and y from -1 to 1 across the frame) instead of sampling one from the prompt.
    #[arg(long, value_name = "FILE.json")]
    pub plan: Option<PathBuf>,
    /// For a model with a layout stage: write the plan the clip followed to this JSON file,
    /// to edit and pass back with --plan.
    #[arg(long, value_name = "FILE.json")]
    pub save_plan: Option<PathBuf>,
    /// Also write the decoded frames to this .safetensors file as tensor "frames", f32
    /// (frames, height, width, 3) in [0, 1].
    #[arg(long, value_name = "FILE.safetensors")]
    pub frames_out: Option<PathBuf>,
    /// Load the model even when its estimated peak memory exceeds the available memory.
    #[arg(long)]
    pub force: bool,
}

/// `--scheduler` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchedulerArg {
    /// Flow-matching UniPC multistep (Wan 2.1's own sampler).
    Unipc,
    /// Flow-matching Euler.
    Euler,
    /// Flow-matching Euler with stochastic sampling (diffusers' `stochastic_sampling`): each
    /// step re-noises the clean estimate with fresh noise from the seed.
    EulerStochastic,
}

impl From<SchedulerArg> for kino_pipeline::SchedulerChoice {
    fn from(arg: SchedulerArg) -> Self {
        match arg {
            SchedulerArg::Unipc => Self::UniPc,
            SchedulerArg::Euler => Self::Euler,
            SchedulerArg::EulerStochastic => Self::EulerStochastic,
        }
    }
}

/// `kino info`
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A video (.mp4 .gif .y4m, PNG-frame folder), image (.png .jpg), .safetensors file or a
    /// diffusers model folder.
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `kino bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Encoding speed: world frames (rendered before timing) encoded to a temporary file.
    Encode(BenchEncodeArgs),
    /// DiT speed: one denoising forward of the Wan transformer with random weights of a real
    /// shape (no download), timed after a warm-up; compare with tools/reference/bench_dit.py.
    Dit(BenchDitArgs),
    /// Training speed: optimiser steps of the shipped kino-mini recipe (world clips, loss,
    /// backward, AdamW, EMA) in a temporary folder, timed after a warm-up.
    Train(BenchTrainArgs),
}

/// `kino bench train`
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Timed steps after the untimed warm-up (their mean and median are reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Clips per step, in every stage (default: the recipe's).
    #[arg(long)]
    pub batch: Option<usize>,
    /// A recipe file, as `kino train mini --recipe` takes (default: the base recipe). With
    /// an autoencoder (crates/kino-train/recipes/latent.json) both stages are timed, each
    /// for the same warm-up and timed steps.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Take the autoencoder from this model folder (as `kino train mini --autoencoder-from`)
    /// and time the DiT stage alone.
    #[arg(long, value_name = "DIR")]
    pub autoencoder_from: Option<PathBuf>,
}

/// `kino bench dit`
#[derive(Debug, Args)]
pub struct BenchDitArgs {
    /// Architecture: the real Wan 2.1 T2V-1.3B shape, or a tiny one for smoke tests.
    #[arg(long, value_enum, default_value = "wan-1.3b")]
    pub preset: DitPresetArg,
    /// Video frames (4k+1); the latent has (frames-1)/4+1 frames.
    #[arg(long, default_value_t = 17)]
    pub frames: u32,
    /// Frame height (multiple of 16).
    #[arg(long, default_value_t = 256)]
    pub height: u32,
    /// Frame width (multiple of 16).
    #[arg(long, default_value_t = 256)]
    pub width: u32,
    /// Weight and activation dtype.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: DitDtypeArg,
    /// Timed forwards after the untimed warm-up (their mean is reported).
    #[arg(long, default_value_t = 2)]
    pub repeat: u32,
    /// Seed of the random weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `--preset` of `kino bench dit`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DitPresetArg {
    /// Wan 2.1 T2V-1.3B: 30 blocks, 12 heads of 128, feed-forward 8960.
    #[value(name = "wan-1.3b")]
    Wan1_3b,
    /// Two blocks, two heads of 12: seconds in a debug build.
    Tiny,
}

/// `--dtype` of `kino bench dit`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DitDtypeArg {
    /// 32-bit float.
    F32,
    /// bfloat16 (the reference's f32 islands stay f32).
    Bf16,
}

/// `kino bench encode`
#[derive(Debug, Args)]
pub struct BenchEncodeArgs {
    /// Frame width.
    #[arg(long, default_value_t = 832)]
    pub width: u32,
    /// Frame height.
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Frames per run.
    #[arg(long, default_value_t = 81)]
    pub frames: u32,
    /// Frame rate written into the file.
    #[arg(long, default_value_t = 16.0)]
    pub fps: f64,
    /// Timed runs (the best and the median are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Container to encode.
    #[arg(long, value_enum, default_value = "mp4")]
    pub format: FormatArg,
}

/// A number from 0 to 1 (a layout spread, a share of clips).
fn parse_unit_interval(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside 0 to 1"))
    }
}

/// A finite number above zero (a gain, a learning rate).
fn parse_positive(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a number above 0"))
    }
}

/// `--guidance-interval LOW,HIGH`: two noise levels in [0, 1], the low one first.
fn parse_guidance_interval(text: &str) -> Result<kino_pipeline::GuidanceInterval, String> {
    let (low, high) = text
        .split_once(',')
        .ok_or_else(|| format!("expected LOW,HIGH (two noise levels), got `{text}`"))?;
    let number = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{}` is not a number", v.trim()))
    };
    kino_pipeline::GuidanceInterval::new(number(low)?, number(high)?)
}
