//! Latent recipes: the clip autoencoder trains first (its loss falls), the DiT then learns its
//! latents, a resumed run equals an uninterrupted one, and the exported folder (with its
//! `vae/`) is a model the pipeline runs like any other.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use std::path::Path;

use kino_pipeline::{GenerateRequest, LoadOptions, NoProgress, Pipeline};
use kino_train::autoencoder::{AutoencoderRecipe, ClipAutoencoder, train_autoencoder};
use kino_train::{Quiet, Recipe, TrainOptions, train};

mod common;
use common::latent_recipe;

fn options(out: &Path, steps: usize, stop_at: Option<usize>, resume: bool) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        recipe: latent_recipe(),
        steps: Some(steps),
        stop_at,
        resume,
        checkpoint_every: 2,
        samples: false,
        export: None,
        autoencoder_from: None,
        changes: Vec::new(),
    }
}

/// A recipe no run can train is refused before its autoencoder trains: nothing is written.
#[test]
fn a_recipe_no_run_can_train_is_refused_before_the_autoencoder_stage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = TrainOptions {
        recipe: Recipe {
            caption_parse_warm_up: 10,
            caption_parse_weight: 0.0,
            ..latent_recipe()
        },
        ..options(&out, 2, None, false)
    };
    let error = train(&run, &mut Quiet).unwrap_err().to_string();
    assert!(error.contains("`caption_parse_warm_up` (10)"), "{error}");
    assert!(
        !out.join("autoencoder").exists(),
        "the autoencoder stage ran"
    );
}

/// A JSON file of a run or model folder.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn losses(state: &Path) -> Vec<f32> {
    let text = std::fs::read_to_string(state).unwrap();
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    info["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// The tensors of a run's checkpoint.
fn checkpoint_state(run: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(
        run.join("checkpoint/state.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
}

/// The training tokenizer (written into `dir`) and freshly initialised networks of `recipe`.
fn tokenizer_and_model(
    dir: &Path,
    recipe: &Recipe,
) -> (
    kino_models::text::WanTokenizer,
    kino_train::model::MiniModel,
) {
    let tokenizer_file = dir.join("tokenizer.json");
    std::fs::write(
        &tokenizer_file,
        kino_train::vocabulary::tokenizer_json().to_string(),
    )
    .unwrap();
    let tokenizer = kino_models::text::WanTokenizer::from_file(&tokenizer_file).unwrap();
    let model = kino_train::model::MiniModel::new(
        recipe,
        kino_train::vocabulary::pieces().len(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    (tokenizer, model)
}

/// A tiny latent model's clip of one prompt from text, then from that clip's first frame
/// (image to video); both must be `frames` frames of 16x16. Returns the text-only clip and
/// its request.
fn text_then_image_to_video(
    pipeline: &Pipeline,
    seed: u64,
    frames: usize,
) -> (kino_pipeline::GeneratedVideo, GenerateRequest) {
    let request = GenerateRequest {
        seed,
        output_size: None,
        ..pipeline
            .defaults()
            .request("a red ball moving left on the sea")
    };
    let clip = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(clip.dims().unwrap(), (frames, 16, 16));
    let given = GenerateRequest {
        first_frame: Some(clip.frames.get(0).unwrap()),
        keyframe_first: false,
        ..request.clone()
    };
    let continued = pipeline.generate(&given, &mut NoProgress).unwrap();
    assert_eq!(continued.dims().unwrap(), (frames, 16, 16));
    (clip, request)
}

#[test]
fn the_autoencoder_learns_first_and_the_pipeline_runs_the_exported_model() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&options(dir.path(), 3, None, false), &mut Quiet).unwrap();
    assert_eq!(summary.steps, 3);

    let ae = losses(&dir.path().join("autoencoder/checkpoint/state.json"));
    assert_eq!(ae.len(), 40);
    assert!(ae.iter().all(|l| l.is_finite()), "{ae:?}");
    assert!(dir.path().join("autoencoder/loss.png").is_file());

    // The folder holds the autoencoder as a Wan VAE whose input is the 4 frames folded.
    let model = &summary.model_dir;
    let config = read_json(&model.join("vae/config.json"));
    assert_eq!(config["in_channels"], 12);
    assert_eq!(config["z_dim"], 4);
    let index = read_json(&model.join("model_index.json"));
    assert_eq!(index["vae"][1], "AutoencoderKLWan");

    let pipeline = Pipeline::load(model, &LoadOptions::default()).unwrap();
    let rules = pipeline.size_rules();
    assert_eq!(rules.folded_frames, Some(4));
    assert_eq!(rules.latent_shape(16, 16, 4), [1, 4, 1, 8, 8]);
    assert!(pipeline.takes_first_frame());
    // Image to video: the first frame is coded through the autoencoder as training codes it.
    let (clip, request) = text_then_image_to_video(&pipeline, 5, 4);
    let again = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(kino_testkit::max_abs_diff(&clip.frames, &again.frames), 0.0);
    // The decoder draws four different frames, not one picture repeated.
    let f0 = clip.frames.get(0).unwrap();
    assert!(kino_testkit::max_abs_diff(&f0, &clip.frames.get(3).unwrap()) > 0.0);
    // Another frame count is refused, naming the field and the count the model takes.
    let wrong = GenerateRequest {
        frames: 8,
        ..request
    };
    let error = pipeline
        .generate(&wrong, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(error.contains("frames") && error.contains('4'), "{error}");
}

/// A latent recipe with absolute position planes: the transformer takes the latent, the
/// first-frame mask and condition and the three planes, and the pipeline builds all of them
/// (a transformer given the wrong channel count fails to generate).
#[test]
fn a_latent_run_with_position_planes_exports_a_model_the_pipeline_feeds_them_to() {
    let dir = tempfile::tempdir().unwrap();
    let run = TrainOptions {
        recipe: Recipe {
            position_planes: true,
            layout_spread: 0.3,
            ..latent_recipe()
        },
        ..options(dir.path(), 2, None, false)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(summary.model_dir.join("transformer/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["in_channels"], 4 + 1 + 4 + 3);
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    assert!(pipeline.takes_positions() && pipeline.takes_first_frame());
    text_then_image_to_video(&pipeline, 2, 4);
}

#[test]
fn a_resumed_latent_run_equals_an_uninterrupted_one() {
    let straight = tempfile::tempdir().unwrap();
    train(&options(straight.path(), 4, None, false), &mut Quiet).unwrap();
    let resumed = tempfile::tempdir().unwrap();
    train(&options(resumed.path(), 4, Some(2), false), &mut Quiet).unwrap();
    train(&options(resumed.path(), 4, None, true), &mut Quiet).unwrap();
    let (a, b) = (
        checkpoint_state(straight.path()),
        checkpoint_state(resumed.path()),
    );
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert_eq!(
            kino_testkit::max_abs_diff(t, &b[name]),
            0.0,
            "{name} differs after a resume"
        );
    }
    assert_eq!(
        losses(&straight.path().join("checkpoint/state.json")),
        losses(&resumed.path().join("checkpoint/state.json"))
    );
}

/// The round-trip error of a fixed batch of training clips through the autoencoder.
fn round_trip_error(ae: &ClipAutoencoder, clips: &candle_core::Tensor) -> f32 {
    let back = ae.decode(&ae.latents(clips).unwrap()).unwrap();
    (back - clips)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `recipe`'s autoencoder before any training step (latent statistics measured).
fn untrained_autoencoder(recipe: &Recipe) -> ClipAutoencoder {
    let dir = tempfile::tempdir().unwrap();
    let untrained = AutoencoderRecipe {
        steps: 0,
        ..recipe.autoencoder.clone().unwrap()
    };
    train_autoencoder(recipe, &untrained, dir.path(), None, &mut Quiet).unwrap()
}

/// Eight held clips of `recipe`, and its [`untrained_autoencoder`].
fn held_clips_and_untrained_autoencoder(recipe: &Recipe) -> (candle_core::Tensor, ClipAutoencoder) {
    let clips = kino_train::data::world_batch(recipe, 123_456, 8, &candle_core::Device::Cpu)
        .unwrap()
        .clips;
    (clips, untrained_autoencoder(recipe))
}

/// Asserts that `trained` codes `clips` with at most 85% of `untrained`'s round-trip error.
fn assert_round_trip_improves(
    untrained: &ClipAutoencoder,
    trained: &ClipAutoencoder,
    clips: &candle_core::Tensor,
) {
    let (before, after) = (
        round_trip_error(untrained, clips),
        round_trip_error(trained, clips),
    );
    assert!(
        after < 0.85 * before,
        "the round trip did not improve: {before} -> {after}"
    );
}

#[test]
fn the_autoencoder_learns_to_code_its_clips() {
    let recipe = latent_recipe();
    let (clips, untrained) = held_clips_and_untrained_autoencoder(&recipe);
    let trained_dir = tempfile::tempdir().unwrap();
    let trained = AutoencoderRecipe {
        steps: 60,
        ..recipe.autoencoder.clone().unwrap()
    };
    let trained =
        train_autoencoder(&recipe, &trained, trained_dir.path(), None, &mut Quiet).unwrap();
    assert_round_trip_improves(&untrained, &trained, &clips);
    // The decoded clip is in the clips' range and shape.
    let back = trained.decode(&trained.latents(&clips).unwrap()).unwrap();
    assert_eq!(back.dims(), clips.dims());
}

/// [`latent_recipe`] with the keyframes kept as a time axis: 5 keyframes (the Wan VAE codes
/// 1 + 4k frames), one 8x8 latent frame each.
fn time_axis_recipe() -> Recipe {
    let mut recipe = Recipe {
        frames: 5,
        ..latent_recipe()
    };
    if let Some(ae) = recipe.autoencoder.as_mut() {
        ae.time_axis = true;
    }
    recipe
}

/// A time-axis run: its autoencoder learns to code clips frame by frame (the round trip
/// improves), its DiT denoises one latent frame per keyframe, and the exported folder holds
/// a Wan VAE of RGB input without temporal compression that the pipeline runs from text and
/// from a first frame.
#[test]
fn a_time_axis_run_codes_each_keyframe_and_the_pipeline_runs_it() {
    let recipe = time_axis_recipe();
    assert_eq!(recipe.latent_size(), [5, 8, 8]);
    assert_eq!(recipe.tokens(), 5 * 8 * 8);
    let config = recipe.autoencoder.clone().unwrap();
    let (clips, untrained) = held_clips_and_untrained_autoencoder(&recipe);
    assert_eq!(untrained.latents(&clips).unwrap().dims(), &[8, 4, 5, 8, 8]);
    let dir = tempfile::tempdir().unwrap();
    let run = TrainOptions {
        recipe: recipe.clone(),
        ..options(dir.path(), 3, None, false)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    assert_eq!(summary.steps, 3);
    // The finished autoencoder stage is returned as it is.
    let trained = train_autoencoder(&recipe, &config, dir.path(), None, &mut Quiet).unwrap();
    assert_round_trip_improves(&untrained, &trained, &clips);

    let model = &summary.model_dir;
    let vae = read_json(&model.join("vae/config.json"));
    assert_eq!(vae["in_channels"], 3);
    assert_eq!(vae["out_channels"], 3);
    assert_eq!(vae["scale_factor_temporal"], 1);
    let pipeline = Pipeline::load(model, &LoadOptions::default()).unwrap();
    let rules = pipeline.size_rules();
    assert_eq!(rules.folded_frames, None);
    assert_eq!(rules.latent_shape(16, 16, 5), [1, 4, 5, 8, 8]);
    assert!(pipeline.takes_first_frame());
    let (clip, request) = text_then_image_to_video(&pipeline, 5, 5);
    let again = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(kino_testkit::max_abs_diff(&clip.frames, &again.frames), 0.0);
}

/// The first-frame condition of a time-axis latent is the clip's own first latent frame,
/// and that frame is coded from the first keyframe alone (the Wan VAE is causal in time), so
/// the pipeline, which codes only the given frame, gives the DiT what training gave it.
#[test]
fn a_time_axis_first_frame_condition_is_the_first_latent_frame_of_the_first_frame_alone() {
    let recipe = time_axis_recipe();
    let ae = untrained_autoencoder(&recipe);
    let batch = kino_train::data::world_batch(&recipe, 7, 3, &candle_core::Device::Cpu).unwrap();
    let latent = kino_train::flow::DitBatch::latents(&batch, &ae, &[true, false, true]).unwrap();
    assert_eq!(latent.clips.dims(), &[3, 4, 5, 8, 8]);
    assert_eq!(latent.objects.dims(), &[3, 1, 5, 8, 8]);
    let alone = ae.latents(&batch.clips.narrow(2, 0, 1).unwrap()).unwrap();
    assert_eq!(alone.dims(), &[3, 4, 1, 8, 8]);
    let first_frames = latent.clips.narrow(2, 0, 1).unwrap();
    assert!(kino_testkit::max_abs_diff(&first_frames, &alone) < 1e-5);
    for (row, given) in [(0, true), (1, false), (2, true)] {
        let first = latent.first.narrow(0, row, 1).unwrap();
        let expected = if given {
            alone.narrow(0, row, 1).unwrap().squeeze(2).unwrap()
        } else {
            first.zeros_like().unwrap()
        };
        let gap = kino_testkit::max_abs_diff(&first, &expected);
        assert!(gap < 1e-5, "clip {row}: first-frame latent off by {gap}");
    }
    // A later latent frame depends on the later keyframes: it is not the first one's.
    let last = latent.clips.narrow(2, 4, 1).unwrap();
    assert!(kino_testkit::max_abs_diff(&last, &first_frames) > 1e-3);
}

#[test]
fn a_latent_keyframe_model_codes_its_keyframes_and_interpolates_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = latent_recipe();
    recipe.clip_frames = Some(7);
    if let Some(ae) = recipe.autoencoder.as_mut() {
        ae.steps = 2;
    }
    let run = TrainOptions {
        recipe,
        ..options(dir.path(), 1, None, false)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let defaults = pipeline.defaults().clone();
    assert_eq!((defaults.frames, defaults.keyframes), (7, Some(4)));
    assert_eq!(pipeline.size_rules().folded_frames, Some(4));
    let request = GenerateRequest {
        seed: 1,
        output_size: None,
        ..defaults.request("a blue ball moving to the left on green grass")
    };
    assert_eq!(
        pipeline
            .generate(&request, &mut NoProgress)
            .unwrap()
            .dims()
            .unwrap(),
        (7, 16, 16)
    );
    // The round trip of a 7-frame clip codes its 4 keyframes and interpolates back to 7.
    let video =
        candle_core::Tensor::full(0.5f32, (7, 16, 16, 3), &candle_core::Device::Cpu).unwrap();
    assert_eq!(
        pipeline.autoencode(&video).unwrap().dims().unwrap(),
        (7, 16, 16)
    );
}

#[test]
fn a_still_clip_is_its_own_first_frame_condition() {
    // Image-to-video in latent space codes the given frame as the still clip that holds it
    // throughout, a clip the autoencoder has learnt to code; so for a clip that does not
    // move, the condition the DiT gets is exactly the latent it must make.
    let recipe = latent_recipe();
    let ae = untrained_autoencoder(&recipe);
    let mut batch =
        kino_train::data::world_batch(&recipe, 7, 3, &candle_core::Device::Cpu).unwrap();
    let frames = batch.clips.dim(2).unwrap();
    batch.clips = batch
        .clips
        .narrow(2, 0, 1)
        .unwrap()
        .repeat((1, 1, frames, 1, 1))
        .unwrap();
    let latent = kino_train::flow::DitBatch::latents(&batch, &ae, &[true; 3]).unwrap();
    let gap = (latent.clips.squeeze(2).unwrap() - &latent.first)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        gap < 1e-5,
        "a still clip's condition differs from its latent by {gap}"
    );
    // A moving clip's condition is not its latent: the condition holds the first frame only.
    let moving = kino_train::data::world_batch(&recipe, 7, 3, &candle_core::Device::Cpu).unwrap();
    let latent = kino_train::flow::DitBatch::latents(&moving, &ae, &[true; 3]).unwrap();
    let gap = (latent.clips.squeeze(2).unwrap() - &latent.first)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(gap > 1e-3, "a moving clip's condition equals its latent");
    // Clips not given a first frame skip its encoding: their condition is zeros, and the
    // others' is what encoding every clip gives.
    let some = kino_train::flow::DitBatch::latents(&moving, &ae, &[true, false, true]).unwrap();
    assert_eq!(kino_testkit::max_abs_diff(&some.clips, &latent.clips), 0.0);
    for (row, given) in [(0, true), (1, false), (2, true)] {
        let first = some.first.narrow(0, row, 1).unwrap();
        let expected = if given {
            latent.first.narrow(0, row, 1).unwrap()
        } else {
            first.zeros_like().unwrap()
        };
        let gap = kino_testkit::max_abs_diff(&first, &expected);
        assert!(gap < 1e-6, "clip {row}: first-frame latent off by {gap}");
    }
}

/// The dtype and the byte count of the stored tensors of a safetensors file.
fn stored(path: &Path) -> (std::collections::BTreeSet<String>, u64) {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let dtypes = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(_, info)| info["dtype"].as_str().unwrap().to_string())
        .collect();
    (dtypes, bytes.len() as u64)
}

#[test]
fn an_f16_export_is_half_the_size_and_generates_what_the_f32_one_does() {
    let export = |dtype| {
        let dir = tempfile::tempdir().unwrap();
        let mut recipe = latent_recipe();
        recipe.export_dtype = dtype;
        if let Some(ae) = recipe.autoencoder.as_mut() {
            ae.steps = 4;
        }
        let run = TrainOptions {
            recipe,
            ..options(dir.path(), 4, None, false)
        };
        let summary = train(&run, &mut Quiet).unwrap();
        (dir, summary.model_dir)
    };
    let (_keep32, f32_dir) = export(kino_train::recipe::ExportDType::F32);
    let (_keep16, f16_dir) = export(kino_train::recipe::ExportDType::F16);
    for file in [
        "transformer/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ] {
        let (dtypes32, size32) = stored(&f32_dir.join(file));
        let (dtypes16, size16) = stored(&f16_dir.join(file));
        assert_eq!(dtypes32.into_iter().collect::<Vec<_>>(), ["F32"], "{file}");
        assert_eq!(dtypes16.into_iter().collect::<Vec<_>>(), ["F16"], "{file}");
        assert!(
            size16 < size32 * 11 / 20,
            "{file}: {size16} against {size32}"
        );
    }
    let clip = |dir: &Path| {
        let pipeline = Pipeline::load(dir, &LoadOptions::default()).unwrap();
        let request = GenerateRequest {
            seed: 2,
            output_size: None,
            ..pipeline
                .defaults()
                .request("a green square moving up on the desert")
        };
        pipeline.generate(&request, &mut NoProgress).unwrap().frames
    };
    // The same training (same seed) stored two ways: the clips agree to f16's rounding.
    let gap = kino_testkit::max_abs_diff(&clip(&f32_dir), &clip(&f16_dir));
    assert!(gap > 0.0 && gap < 0.02, "f16 and f32 clips differ by {gap}");
}

#[test]
fn an_autoencoder_stopped_within_its_schedule_is_that_schedule_cut_short() {
    let recipe = latent_recipe();
    let schedule = AutoencoderRecipe {
        steps: 6,
        ..recipe.autoencoder.clone().unwrap()
    };
    let straight = tempfile::tempdir().unwrap();
    train_autoencoder(&recipe, &schedule, straight.path(), None, &mut Quiet).unwrap();
    let stopped = tempfile::tempdir().unwrap();
    let cut = AutoencoderRecipe {
        stop_at: Some(3),
        ..schedule.clone()
    };
    train_autoencoder(&recipe, &cut, stopped.path(), None, &mut Quiet).unwrap();
    let state = |dir: &Path| losses(&dir.join("autoencoder/checkpoint/state.json"));
    let (full, first) = (state(straight.path()), state(stopped.path()));
    assert_eq!(first.len(), 3);
    // The same learning rates as the whole schedule's first steps, not a 3-step schedule's.
    assert_eq!(first[..], full[..3]);
    // And the rest of the schedule resumes from there to the same end.
    train_autoencoder(&recipe, &schedule, stopped.path(), None, &mut Quiet).unwrap();
    assert_eq!(state(stopped.path()), full);
}

#[test]
fn whitening_keeps_the_round_trip_and_whitens_the_latents() {
    // The same trained autoencoder with and without whitening folded into its 1x1
    // convolutions: the clips it gives back are the same, the latents are not, and the
    // whitened ones measure mean 0 and spread 1 per channel on the held clips.
    let recipe = latent_recipe();
    let plain = AutoencoderRecipe {
        steps: 10,
        ..recipe.autoencoder.clone().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let ae = train_autoencoder(&recipe, &plain, dir.path(), None, &mut Quiet).unwrap();
    let white = AutoencoderRecipe {
        whiten: true,
        ..plain
    };
    let whitened = train_autoencoder(&recipe, &white, dir.path(), None, &mut Quiet).unwrap();
    for (mean, std) in whitened
        .config
        .latents_mean
        .iter()
        .zip(&whitened.config.latents_std)
    {
        assert!(
            mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-3,
            "{mean} {std}"
        );
    }
    let batch = kino_train::data::world_batch(&recipe, 3, 4, &candle_core::Device::Cpu).unwrap();
    let (z_plain, z_white) = (
        ae.latents(&batch.clips).unwrap(),
        whitened.latents(&batch.clips).unwrap(),
    );
    assert!(
        kino_testkit::max_abs_diff(&z_plain, &z_white) > 1e-2,
        "whitening changed no latent"
    );
    let gap = kino_testkit::max_abs_diff(
        &ae.decode(&z_plain).unwrap(),
        &whitened.decode(&z_white).unwrap(),
    );
    assert!(gap < 1e-3, "the round trip moved by {gap}");
}

/// The autoencoder learns the world's full layout variety unless its own `layout_spread` says
/// otherwise: a DiT recipe with narrow layouts trains the very weights a wide one trains (the
/// latent statistics, measured on the DiT's own clips, may differ).
#[test]
fn the_autoencoder_learns_every_layout_whatever_the_dits_spread() {
    let wide = latent_recipe();
    let ae = AutoencoderRecipe {
        steps: 3,
        ..wide.autoencoder.clone().unwrap()
    };
    let narrow = Recipe {
        layout_spread: 0.3,
        ..wide.clone()
    };
    let narrow_ae = AutoencoderRecipe {
        layout_spread: 0.3,
        ..ae.clone()
    };
    let dirs: Vec<_> = [(&wide, &ae), (&narrow, &ae), (&narrow, &narrow_ae)]
        .into_iter()
        .map(|(recipe, ae)| {
            let dir = tempfile::tempdir().unwrap();
            train_autoencoder(recipe, ae, dir.path(), None, &mut Quiet).unwrap();
            dir
        })
        .collect();
    let state = |i: usize| {
        dirs[i]
            .path()
            .join("autoencoder/checkpoint/state.safetensors")
    };
    assert_same_tensors(&state(0), &state(1));
    let cpu = candle_core::Device::Cpu;
    let (a, c) = (
        candle_core::safetensors::load(state(0), &cpu).unwrap(),
        candle_core::safetensors::load(state(2), &cpu).unwrap(),
    );
    assert!(
        a.iter()
            .any(|(name, t)| kino_testkit::max_abs_diff(t, &c[name]) > 0.0),
        "an autoencoder's own narrow spread changed nothing"
    );
}

/// Every tensor of two safetensors files, by name: the names agree and no value differs.
fn assert_same_tensors(a: &Path, b: &Path) {
    let cpu = candle_core::Device::Cpu;
    let (a, b) = (
        candle_core::safetensors::load(a, &cpu).unwrap(),
        candle_core::safetensors::load(b, &cpu).unwrap(),
    );
    let mut names: Vec<_> = a.keys().collect();
    names.sort();
    let mut other: Vec<_> = b.keys().collect();
    other.sort();
    assert_eq!(names, other);
    for name in names {
        assert_eq!(
            kino_testkit::max_abs_diff(&a[name], &b[name]),
            0.0,
            "{name}"
        );
    }
}

/// A run killed after its autoencoder stage's checkpoint and before the DiT's first one has
/// only the stage's: starting it again is refused, `--resume` continues it with the recipe
/// the stage recorded (not the command line's) and ends as the uninterrupted run does.
#[test]
fn a_run_killed_before_the_dits_first_checkpoint_resumes_from_its_autoencoder_stage() {
    let (straight, killed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [straight.path(), killed.path()] {
        train(&options(dir, 2, None, false), &mut Quiet).unwrap();
    }
    for name in ["checkpoint", "model"] {
        std::fs::remove_dir_all(killed.path().join(name)).unwrap();
    }
    let again = train(&options(killed.path(), 2, None, false), &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        again.contains("autoencoder stage") && again.contains("--resume"),
        "{again}"
    );
    let changed = TrainOptions {
        changes: vec![("loss_sigma_floor".into(), serde_json::json!(0.3))],
        ..options(killed.path(), 2, None, true)
    };
    let refused = train(&changed, &mut Quiet).unwrap_err().to_string();
    assert!(refused.contains("autoencoder stage"), "{refused}");

    let resumed = TrainOptions {
        recipe: Recipe {
            dim: 64,
            ..latent_recipe()
        },
        ..options(killed.path(), 2, None, true)
    };
    assert_eq!(train(&resumed, &mut Quiet).unwrap().steps, 2);
    assert_same_tensors(
        &straight.path().join("checkpoint/state.safetensors"),
        &killed.path().join("checkpoint/state.safetensors"),
    );
}

#[test]
fn a_dit_trained_on_an_imported_autoencoder_is_the_run_that_trained_it() {
    // Run A trains its autoencoder, then the DiT. Run B takes A's exported autoencoder
    // instead of training one: it measures the same latent statistics, and its DiT, seeded
    // alike, ends with A's weights. The export is f16, as the shipped recipe's: A's DiT
    // trains on its autoencoder rounded as the export rounds it, which is what B imports.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let f16 = |out: &Path| TrainOptions {
        recipe: Recipe {
            export_dtype: kino_train::recipe::ExportDType::F16,
            ..latent_recipe()
        },
        ..options(out, 2, None, false)
    };
    let trained = train(&f16(a.path()), &mut Quiet).unwrap();
    let imported = TrainOptions {
        autoencoder_from: Some(trained.model_dir.clone()),
        ..f16(b.path())
    };
    let summary = train(&imported, &mut Quiet).unwrap();
    let state = b.path().join("autoencoder/checkpoint/state.json");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        info["step"], 40,
        "the import stands at the autoencoder's last step"
    );
    assert!(losses(&state).is_empty(), "nothing was trained");
    let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(
        read(&trained.model_dir, "vae/config.json"),
        read(&summary.model_dir, "vae/config.json")
    );
    for file in [
        "vae/diffusion_pytorch_model.safetensors",
        "transformer/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ] {
        assert_same_tensors(&trained.model_dir.join(file), &summary.model_dir.join(file));
    }

    // A run that already has an autoencoder keeps it: importing over it is refused.
    let recipe = latent_recipe();
    let ae = recipe.autoencoder.clone().unwrap();
    let again = train_autoencoder(&recipe, &ae, b.path(), Some(&trained.model_dir), &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(again.contains("already holds an autoencoder"), "{again}");

    // Another config's autoencoder is refused, naming the file and the tensor.
    let wider = AutoencoderRecipe { base_dim: 16, ..ae };
    let c = tempfile::tempdir().unwrap();
    let error = train_autoencoder(
        &recipe,
        &wider,
        c.path(),
        Some(&trained.model_dir),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("diffusion_pytorch_model.safetensors") && error.contains("tensor "),
        "{error}"
    );
}

#[test]
fn the_decoded_loss_charges_the_decoded_clip_for_the_clips_below_its_noise_level() {
    let device = candle_core::Device::Cpu;
    let recipe = latent_recipe();
    let ae_recipe = recipe.autoencoder.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ae = train_autoencoder(
        &recipe,
        &AutoencoderRecipe {
            steps: 6,
            ..ae_recipe.clone()
        },
        dir.path(),
        None,
        &mut Quiet,
    )
    .unwrap();
    // The decoded error of a clip's own latents is the autoencoder's reconstruction error,
    // which a perturbed latent raises.
    let batch = kino_train::data::world_batch(&recipe, 3, 4, &device).unwrap();
    let latent = kino_train::flow::DitBatch::latents(&batch, &ae, &[false; 4]).unwrap();
    let (clips, objects) = latent.pixels.clone().unwrap();
    let own = ae
        .decoded_error(&latent.clips, &clips, &objects, &ae_recipe)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let shifted = (&latent.clips + 0.5).unwrap();
    let off = ae
        .decoded_error(&shifted, &clips, &objects, &ae_recipe)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(own > 0.0 && off > own, "own {own}, shifted {off}");

    // The loss adds `decoded_weight` times the decoded term, and nothing when no clip's
    // noise level is below `decoded_max_sigma`; its gradient reaches the transformer.
    let (tokenizer, model) = tokenizer_and_model(dir.path(), &recipe);
    let mut rng = kino_world::Rng::new(5);
    let mut draws = kino_train::flow::StepDraws::new(&recipe, 4, &mut rng);
    draws.sigmas = vec![0.2, 0.9, 0.5, 0.95];
    let loss = |weight: f64, max_sigma: f64| {
        let recipe = Recipe {
            decoded_weight: weight,
            decoded_max_sigma: max_sigma,
            decoded_clips: 8,
            ..recipe.clone()
        };
        kino_train::flow::loss(&model, &tokenizer, &latent, &recipe, 0.0, &draws, Some(&ae))
            .unwrap()
    };
    let value = |t: &candle_core::Tensor| t.to_scalar::<f32>().unwrap();
    let plain = value(&loss(0.0, 0.75));
    let once = value(&loss(1.0, 0.75)) - plain;
    let twice = value(&loss(2.0, 0.75)) - plain;
    assert!(once > 0.0, "the decoded term added {once}");
    assert!(
        (twice - 2.0 * once).abs() < 1e-4 * once.max(1.0),
        "weight 2 added {twice}, weight 1 {once}"
    );
    assert_eq!(value(&loss(1.0, 0.1)), plain, "no clip is below 0.1");
    let decoded_only = (loss(1.0, 0.75) - loss(0.0, 0.75)).unwrap();
    let grads = decoded_only.backward().unwrap();
    let reached = model
        .named_vars()
        .iter()
        .filter(|(name, _)| name.starts_with("transformer."))
        .any(|(_, var)| {
            grads.get(var.as_tensor()).is_some_and(|g| {
                g.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            })
        });
    assert!(
        reached,
        "the decoded term's gradient does not reach the transformer"
    );
}

/// The token-read objective: its gradient trains the blocks below the tokens it reads and no
/// block above them; its head is kept in the checkpoint (so a resumed run equals an
/// uninterrupted one) and left out of the exported folder, which is a model the pipeline runs.
#[test]
fn the_token_read_objective_trains_the_blocks_below_its_tap_and_is_not_exported() {
    let device = candle_core::Device::Cpu;
    let recipe = Recipe {
        layers: 2,
        token_read_weight: 0.5,
        token_read_block: 1,
        ..latent_recipe()
    };
    let ae_recipe = recipe.autoencoder.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ae = train_autoencoder(
        &recipe,
        &AutoencoderRecipe {
            steps: 2,
            ..ae_recipe
        },
        dir.path(),
        None,
        &mut Quiet,
    )
    .unwrap();
    let batch = kino_train::data::world_batch(&recipe, 3, 4, &device).unwrap();
    let latent = kino_train::flow::DitBatch::latents(&batch, &ae, &[false; 4]).unwrap();
    let (tokenizer, model) = tokenizer_and_model(dir.path(), &recipe);
    let draws = kino_train::flow::StepDraws::new(&recipe, 4, &mut kino_world::Rng::new(5));
    let loss = |weight: f64| {
        let recipe = Recipe {
            token_read_weight: weight,
            ..recipe.clone()
        };
        kino_train::flow::loss(&model, &tokenizer, &latent, &recipe, 0.0, &draws, Some(&ae))
            .unwrap()
    };
    let grads_with = loss(0.5).backward().unwrap();
    let grads_without = loss(0.0).backward().unwrap();
    let change = |prefix: &str| {
        model
            .named_vars()
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, var)| {
                let with = grads_with.get(var.as_tensor());
                let without = grads_without.get(var.as_tensor());
                match (with, without) {
                    (Some(a), Some(b)) => kino_testkit::max_abs_diff(a, b),
                    (Some(a), None) => kino_testkit::max_abs_diff(a, &a.zeros_like().unwrap()),
                    _ => panic!("{name} has no gradient"),
                }
            })
            .fold(0f32, f32::max)
    };
    assert!(change("transformer.blocks.0.") > 1e-6, "block 0 untouched");
    assert!(change("token_read.") > 1e-6, "the head untouched");
    assert!(change("text_encoder.") > 1e-6, "the text encoder untouched");
    assert!(change("transformer.blocks.1.") < 1e-7, "block 1 trained");
    assert!(
        change("transformer.proj_out.") < 1e-7,
        "the output head trained"
    );

    let run = |out: &Path, recipe: &Recipe, stop_at: Option<usize>, resume: bool| TrainOptions {
        recipe: recipe.clone(),
        ..options(out, 2, stop_at, resume)
    };
    let straight = tempfile::tempdir().unwrap();
    let summary = train(&run(straight.path(), &recipe, None, false), &mut Quiet).unwrap();
    let resumed = tempfile::tempdir().unwrap();
    train(&run(resumed.path(), &recipe, Some(1), false), &mut Quiet).unwrap();
    train(&run(resumed.path(), &recipe, None, true), &mut Quiet).unwrap();
    let (a, b) = (
        checkpoint_state(straight.path()),
        checkpoint_state(resumed.path()),
    );
    assert!(a.keys().any(|name| name.contains("token_read.read")));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert_eq!(kino_testkit::max_abs_diff(t, &b[name]), 0.0, "{name}");
    }
    let plain_recipe = Recipe {
        token_read_weight: 0.0,
        ..recipe.clone()
    };
    let plain = tempfile::tempdir().unwrap();
    let plain_summary = train(&run(plain.path(), &plain_recipe, None, false), &mut Quiet).unwrap();
    let names = |model: &Path| {
        let mut names: Vec<String> = candle_core::safetensors::load(
            model.join("transformer/diffusion_pytorch_model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap()
        .into_keys()
        .collect();
        names.sort();
        names
    };
    assert_eq!(names(&summary.model_dir), names(&plain_summary.model_dir));
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let (clip, _) = text_then_image_to_video(&pipeline, 1, 4);
    assert_eq!(clip.dims().unwrap(), (4, 16, 16));
}

/// The decoder-only last stage of [`latent_recipe`] used by the tests below.
fn decoder_polish() -> kino_train::decoder_polish::DecoderPolish {
    kino_train::decoder_polish::DecoderPolish {
        steps: 30,
        batch: 8,
        learning_rate: 3e-3,
        object_weight: 24.0,
        motion_weight: 4.0,
        from_dit_below: None,
    }
}

/// Polishing the decoder keeps the encoder and its latents exactly and improves the round
/// trip of held clips.
#[test]
fn a_polished_decoder_draws_the_same_latents_closer_to_their_clips() {
    let recipe = latent_recipe();
    let ae = recipe.autoencoder.clone().unwrap();
    let clips = kino_train::data::world_batch(&recipe, 123_456, 8, &candle_core::Device::Cpu)
        .unwrap()
        .clips;
    let dir = tempfile::tempdir().unwrap();
    let trained = train_autoencoder(&recipe, &ae, dir.path(), None, &mut Quiet).unwrap();
    let polish = |stage: &kino_train::decoder_polish::DecoderPolish, out: &Path| {
        kino_train::decoder_polish::polish_decoder(
            &recipe, &ae, stage, &trained, None, out, &mut Quiet,
        )
    };
    let polished = polish(&decoder_polish(), dir.path()).unwrap();
    let before: std::collections::HashMap<_, _> = trained.weights.iter().cloned().collect();
    let (mut kept, mut changed) = (0, 0);
    for (name, tensor) in &polished.weights {
        let diff = kino_testkit::max_abs_diff(tensor, &before[name]);
        if name.starts_with("decoder.") || name.starts_with("post_quant_conv.") {
            changed += usize::from(diff > 0.0);
        } else {
            assert_eq!(diff, 0.0, "{name} is not the decoder's but changed");
            kept += 1;
        }
    }
    assert!(kept > 0 && changed > 0, "kept {kept}, changed {changed}");
    assert_eq!(
        kino_testkit::max_abs_diff(
            &trained.latents(&clips).unwrap(),
            &polished.latents(&clips).unwrap()
        ),
        0.0
    );
    let (plain, better) = (
        round_trip_error(&trained, &clips),
        round_trip_error(&polished, &clips),
    );
    assert!(
        better < plain,
        "the round trip did not improve: {plain} -> {better}"
    );
    // Decoding the DiT's predictions needs the DiT.
    let from_dit = kino_train::decoder_polish::DecoderPolish {
        from_dit_below: Some(0.5),
        ..decoder_polish()
    };
    let without_dit = polish(&from_dit, tempfile::tempdir().unwrap().path())
        .unwrap_err()
        .to_string();
    assert!(without_dit.contains("from_dit_below"), "{without_dit}");
    // A second call finds the stage complete and returns the same decoder; a stage of other
    // weights is not continued from it.
    let again = polish(&decoder_polish(), dir.path()).unwrap();
    let heavier = kino_train::decoder_polish::DecoderPolish {
        object_weight: 4.0,
        ..decoder_polish()
    };
    let other = polish(&heavier, dir.path()).unwrap_err().to_string();
    assert!(other.contains("another `decoder_polish`"), "{other}");
    for ((name, a), (_, b)) in polished.weights.iter().zip(&again.weights) {
        assert_eq!(kino_testkit::max_abs_diff(a, b), 0.0, "{name}");
    }
}

/// A run whose recipe has the decoder stage (decoding the DiT's predictions), and a run
/// resumed after its DiT's last step with `--change decoder_polish=...`, export the same
/// model: the stage follows the DiT and touches only the `vae/`'s decoder.
#[test]
fn a_run_with_a_decoder_polish_equals_one_resumed_to_add_it() {
    let polish = kino_train::decoder_polish::DecoderPolish {
        from_dit_below: Some(0.75),
        ..decoder_polish()
    };
    let with_stage = |out: &Path, export: &Path| TrainOptions {
        recipe: Recipe {
            decoder_polish: Some(polish.clone()),
            ..latent_recipe()
        },
        export: Some(export.to_path_buf()),
        ..options(out, 2, None, false)
    };
    let straight = tempfile::tempdir().unwrap();
    let straight_export = straight.path().join("export");
    train(
        &with_stage(&straight.path().join("run"), &straight_export),
        &mut Quiet,
    )
    .unwrap();
    assert!(straight.path().join("run/decoder/loss.png").exists());

    let resumed = tempfile::tempdir().unwrap();
    let run = resumed.path().join("run");
    let plain = train(&options(&run, 2, None, false), &mut Quiet).unwrap();
    let vae = |model: &Path| model.join("vae/diffusion_pytorch_model.safetensors");
    let unpolished =
        candle_core::safetensors::load(vae(&plain.model_dir), &candle_core::Device::Cpu).unwrap();
    let unpolished_config = read_json(&plain.model_dir.join("vae/config.json"));
    let resumed_export = resumed.path().join("export");
    let add = TrainOptions {
        changes: vec![(
            "decoder_polish".into(),
            serde_json::to_value(&polish).unwrap(),
        )],
        export: Some(resumed_export.clone()),
        ..options(&run, 2, None, true)
    };
    train(&add, &mut Quiet).unwrap();
    for file in [
        "vae/diffusion_pytorch_model.safetensors",
        "transformer/diffusion_pytorch_model.safetensors",
    ] {
        assert_same_tensors(&straight_export.join(file), &resumed_export.join(file));
    }
    assert_same_tensors(&vae(&run.join("model")), &vae(&resumed_export));
    let polished =
        candle_core::safetensors::load(vae(&resumed_export), &candle_core::Device::Cpu).unwrap();
    let decoder_moved = polished.iter().any(|(name, t)| {
        name.starts_with("decoder.") && kino_testkit::max_abs_diff(t, &unpolished[name]) > 0.0
    });
    assert!(decoder_moved, "the decoder was not polished");
    for (name, t) in &polished {
        if name.starts_with("encoder.") || name.starts_with("quant_conv.") {
            assert_eq!(
                kino_testkit::max_abs_diff(t, &unpolished[name]),
                0.0,
                "{name}"
            );
        }
    }
    // The latent statistics the pipeline normalises by are the autoencoder's own.
    assert_eq!(
        unpolished_config,
        read_json(&resumed_export.join("vae/config.json"))
    );
    // The checkpoint keeps the change: resumed again without it, the run still exports the
    // polished decoder.
    let again_export = resumed.path().join("again");
    let again = TrainOptions {
        export: Some(again_export.clone()),
        ..options(&run, 2, None, true)
    };
    train(&again, &mut Quiet).unwrap();
    assert_same_tensors(&vae(&resumed_export), &vae(&again_export));
    let pipeline = Pipeline::load(&resumed_export, &LoadOptions::default()).unwrap();
    text_then_image_to_video(&pipeline, 3, 4);
}
