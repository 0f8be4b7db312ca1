//! The training loop: batches from the world, the flow-matching loss, AdamW with warm-up and
//! cosine decay, EMA, and a checkpoint (plus an exported model folder and a loss curve)
//! every few steps. A run resumes from its last checkpoint and then continues exactly as an
//! uninterrupted run would (batches and noise depend only on the seed and step).

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use kino_models::text::WanTokenizer;

use crate::checkpoint::{self, CheckpointError, CheckpointInfo};
use crate::model::MiniModel;
use crate::optim::{AdamW, Ema};
use crate::prefetch::{Prefetch, StepBatch, step_batch};
use crate::recipe::Recipe;
use crate::{curve, export, flow, vocabulary};

/// How to run training.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run's folder: `checkpoint/`, `model/` (the EMA weights as a model folder),
    /// `loss.png`, `samples/`.
    pub out: PathBuf,
    /// The recipe of a new run (a resumed run keeps its checkpoint's, less `changes`).
    pub recipe: Recipe,
    /// Recipe fields a resumed run changes from its checkpoint's step on (a fine-tune:
    /// [`crate::recipe_change::CHANGEABLE_FIELDS`]); recorded in the checkpoint. Must be
    /// empty for a new run, whose fields `recipe` gives.
    pub changes: Vec<(String, serde_json::Value)>,
    /// Train until this many steps in all (default: the recipe's).
    pub steps: Option<usize>,
    /// Stop after this step (with a checkpoint, and the export when asked), while the
    /// learning-rate schedule still spans `steps`: a run split across sessions, or one cut
    /// short, stays the same run. `None` runs to the end.
    pub stop_at: Option<usize>,
    /// Continue from the checkpoint in `out`.
    pub resume: bool,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Render a sheet of sample clips (`samples/step_NNNNNN.png`) at each checkpoint.
    pub samples: bool,
    /// When the run reaches its last step, also write the model folder here (e.g.
    /// `models/kino-mini`, where `--model mini` finds it).
    pub export: Option<PathBuf>,
    /// For a latent recipe: take the autoencoder from this model folder's `vae/` (one this
    /// recipe's autoencoder config made, such as an exported run's) instead of training it, and
    /// train the DiT on its latents. Only for a run whose `autoencoder/` holds no checkpoint
    /// yet; the imported weights become that checkpoint, at the autoencoder's last step.
    pub autoencoder_from: Option<PathBuf>,
}

/// Training events; every method has an empty default.
pub trait TrainProgress {
    /// Training starts at `step` of `total`, with `parameters` trainable scalars.
    fn begin(&mut self, _step: usize, _total: usize, _parameters: usize) {}
    /// Step `step` (1-based) finished with this loss.
    fn step(&mut self, _step: usize, _loss: f32) {}
    /// A checkpoint for `step` was written; `model_dir` is the exported model folder.
    fn checkpoint(&mut self, _step: usize, _model_dir: &Path) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;
impl TrainProgress for Quiet {}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps completed in all.
    pub steps: usize,
    /// Mean loss of the last quarter of the steps (at most 50).
    pub recent_loss: f32,
    /// Mean loss of the first quarter of the steps (at most 50).
    pub first_loss: f32,
    /// Training seconds in all, across resumes.
    pub seconds: f64,
    /// The exported model folder.
    pub model_dir: PathBuf,
}

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing the run's files.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A tensor operation failed.
    #[error("training step: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The output folder already holds a run and `resume` was not asked for.
    #[error(
        "{0} already holds a training run (checkpoint at step {1}); pass --resume to continue it, or choose another --out"
    )]
    Exists(PathBuf, usize),
    /// The output folder holds a run still in its autoencoder stage and `resume` was not
    /// asked for.
    #[error(
        "{0} already holds a training run in its autoencoder stage (checkpoint at step {1}); pass --resume to continue it, or choose another --out"
    )]
    ExistsInAutoencoderStage(PathBuf, usize),
    /// `resume` was asked for but there is nothing to resume.
    #[error("nothing to resume: {0} has no checkpoint")]
    NothingToResume(PathBuf),
    /// A checkpoint's sample sheet could not be made.
    #[error("sample sheet at a checkpoint: {0}")]
    Samples(#[from] crate::sheet::SheetError),
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The learning rate at `step` (0-based): linear warm-up, then cosine decay to 10% at
/// `total`.
pub fn learning_rate(recipe: &Recipe, step: usize, total: usize) -> f64 {
    let peak = recipe.learning_rate;
    if step < recipe.warmup_steps {
        return peak * (step + 1) as f64 / recipe.warmup_steps as f64;
    }
    let span = total.saturating_sub(recipe.warmup_steps).max(1) as f64;
    let progress = ((step - recipe.warmup_steps) as f64 / span).min(1.0);
    peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

fn mean(values: &[f32]) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    values.iter().sum::<f32>() / values.len() as f32
}

/// Writes the tokenizer where the run can read it back through the loader's code.
fn run_tokenizer(out: &Path) -> Result<WanTokenizer, TrainError> {
    let path = out.join("tokenizer.json");
    let text = vocabulary::tokenizer_json().to_string();
    std::fs::write(&path, text).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    WanTokenizer::from_file(&path).map_err(|e| TrainError::Invalid(e.to_string()))
}

/// Trains (or resumes) a run as `options` say, reporting to `progress`.
pub fn train(
    options: &TrainOptions,
    progress: &mut dyn TrainProgress,
) -> Result<TrainSummary, TrainError> {
    let device = Device::Cpu;
    let out = &options.out;
    checkpoint::create_dir(out)?;
    let existing = checkpoint::latest(out);
    // A run killed before the DiT's first checkpoint has only its autoencoder stage's.
    let autoencoder_stage = checkpoint::latest(&crate::autoencoder::run_dir(out));
    let (recipe, mut info, saved) = match (&existing, options.resume) {
        (Some(dir), true) => {
            let (tensors, mut info) = checkpoint::load(dir, &device)?;
            let (recipe, records) =
                crate::recipe_change::apply_changes(&info.recipe, &options.changes, info.step)
                    .map_err(TrainError::Invalid)?;
            info.recipe = recipe.clone();
            info.changes.extend(records);
            (recipe, info, Some(tensors))
        }
        (Some(dir), false) => {
            let step = checkpoint::read_info(dir)?.step;
            return Err(TrainError::Exists(out.clone(), step));
        }
        (None, true) => {
            let Some(dir) = &autoencoder_stage else {
                return Err(TrainError::NothingToResume(out.clone()));
            };
            if !options.changes.is_empty() {
                return Err(TrainError::Invalid(
                    "--change: the run is still in its autoencoder stage; resume it without \
                     --change, then change the recipe once the DiT stage has a checkpoint"
                        .into(),
                ));
            }
            // The run's recipe as the stage's checkpoint recorded it, not the command line's.
            let recipe = checkpoint::read_info(dir)?.recipe;
            (recipe.clone(), CheckpointInfo::new(recipe), None)
        }
        (None, false) => {
            if let (Some(dir), None) = (&autoencoder_stage, &options.autoencoder_from) {
                let step = checkpoint::read_info(dir)?.step;
                return Err(TrainError::ExistsInAutoencoderStage(out.clone(), step));
            }
            if !options.changes.is_empty() {
                return Err(TrainError::Invalid(
                    "--change is for a resumed run (--resume); a new run takes its fields \
                     from --recipe"
                        .into(),
                ));
            }
            let recipe = options.recipe.clone();
            (recipe.clone(), CheckpointInfo::new(recipe), None)
        }
    };
    let total = options.steps.unwrap_or(recipe.steps);
    if recipe.batch == 0 || options.checkpoint_every == 0 {
        return Err(TrainError::Invalid(
            "--batch and --checkpoint-every must be at least 1".into(),
        ));
    }
    recipe.validate().map_err(TrainError::Invalid)?;
    if let (None, Some(from)) = (&recipe.autoencoder, &options.autoencoder_from) {
        return Err(TrainError::Invalid(format!(
            "--autoencoder-from {}: the recipe is a pixel-space one, with no autoencoder",
            from.display()
        )));
    }
    let tokenizer = run_tokenizer(out)?;
    let autoencoder = match &recipe.autoencoder {
        Some(ae) => Some(crate::autoencoder::train_autoencoder(
            &recipe,
            ae,
            out,
            options.autoencoder_from.as_deref(),
            progress,
        )?),
        None => None,
    };
    let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &device)?;
    if saved.is_none() && recipe.caption_parse_warm_up > 0 {
        // Before the first step only: a resumed run's checkpoint holds the warmed encoder.
        crate::caption_parse::warm_up(&model, &tokenizer, &recipe)?;
    }
    if saved.is_none() && recipe.layout_planes {
        // Before the first step only: a resumed run's checkpoint holds the trained generator.
        let begun = Instant::now();
        let loss = crate::layout::train_generator(&model, &recipe)?;
        let record = out.join("layout_generator.json");
        let text = serde_json::json!({
            "steps": recipe.layout_generator_steps,
            "batch": crate::layout::GENERATOR_BATCH,
            "final_loss": loss,
            "seconds": begun.elapsed().as_secs_f64(),
        });
        std::fs::write(&record, format!("{text:#}\n")).map_err(|source| CheckpointError::Io {
            path: record.clone(),
            source,
        })?;
    }
    let vars = model.named_vars();
    let mut optimiser = AdamW::new(vars.clone())?;
    if recipe.muon {
        optimiser = optimiser.with_muon(|name| name.starts_with("transformer.blocks."));
    }
    let mut ema = Ema::new(&vars, recipe.ema_decay)?;
    if let Some(tensors) = &saved {
        checkpoint::restore_weights(tensors, &vars, "the")?;
        optimiser.restore(tensors, info.step)?;
        ema.restore(tensors)?;
    }
    let stop = options.stop_at.unwrap_or(total).min(total);
    progress.begin(info.step, stop, model.parameter_count());
    let model_dir = out.join("model");
    let started = Instant::now();
    let seconds_before = info.seconds;
    let mut prefetch = Prefetch::new(stop, {
        let (recipe, autoencoder, device) = (recipe.clone(), autoencoder.clone(), device.clone());
        move |step| step_batch(&recipe, autoencoder.as_ref(), step, &device)
    });
    // Whether this command wrote a checkpoint (one that changes the recipe must, so that the
    // change outlives it even when no step was left to train).
    let mut checkpointed = false;
    while info.step < stop {
        let step = info.step;
        let foreground = recipe.foreground_weight_at(step);
        let StepBatch { batch, draws } = prefetch.take(step)?;
        let loss = flow::loss(
            &model,
            &tokenizer,
            &batch,
            &recipe,
            foreground,
            &draws,
            autoencoder.as_ref(),
        )?;
        let grads = loss.backward()?;
        optimiser.step(
            &grads,
            learning_rate(&recipe, step, total),
            recipe.weight_decay,
        )?;
        info.step += 1;
        ema.update(&vars, info.step)?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(TrainError::Invalid(format!(
                "the loss became {value} at step {}: lower the learning rate",
                info.step
            )));
        }
        info.losses.push(value);
        progress.step(info.step, value);
        if info.step % options.checkpoint_every == 0 || info.step == stop {
            info.seconds = seconds_before + started.elapsed().as_secs_f64();
            save_checkpoint(out, &optimiser, &vars, &ema, &info)?;
            checkpointed = true;
            export::write_model_dir(&model_dir, &recipe, &ema.weights, autoencoder.as_ref())?;
            curve::write_loss_curve(&out.join("loss.png"), &info.losses)?;
            if options.samples {
                let samples = out.join("samples");
                checkpoint::create_dir(&samples)?;
                let sheet = samples.join(format!("step_{:06}.png", info.step));
                crate::sheet::write_samples_sheet(&model_dir, &sheet)?;
            }
            progress.checkpoint(info.step, &model_dir);
        }
    }
    if !options.changes.is_empty() && !checkpointed {
        save_checkpoint(out, &optimiser, &vars, &ema, &info)?;
    }
    // The decoder-only last stage, once the DiT has finished its schedule (a stage that
    // decodes the DiT's predictions must see the DiT that is exported in the end, not one
    // stopped part way); the run's own model folder then gets the polished decoder too.
    let autoencoder = match (&recipe.decoder_polish, &recipe.autoencoder, autoencoder) {
        (Some(polish), Some(ae), Some(trained)) if info.step >= total => {
            if polish.from_dit_below.is_some() {
                // The stage decodes the predictions of the DiT that is exported: its EMA.
                for ((_, var), (_, average)) in vars.iter().zip(&ema.weights) {
                    var.set(average)?;
                }
            }
            let dit = crate::decoder_polish::FinishedDit {
                model: &model,
                tokenizer: &tokenizer,
            };
            let polished = crate::decoder_polish::polish_decoder(
                &recipe,
                ae,
                polish,
                &trained,
                Some(dit),
                out,
                progress,
            )?;
            export::write_model_dir(&model_dir, &recipe, &ema.weights, Some(&polished))?;
            Some(polished)
        }
        (_, _, autoencoder) => autoencoder,
    };
    if let Some(export) = &options.export
        && info.step >= stop
    {
        export::write_model_dir(export, &recipe, &ema.weights, autoencoder.as_ref())?;
    }
    let n = info.losses.len();
    let window = (n / 4).clamp(1, 50);
    Ok(TrainSummary {
        steps: info.step,
        recent_loss: mean(&info.losses[n.saturating_sub(window)..]),
        first_loss: mean(&info.losses[..n.min(window)]),
        seconds: seconds_before + started.elapsed().as_secs_f64(),
        model_dir,
    })
}

/// Writes the DiT stage's checkpoint: weights, optimiser moments and EMA weights, and `info`.
fn save_checkpoint(
    out: &Path,
    optimiser: &AdamW,
    vars: &[(String, candle_core::Var)],
    ema: &Ema,
    info: &CheckpointInfo,
) -> Result<(), TrainError> {
    let mut tensors = checkpoint::weights_and_moments(optimiser, vars);
    for (name, avg) in &ema.weights {
        tensors.insert(format!("ema.{name}"), avg.clone());
    }
    checkpoint::save(out, &tensors, info)?;
    Ok(())
}
