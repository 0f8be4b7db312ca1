//! Training behaviour on the tiny recipe: the loss falls, a resumed run equals an
//! uninterrupted one, and an exported checkpoint is a model folder the pipeline runs.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use std::path::Path;

use candle_core::Tensor;
use kino_pipeline::{LoadOptions, NoProgress, Pipeline};
use kino_train::{Quiet, Recipe, TrainOptions, train};

fn options(out: &Path, steps: usize, resume: bool, every: usize) -> TrainOptions {
    TrainOptions {
        out: out.to_path_buf(),
        recipe: Recipe::tiny(),
        steps: Some(steps),
        stop_at: None,
        resume,
        checkpoint_every: every,
        samples: true,
        export: None,
        autoencoder_from: None,
        changes: Vec::new(),
    }
}

fn weights(out: &Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(
        out.join("checkpoint/state.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap()
}

#[test]
fn a_short_run_lowers_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&options(dir.path(), 40, false, 40), &mut Quiet).unwrap();
    assert_eq!(summary.steps, 40);
    // The untrained model predicts a zero clip, so its loss (the recipe's plain clean-clip
    // loss) starts near the clips' mean square, about 0.5 for the world's colours in [-1, 1].
    assert!(summary.first_loss > 0.3, "{summary:?}");
    assert!(
        summary.recent_loss < 0.8 * summary.first_loss,
        "loss did not fall: {summary:?}"
    );
    assert!(dir.path().join("loss.png").is_file());
    let sheet = image::open(dir.path().join("samples/step_000040.png")).unwrap();
    assert_eq!(sheet.height(), 6 * (16 * 8 + 2) + 2); // six sample prompts, zoom 8
    let image = image::open(dir.path().join("loss.png")).unwrap();
    assert_eq!((image.width(), image.height()), (800, 400));
}

/// Trains `recipe` 6 steps straight, and again stopped at step 3 and resumed; the two runs'
/// checkpoints (weights, optimiser state, averages) must match.
fn assert_resumed_equals_uninterrupted(recipe: &Recipe) {
    let with = |out: &Path, resume: bool| TrainOptions {
        recipe: recipe.clone(),
        ..options(out, 6, resume, 3)
    };
    let straight = tempfile::tempdir().unwrap();
    train(&with(straight.path(), false), &mut Quiet).unwrap();

    // Stopped at step 3 of a 6-step schedule (as a kill after that checkpoint would).
    let resumed = tempfile::tempdir().unwrap();
    let stopped = TrainOptions {
        stop_at: Some(3),
        ..with(resumed.path(), false)
    };
    assert_eq!(train(&stopped, &mut Quiet).unwrap().steps, 3);
    // Starting again without --resume must not overwrite the run.
    let err = train(&with(resumed.path(), false), &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let summary = train(&with(resumed.path(), true), &mut Quiet).unwrap();
    assert_eq!(summary.steps, 6);

    let (a, b) = (weights(straight.path()), weights(resumed.path()));
    assert_eq!(a.len(), b.len());
    for (name, ta) in &a {
        let diff = kino_testkit::max_abs_diff(ta, &b[name]);
        assert!(diff <= 1e-6, "{name} differs by {diff}");
    }
}

/// Trains `recipe` for 40 steps in `out` (no sample sheets) and checks the loss fell by a
/// fifth.
fn train_40_steps_lowering_the_loss(out: &Path, recipe: Recipe) -> kino_train::TrainSummary {
    let run = TrainOptions {
        recipe,
        samples: false,
        ..options(out, 40, false, 40)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    assert!(
        summary.recent_loss < 0.8 * summary.first_loss,
        "loss did not fall: {summary:?}"
    );
    summary
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    assert_resumed_equals_uninterrupted(&Recipe::tiny());
}

/// Muon's momentum is checkpointed as AdamW's first moment is, so a Muon run resumes exactly
/// too; its matrices move (the update is not lost) and the run trains.
#[test]
fn a_muon_run_resumes_exactly_and_trains() {
    let recipe = Recipe {
        muon: true,
        ..Recipe::tiny()
    };
    assert_resumed_equals_uninterrupted(&recipe);
    let dir = tempfile::tempdir().unwrap();
    train_40_steps_lowering_the_loss(dir.path(), recipe);
    let state = weights(dir.path());
    let muon_matrices: Vec<_> = state
        .keys()
        .filter(|k| k.starts_with("m.transformer.blocks.") && k.ends_with(".weight"))
        .filter(|k| state[*k].rank() == 2)
        .collect();
    assert!(!muon_matrices.is_empty());
    for key in muon_matrices {
        // Muon keeps no second moment: it stays zero for its matrices.
        let second = key.replacen("m.", "v.", 1);
        let v = state[&second].abs().unwrap().sum_all().unwrap();
        assert_eq!(v.to_scalar::<f32>().unwrap(), 0.0, "{second}");
    }
}

/// `--resume --change FIELD=VALUE`: the run goes on with the new value from its checkpoint's
/// step, keeps it in later resumes, and its state.json records the change; a new run, or a
/// field that shapes the networks, is refused before anything trains.
#[test]
fn a_resumed_run_can_change_a_loss_weight_and_records_the_change() {
    let floor = vec![("loss_sigma_floor".to_string(), serde_json::json!(0.3))];
    let state = |dir: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join("checkpoint/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let (plain, changed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [plain.path(), changed.path()] {
        let stopped = TrainOptions {
            stop_at: Some(2),
            ..options(dir, 4, false, 1)
        };
        train(&stopped, &mut Quiet).unwrap();
    }

    let fresh = tempfile::tempdir().unwrap();
    let new_run = TrainOptions {
        changes: floor.clone(),
        ..options(fresh.path(), 4, false, 1)
    };
    let err = train(&new_run, &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("--change is for a resumed run"), "{err}");
    let wider = TrainOptions {
        changes: vec![("dim".to_string(), serde_json::json!(64))],
        ..options(changed.path(), 4, true, 1)
    };
    let err = train(&wider, &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("cannot change `dim`"), "{err}");
    assert_eq!(
        state(changed.path())["step"],
        2,
        "a refused change trains nothing"
    );

    let fine_tune = TrainOptions {
        changes: floor,
        stop_at: Some(3),
        ..options(changed.path(), 4, true, 1)
    };
    train(&fine_tune, &mut Quiet).unwrap();
    train(&options(changed.path(), 4, true, 1), &mut Quiet).unwrap();
    train(&options(plain.path(), 4, true, 1), &mut Quiet).unwrap();

    let (info, before) = (state(changed.path()), state(plain.path()));
    assert_eq!(info["step"], 4);
    assert_eq!(info["recipe"]["loss_sigma_floor"], 0.3);
    assert_eq!(
        info["changes"],
        serde_json::json!([{
            "from_step": 2,
            "field": "loss_sigma_floor",
            "before": Recipe::tiny().loss_sigma_floor,
            "after": 0.3,
        }])
    );
    assert_eq!(
        before["recipe"]["loss_sigma_floor"],
        Recipe::tiny().loss_sigma_floor
    );
    assert!(before.get("changes").is_none());
    // The changed weighting trained: the two runs part after step 2.
    let (a, b) = (weights(plain.path()), weights(changed.path()));
    let largest = a
        .iter()
        .map(|(name, ta)| kino_testkit::max_abs_diff(ta, &b[name]))
        .fold(0.0f32, f32::max);
    assert!(
        largest > 1e-4,
        "the fine-tune trained as the plain run did: {largest}"
    );
}

#[test]
fn resuming_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = train(&options(dir.path(), 2, true, 1), &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

#[test]
fn an_exported_checkpoint_generates_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&options(dir.path(), 2, false, 2), &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    assert!(pipeline.takes_first_frame());
    let defaults = pipeline.defaults().clone();
    assert_eq!(
        (defaults.height, defaults.width, defaults.frames),
        (16, 16, 4)
    );
    let run = |seed| {
        let request = kino_pipeline::GenerateRequest {
            seed,
            ..defaults.request("a red ball moving left on green grass")
        };
        let video = pipeline.generate(&request, &mut NoProgress).unwrap();
        assert_eq!(video.dims().unwrap(), (4, 256, 256));
        video.to_rgb8().unwrap()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn a_run_with_position_planes_exports_a_model_the_pipeline_feeds_them_to() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Recipe {
        position_planes: true,
        layout_spread: 0.25,
        ..Recipe::tiny()
    };
    let run = TrainOptions {
        recipe,
        ..options(dir.path(), 2, false, 2)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    assert!(pipeline.takes_positions() && pipeline.takes_first_frame());
    let plain = tempfile::tempdir().unwrap();
    let summary = train(&options(plain.path(), 1, false, 1), &mut Quiet).unwrap();
    let without = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    assert!(!without.takes_positions() && without.takes_first_frame());
    // The pipeline builds the 10 input channels and generates; so does image-to-video.
    let defaults = pipeline.defaults().clone();
    let request = defaults.request("a red ball moving left on green grass");
    let video = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(video.dims().unwrap(), (4, 256, 256));
    let first = kino_pipeline::GenerateRequest {
        keyframe_first: true,
        ..request
    };
    assert_eq!(
        pipeline
            .generate(&first, &mut NoProgress)
            .unwrap()
            .dims()
            .unwrap(),
        (4, 256, 256)
    );
}

/// Keyframe-first sampling is exactly a text-only clip followed by an image-to-video clip from
/// its first frame, and it differs from one text-only pass.
#[test]
fn keyframe_first_is_text_to_video_then_image_to_video_from_its_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&options(dir.path(), 2, false, 2), &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let defaults = pipeline.defaults().clone();
    assert!(
        defaults.keyframe_first,
        "the recipe exports keyframe-first sampling"
    );
    let base = kino_pipeline::GenerateRequest {
        seed: 5,
        output_size: None,
        ..defaults.request("a blue square moving up in the desert")
    };
    let two_pass = pipeline.generate(&base, &mut NoProgress).unwrap();
    let text_only = kino_pipeline::GenerateRequest {
        keyframe_first: false,
        ..base.clone()
    };
    let scene = pipeline.generate(&text_only, &mut NoProgress).unwrap();
    let by_hand = pipeline
        .generate(
            &kino_pipeline::GenerateRequest {
                first_frame: Some(scene.frames.get(0).unwrap()),
                ..text_only.clone()
            },
            &mut NoProgress,
        )
        .unwrap();
    assert_eq!(two_pass.to_rgb8().unwrap(), by_hand.to_rgb8().unwrap());
    assert_ne!(two_pass.to_rgb8().unwrap(), scene.to_rgb8().unwrap());
}

/// A run that repeats the first frame at every frame records that layout in its model folder,
/// and the pipeline conditions image-to-video with it (the same weights under the other
/// layout make another clip).
#[test]
fn a_run_with_the_first_frame_everywhere_records_the_layout_the_pipeline_uses() {
    use kino_models::dit::FirstFrameLayout;
    let dir = tempfile::tempdir().unwrap();
    let run = TrainOptions {
        recipe: Recipe {
            first_frame_layout: FirstFrameLayout::EveryFrame,
            ..Recipe::tiny()
        },
        ..options(dir.path(), 2, false, 2)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let i2v = |model_dir: &Path| {
        let pipeline = Pipeline::load(model_dir, &LoadOptions::default()).unwrap();
        let defaults = pipeline.defaults().clone();
        let frame = kino_world::render(
            &kino_world::parse("a red ball moving left on green grass")
                .unwrap()
                .spec,
            &kino_world::RenderSettings {
                width: defaults.width as u32,
                height: defaults.height as u32,
                fps: defaults.fps,
                frames: 1,
                seed: 3,
            },
        )
        .unwrap()
        .frames[0]
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect::<Vec<_>>();
        let request = kino_pipeline::GenerateRequest {
            first_frame: Some(
                Tensor::from_vec(
                    frame,
                    (defaults.height, defaults.width, 3),
                    &candle_core::Device::Cpu,
                )
                .unwrap(),
            ),
            ..defaults.request("a red ball moving left on green grass")
        };
        let video = pipeline.generate(&request, &mut NoProgress).unwrap();
        (defaults.first_frame_layout, video.to_rgb8().unwrap())
    };
    let (layout, every) = i2v(&summary.model_dir);
    assert_eq!(layout, FirstFrameLayout::EveryFrame);
    // The same weights, told the other layout.
    let index = summary.model_dir.join("model_index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(
        text.contains("\"first_frame_layout\": \"every_frame\""),
        "{text}"
    );
    std::fs::write(
        &index,
        text.replace("\"every_frame\"", "\"first_frame_only\""),
    )
    .unwrap();
    let (layout, only) = i2v(&summary.model_dir);
    assert_eq!(layout, FirstFrameLayout::FirstFrameOnly);
    assert_ne!(every, only);
}

/// A segmented run (training on 4-frame windows of 8-frame world clips) exports a model the
/// pipeline runs as a chain: each segment is image-to-video from the last frame of the one
/// before, on its slice of one noise draw, and the chain is exactly that done by hand.
#[test]
fn a_segmented_model_makes_a_clip_as_a_chain_of_segments() {
    let dir = tempfile::tempdir().unwrap();
    let run = TrainOptions {
        recipe: Recipe {
            world_frames: Some(8),
            keyframe_first: false,
            ..Recipe::tiny()
        },
        ..options(dir.path(), 2, false, 2)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let defaults = pipeline.defaults().clone();
    assert_eq!((defaults.frames, defaults.segment_frames), (8, Some(4)));
    let request = kino_pipeline::GenerateRequest {
        seed: 11,
        output_size: None,
        ..defaults.request("a green star moving right on the sea")
    };
    let chain = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(chain.dims().unwrap(), (8, 16, 16));

    // 8 frames of 4-frame segments: frames 0-3, 3-6 and 6-9, the last one dropped.
    let plan = kino_pipeline::SegmentPlan::new(8, 4).unwrap();
    assert_eq!((plan.segments, plan.frames), (3, 10));
    let noise = kino_sampling::randn(&[1, 3, 10, 16, 16], 11, &candle_core::Device::Cpu).unwrap();
    let mut first_frame = None;
    let mut by_hand: Vec<Tensor> = Vec::new();
    for index in 0..3 {
        let segment = pipeline
            .generate(
                &kino_pipeline::GenerateRequest {
                    frames: 4,
                    first_frame: first_frame.clone(),
                    noise: Some(noise.narrow(2, 3 * index, 4).unwrap()),
                    ..request.clone()
                },
                &mut NoProgress,
            )
            .unwrap()
            .frames;
        first_frame = Some(segment.get(3).unwrap());
        by_hand.push(if index == 0 {
            segment
        } else {
            segment.narrow(0, 1, 3).unwrap()
        });
    }
    let by_hand = Tensor::cat(&by_hand, 0).unwrap().narrow(0, 0, 8).unwrap();
    assert_eq!(
        kino_testkit::max_abs_diff(&chain.frames, &by_hand),
        0.0,
        "the chain differs from the segments made by hand"
    );
    // A noise for the clip's 8 frames instead of the chain's 10 is refused, naming it.
    let wrong_noise = kino_pipeline::GenerateRequest {
        noise: Some(noise.narrow(2, 0, 8).unwrap()),
        ..request.clone()
    };
    let error = pipeline
        .generate(&wrong_noise, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(error.contains("noise"), "{error}");
}

/// The world's clip of `prompt` at the tiny recipe's size, `(T, H, W, 3)` in `[0, 1]`.
fn world_clip(defaults: &kino_pipeline::ModelDefaults, prompt: &str) -> Tensor {
    let spec = kino_world::parse(prompt).unwrap().spec;
    kino_train::eval::world_clip(&spec, defaults, 0).unwrap()
}

/// Video-to-video at strength 1 starts from pure noise, so it is text-to-video with the same
/// seed; a lower strength keeps some of the clip; a bad clip or strength is refused by name.
#[test]
fn video_to_video_at_full_strength_is_text_to_video_and_bad_requests_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&options(dir.path(), 1, false, 1), &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let defaults = pipeline.defaults().clone();
    let prompt = "a red ball moving left on green grass";
    let text = kino_pipeline::GenerateRequest {
        seed: 7,
        output_size: None,
        keyframe_first: false,
        ..defaults.request(prompt)
    };
    let clip = world_clip(&defaults, prompt);
    assert_eq!(clip.dims(), &[4, 16, 16, 3]);
    let from_clip = |strength: f64| kino_pipeline::GenerateRequest {
        init_video: Some(clip.clone()),
        strength,
        ..text.clone()
    };
    let t2v = pipeline
        .generate(&text, &mut NoProgress)
        .unwrap()
        .to_rgb8()
        .unwrap();
    let full = pipeline.generate(&from_clip(1.0), &mut NoProgress).unwrap();
    assert_eq!(full.to_rgb8().unwrap(), t2v);
    let half = pipeline.generate(&from_clip(0.5), &mut NoProgress).unwrap();
    assert_ne!(half.to_rgb8().unwrap(), t2v);

    let error = |request: kino_pipeline::GenerateRequest| {
        pipeline
            .generate(&request, &mut NoProgress)
            .unwrap_err()
            .to_string()
    };
    let short = kino_pipeline::GenerateRequest {
        init_video: Some(clip.narrow(0, 0, 3).unwrap()),
        ..from_clip(0.5)
    };
    let message = error(short);
    assert!(
        message.contains("init_video") && message.contains("[3, 16, 16, 3]"),
        "{message}"
    );
    let message = error(from_clip(0.0));
    assert!(message.contains("strength"), "{message}");
    // 4 steps at strength 0.2 keep floor(0.8) = 0 of them.
    assert_eq!(text.steps, 4);
    let message = error(from_clip(0.2));
    assert!(
        message.contains("strength") && message.contains("keeps none"),
        "{message}"
    );
}

/// With a skip path around the transformer (`skip_detail_std`), a barely trained model already
/// gives back a nearly clean clip it is asked to redraw from its last step: the clip passes
/// through. Without one, the prediction is the network's output alone, near zero (grey) at
/// the start of training, and every pixel has to be learned through the tokens.
#[test]
fn a_skip_path_model_passes_a_nearly_clean_clip_through() {
    let prompt = "a yellow square moving right on the sea";
    let redraw_error = |skip_detail_std: Option<f64>| {
        let dir = tempfile::tempdir().unwrap();
        let run = TrainOptions {
            recipe: Recipe {
                skip_detail_std,
                ..Recipe::tiny()
            },
            ..options(dir.path(), 1, false, 1)
        };
        let summary = train(&run, &mut Quiet).unwrap();
        let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
        let defaults = pipeline.defaults().clone();
        assert_eq!(defaults.skip_detail_std, skip_detail_std);
        let clip = world_clip(&defaults, prompt);
        // The last of 50 steps: from sigma 0.06 to 0.
        let request = kino_pipeline::GenerateRequest {
            steps: 50,
            strength: 0.02,
            output_size: None,
            keyframe_first: false,
            init_video: Some(clip.clone()),
            ..defaults.request(prompt)
        };
        let video = pipeline.generate(&request, &mut NoProgress).unwrap();
        kino_testkit::mean_abs_diff(&video.frames, &clip)
    };
    let with_skip = redraw_error(Some(0.2));
    let without = redraw_error(None);
    // Measured: 0.025 with, 0.12 without (frames in [0, 1]).
    assert!(with_skip < 0.05, "with the skip path: {with_skip}");
    assert!(
        without > 0.08 && without > 3.0 * with_skip,
        "without: {without}, with: {with_skip}"
    );
}

/// A keyframe model (`clip_frames`) makes its keyframes, spread over the clip, in one
/// denoising run and interpolates the frames between: the clip's frames at the keyframes'
/// times are exactly what a request for the keyframes alone makes.
#[test]
fn a_keyframe_model_makes_its_keyframes_and_interpolates_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = TrainOptions {
        recipe: Recipe {
            clip_frames: Some(7),
            ..Recipe::tiny()
        },
        ..options(dir.path(), 2, false, 2)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let defaults = pipeline.defaults().clone();
    assert_eq!((defaults.frames, defaults.keyframes), (7, Some(4)));
    let request = kino_pipeline::GenerateRequest {
        seed: 3,
        output_size: None,
        ..defaults.request("a red ball moving left on the sea")
    };
    let clip = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(clip.dims().unwrap(), (7, 16, 16));
    let keys = pipeline
        .generate(
            &kino_pipeline::GenerateRequest {
                frames: 4,
                ..request.clone()
            },
            &mut NoProgress,
        )
        .unwrap();
    for k in 0..4 {
        let (made, alone) = (clip.frames.get(2 * k).unwrap(), keys.frames.get(k).unwrap());
        assert_eq!(
            kino_testkit::max_abs_diff(&made, &alone),
            0.0,
            "keyframe {k}"
        );
    }
    // The frames between are new frames, not copies of a neighbour.
    for i in [1, 3, 5] {
        let frame = clip.frames.get(i).unwrap();
        for j in [i - 1, i + 1] {
            assert!(kino_testkit::max_abs_diff(&frame, &clip.frames.get(j).unwrap()) > 0.0);
        }
    }
    // A noise is the whole clip's (its keyframes' frames are used); another shape is refused.
    let noise = kino_sampling::randn(&[1, 3, 7, 16, 16], 5, &candle_core::Device::Cpu).unwrap();
    let with_noise = kino_pipeline::GenerateRequest {
        noise: Some(noise.clone()),
        ..request.clone()
    };
    assert_eq!(
        pipeline
            .generate(&with_noise, &mut NoProgress)
            .unwrap()
            .dims()
            .unwrap(),
        (7, 16, 16)
    );
    let wrong = kino_pipeline::GenerateRequest {
        noise: Some(noise.narrow(2, 0, 4).unwrap()),
        ..request
    };
    let error = pipeline
        .generate(&wrong, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(error.contains("noise"), "{error}");
}

/// Self-conditioning: a run with it trains (the loss falls), exports a transformer that takes
/// the latent's channels once more, and the pipeline feeds those channels the model's own
/// estimate: zeroing their input weights changes the clip, as it could not were they zeros.
#[test]
fn a_self_conditioned_run_exports_a_model_the_pipeline_feeds_its_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Recipe {
        self_condition: true,
        ..Recipe::tiny()
    };
    assert_eq!(recipe.in_channels(), 3 * recipe.latent_channels() + 1);
    let summary = train_40_steps_lowering_the_loss(dir.path(), recipe);
    let generate = |model: &Path| {
        let pipeline = Pipeline::load(model, &LoadOptions::default()).unwrap();
        assert!(pipeline.takes_first_frame() && !pipeline.takes_positions());
        let defaults = pipeline.defaults().clone();
        assert!(defaults.self_condition);
        let request = kino_pipeline::GenerateRequest {
            seed: 2,
            output_size: None,
            ..defaults.request("a red ball moving left on green grass")
        };
        pipeline
            .generate(&request, &mut NoProgress)
            .unwrap()
            .to_rgb8()
            .unwrap()
    };
    let trained = generate(&summary.model_dir);
    assert_eq!(trained, generate(&summary.model_dir));

    // The same model with the estimate's input weights zeroed.
    let blind = tempfile::tempdir().unwrap();
    kino_testkit::copy_dir(&summary.model_dir, blind.path());
    let file = blind
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &candle_core::Device::Cpu).unwrap();
    let weight = &tensors["patch_embedding.weight"];
    let channels = weight.dims()[1];
    let z = Recipe::tiny().latent_channels();
    let kept = weight.narrow(1, 0, channels - z).unwrap();
    let zeroed = weight
        .narrow(1, channels - z, z)
        .unwrap()
        .zeros_like()
        .unwrap();
    let weight = Tensor::cat(&[&kept, &zeroed], 1).unwrap();
    tensors.insert("patch_embedding.weight".into(), weight);
    candle_core::safetensors::save(&tensors, &file).unwrap();
    assert_ne!(trained, generate(blind.path()));
}

/// The caption-parse head trains with the run and is kept in its checkpoint (so a resumed run
/// goes on with it), but the exported model folder is the same Wan layout as a run without
/// it, and the pipeline runs it.
#[test]
fn a_caption_parse_run_exports_the_networks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Recipe {
        caption_parse_weight: 0.5,
        ..Recipe::tiny()
    };
    let run = TrainOptions {
        recipe,
        ..options(dir.path(), 2, false, 2)
    };
    let summary = train(&run, &mut Quiet).unwrap();
    assert!(
        weights(dir.path())
            .keys()
            .any(|name| name.contains("caption_parse.queries"))
    );
    let plain = tempfile::tempdir().unwrap();
    let plain_summary = train(&options(plain.path(), 2, false, 2), &mut Quiet).unwrap();
    let names = |model: &Path, file: &str| {
        let mut names: Vec<String> =
            candle_core::safetensors::load(model.join(file), &candle_core::Device::Cpu)
                .unwrap()
                .into_keys()
                .collect();
        names.sort();
        names
    };
    for file in [
        "transformer/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ] {
        let with_head = names(&summary.model_dir, file);
        assert!(
            with_head.iter().all(|n| !n.contains("caption_parse")),
            "{file}"
        );
        assert_eq!(with_head, names(&plain_summary.model_dir, file), "{file}");
    }
    let pipeline = Pipeline::load(&summary.model_dir, &LoadOptions::default()).unwrap();
    let request = pipeline
        .defaults()
        .clone()
        .request("a red ball moving left on green grass");
    let video = pipeline.generate(&request, &mut NoProgress).unwrap();
    assert_eq!(video.dims().unwrap(), (4, 256, 256));
}

/// The caption-parse warm-up runs before the first step and only then: a run stopped after
/// its first step and resumed ends with the weights of an uninterrupted one.
#[test]
fn a_warmed_up_caption_parse_run_resumes_exactly() {
    let recipe = Recipe {
        caption_parse_weight: 0.5,
        caption_parse_warm_up: 20,
        ..Recipe::tiny()
    };
    let straight = tempfile::tempdir().unwrap();
    let run = |dir: &Path, stop_at: Option<usize>, resume: bool| TrainOptions {
        recipe: recipe.clone(),
        stop_at,
        samples: false,
        ..options(dir, 2, resume, 1)
    };
    train(&run(straight.path(), None, false), &mut Quiet).unwrap();
    let resumed = tempfile::tempdir().unwrap();
    train(&run(resumed.path(), Some(1), false), &mut Quiet).unwrap();
    train(&run(resumed.path(), None, true), &mut Quiet).unwrap();
    let (a, b) = (weights(straight.path()), weights(resumed.path()));
    assert_eq!(a.len(), b.len());
    for (name, tensor) in &a {
        let diff = kino_testkit::max_abs_diff(tensor, &b[name]);
        assert!(diff <= 1e-6, "{name} differs by {diff}");
    }
    // Without the warm-up the same seed ends elsewhere: the warm-up did train the encoder.
    let cold = tempfile::tempdir().unwrap();
    let cold_run = TrainOptions {
        recipe: Recipe {
            caption_parse_warm_up: 0,
            ..recipe.clone()
        },
        ..run(cold.path(), None, false)
    };
    train(&cold_run, &mut Quiet).unwrap();
    let c = weights(cold.path());
    let name = "w.text_encoder.shared.weight";
    assert!(kino_testkit::max_abs_diff(&a[name], &c[name]) > 0.0);
}
