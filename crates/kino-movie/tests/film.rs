//! Films made with a synthetic renderer whose shots are solid colours named by their
//! prompts, so ffmpeg's decode of the film (the oracle) shows unambiguously where cuts,
//! dissolves and fades are; plus the shot cache's behaviour after edits and interruptions.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kino_movie::{
    FilmRequest, NoFilmProgress, Plan, PlanSettings, ShotContent, ShotProgress, ShotRenderer,
    ShotRequest, make_film, plan_file,
};

const W: u32 = 128;
const H: u32 = 96;
const FPS: f64 = 8.0;

const SCRIPT: &str = "Title: Colours
Author: The Test Suite

EXT. MEADOW - DAY

A red ball bounces on green grass.

MARA
Hello there, friend.

CUT TO:

EXT. DESERT - DAY

A blue square falls in the desert.

DISSOLVE TO:

EXT. SEA - NIGHT

A yellow star spins over the sea.

BO
Goodbye now.

FADE OUT.

> THE END <
";

/// The solid colour a prompt's first colour word names.
fn colour_of(prompt: &str) -> [u8; 3] {
    for word in prompt.to_lowercase().split(|c: char| !c.is_alphabetic()) {
        match word {
            "red" => return [220, 40, 40],
            "blue" => return [40, 60, 220],
            "yellow" => return [230, 210, 40],
            "green" => return [40, 200, 60],
            "purple" => return [150, 50, 200],
            _ => {}
        }
    }
    [128, 128, 128]
}

/// Solid frames in the prompt's colour; counts and records what it renders; fails on the
/// call numbered `fail_on` (1-based) if set.
#[derive(Default)]
struct Solid {
    calls: AtomicUsize,
    prompts: Mutex<Vec<String>>,
    fail_on: Option<usize>,
}

impl ShotRenderer for Solid {
    fn identity(&self) -> String {
        "solid colours v1".into()
    }

    fn render(
        &self,
        shot: &ShotRequest,
        progress: &mut dyn ShotProgress,
    ) -> Result<Vec<Vec<u8>>, kino_movie::RenderFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_on == Some(n) {
            return Err("the model ran out of memory".into());
        }
        self.prompts.lock().unwrap().push(shot.prompt.clone());
        if let Some(image) = &shot.first_frame {
            // A first frame arrives at the film's size; the shot starts from it.
            assert_eq!(image.dimensions(), (shot.width, shot.height));
            let first = image.as_raw().clone();
            let mut frames = vec![first];
            let pixel = colour_of(&shot.prompt);
            let frame: Vec<u8> = (0..shot.width * shot.height).flat_map(|_| pixel).collect();
            frames.resize(shot.frames, frame);
            return Ok(frames);
        }
        progress.step(1, 1);
        let pixel = colour_of(&shot.prompt);
        let frame: Vec<u8> = (0..shot.width * shot.height).flat_map(|_| pixel).collect();
        Ok(vec![frame; shot.frames])
    }
}

fn settings() -> PlanSettings {
    PlanSettings {
        width: W,
        height: H,
        fps: FPS,
        ..PlanSettings::default()
    }
}

fn setup(script: &str) -> (tempfile::TempDir, PathBuf, Plan) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("colours.fountain");
    std::fs::write(&path, script).unwrap();
    let plan = plan_file(&path, &settings()).unwrap();
    (dir, path, plan)
}

fn request(dir: &Path, jobs: usize, burn: bool) -> FilmRequest {
    FilmRequest {
        output: dir.join("film.mp4"),
        format: None,
        jobs,
        burn_subtitles: burn,
        contact_sheet: true,
    }
}

fn mean(frame: &[u8]) -> [f64; 3] {
    kino_testkit::mean_rgb(frame, W, W / 2, H / 2, 12)
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn decode(path: &Path) -> Vec<Vec<u8>> {
    kino_testkit::decode_rgb(path.to_str().unwrap(), &[], W, H)
}

fn prompt_of(plan: &Plan, number: usize) -> &str {
    match &plan.shots[number - 1].content {
        ShotContent::Generated { prompt, .. } => prompt,
        ShotContent::Card { .. } => panic!("shot {number} is a card"),
    }
}

#[test]
fn film_matches_its_plan_frame_by_frame() {
    let (dir, _, plan) = setup(SCRIPT);
    // title card, red, blue, yellow, THE END
    assert_eq!(plan.shots.len(), 5);
    let renderer = Solid::default();
    let report = make_film(
        &plan,
        &renderer,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(report.render.rendered, vec![2, 3, 4]);
    assert_eq!(report.render.cards_drawn, 2);

    let film = dir.path().join("film.mp4");
    let probe = kino_testkit::ffprobe(film.to_str().unwrap(), &[]);
    assert_eq!((probe.width, probe.height), (W, H));
    assert_eq!(probe.frames as usize, plan.total_frames);
    assert!(
        (probe.duration - plan.duration_seconds()).abs() <= 1.0 / FPS + 1e-9,
        "ffprobe {} s, plan {} s",
        probe.duration,
        plan.duration_seconds()
    );
    let frames = decode(&film);
    let colour = |n: usize| colour_of(prompt_of(&plan, n)).map(f64::from);
    let (red, blue, yellow) = (&plan.shots[1], &plan.shots[2], &plan.shots[3]);

    // The written CUT TO: red's last frame, then blue's first.
    assert_eq!(red.start_frame + red.frames, blue.start_frame);
    assert!(distance(mean(&frames[blue.start_frame - 1]), colour(2)) < 10.0);
    assert!(distance(mean(&frames[blue.start_frame]), colour(3)) < 10.0);

    // Hard cuts only where written: big jumps between neighbouring frames only at shot
    // starts that no dissolve or fade softens.
    let cuts: Vec<usize> = (1..frames.len())
        .filter(|&k| distance(mean(&frames[k - 1]), mean(&frames[k])) > 60.0)
        .collect();
    assert!(cuts.contains(&blue.start_frame), "{cuts:?}");
    for k in &cuts {
        let shot = plan.shots.iter().find(|s| s.start_frame == *k);
        assert!(
            shot.is_some_and(|s| s.dissolve_in == 0 && s.fade_in == 0),
            "a jump at frame {k} where no cut is written ({cuts:?})"
        );
    }

    // DISSOLVE TO: blue and yellow overlap and blend with weights (j + 1) / (d + 1).
    let d = blue.dissolve_out;
    assert!(d >= 4, "dissolve of {d} frames");
    assert_eq!(yellow.start_frame, blue.end_frame() - d);
    for j in 0..d {
        let w = (j + 1) as f64 / (d + 1) as f64;
        let expected: Vec<f64> = (0..3)
            .map(|c| colour(3)[c] * (1.0 - w) + colour(4)[c] * w)
            .collect();
        let got = mean(&frames[yellow.start_frame + j]);
        assert!(
            distance(got, [expected[0], expected[1], expected[2]]) < 8.0,
            "dissolve frame {j}: {got:?} vs {expected:?}"
        );
    }

    // FADE OUT.: yellow darkens steadily to black.
    let f = yellow.fade_out;
    assert!(f >= 4);
    let luma: Vec<f64> = (yellow.end_frame() - f..yellow.end_frame())
        .map(|k| mean(&frames[k]).iter().sum::<f64>() / 3.0)
        .collect();
    assert!(luma.windows(2).all(|p| p[1] < p[0]), "{luma:?}");
    assert!(*luma.last().unwrap() < 8.0, "{luma:?}");

    // The title card fades in from black and shows white text near the middle.
    let card = &plan.shots[0];
    assert!(card.fade_in > 0);
    assert!(mean(&frames[0]).iter().all(|&c| c < 8.0));
    let full = &frames[card.fade_in + 1];
    let white = full
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c > 180))
        .count();
    assert!(white > 20, "{white} white pixels on the title card");

    // One subtitle per spoken line, inside its shot.
    let srt = std::fs::read_to_string(&report.srt).unwrap();
    let cues = parse_srt(&srt);
    assert_eq!(cues.len(), 2);
    for ((start, end, text), shot) in cues.iter().zip([red, yellow]) {
        let line = &shot.dialogue[0];
        assert_eq!(text, &format!("{}: {}", line.character, line.text));
        let (s0, s1) = (shot.start_frame as f64 / FPS, shot.end_frame() as f64 / FPS);
        assert!(
            s0 <= *start && start < end && *end <= s1,
            "{start}-{end} outside {s0}-{s1}"
        );
    }
    let vtt = std::fs::read_to_string(&report.vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT\n") && vtt.contains("<v MARA>Hello there, friend."));

    // The timeline: one clip per shot with its media, the dissolve as a transition, and a
    // track as long as the film.
    let otio: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report.otio).unwrap()).unwrap();
    assert_eq!(otio["OTIO_SCHEMA"], "Timeline.1");
    let track = &otio["tracks"]["children"][0];
    assert_eq!(track["OTIO_SCHEMA"], "Track.1");
    let items = track["children"].as_array().unwrap();
    let clips: Vec<_> = items
        .iter()
        .filter(|c| c["OTIO_SCHEMA"] == "Clip.2")
        .collect();
    let transitions: Vec<_> = items
        .iter()
        .filter(|c| c["OTIO_SCHEMA"] == "Transition.1")
        .collect();
    assert_eq!(clips.len(), plan.shots.len());
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0]["transition_type"], "SMPTE_Dissolve");
    let offsets = transitions[0]["in_offset"]["value"].as_f64().unwrap()
        + transitions[0]["out_offset"]["value"].as_f64().unwrap();
    assert_eq!(offsets as usize, d);
    let length: f64 = clips
        .iter()
        .map(|c| c["source_range"]["duration"]["value"].as_f64().unwrap())
        .sum();
    assert_eq!(length as usize, plan.total_frames);
    for clip in &clips {
        let url = clip["media_references"]["DEFAULT_MEDIA"]["target_url"]
            .as_str()
            .unwrap();
        let media = Path::new(url.strip_prefix("file://").unwrap());
        let shot = kino_testkit::ffprobe(media.to_str().unwrap(), &[]);
        let available =
            clip["media_references"]["DEFAULT_MEDIA"]["available_range"]["duration"]["value"]
                .as_f64()
                .unwrap();
        assert_eq!(shot.frames as f64, available);
    }

    // The contact sheet has one thumbnail per shot.
    let sheet = kino_media::read_image(report.assembled.contact_sheet.as_ref().unwrap()).unwrap();
    assert_eq!(sheet.width(), 5 * W + 6 * 4);
}

/// (start seconds, end seconds, text) of each cue.
fn parse_srt(text: &str) -> Vec<(f64, f64, String)> {
    let secs = |t: &str| {
        let (hms, ms) = t.trim().split_once(',').unwrap();
        let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let lines: Vec<&str> = block.lines().collect();
            let (a, b) = lines[1].split_once(" --> ").unwrap();
            (secs(a), secs(b), lines[2..].join("\n"))
        })
        .collect()
}

#[test]
fn editing_one_scene_renders_only_its_shots() {
    let (dir, path, plan) = setup(SCRIPT);
    let first = Solid::default();
    make_film(
        &plan,
        &first,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(first.calls.load(Ordering::SeqCst), 3);

    let edited = SCRIPT.replace(
        "A blue square falls in the desert.",
        "A purple triangle falls in the desert.",
    );
    std::fs::write(&path, edited).unwrap();
    let plan = plan_file(&path, &settings()).unwrap();
    let second = Solid::default();
    let report = make_film(
        &plan,
        &second,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(second.calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.render.rendered, vec![3]);
    assert_eq!(report.render.cached, vec![2, 4]);
    assert!(second.prompts.lock().unwrap()[0].starts_with("A purple triangle"));
    let frames = decode(&dir.path().join("film.mp4"));
    let purple = colour_of("purple").map(f64::from);
    assert!(distance(mean(&frames[plan.shots[2].start_frame + 1]), purple) < 10.0);

    // Nothing changed: nothing renders.
    let third = Solid::default();
    make_film(
        &plan,
        &third,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(third.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn an_interrupted_render_resumes_without_redoing_finished_shots() {
    let (dir, _, plan) = setup(SCRIPT);
    let failing = Solid {
        fail_on: Some(2),
        ..Solid::default()
    };
    let err = make_film(
        &plan,
        &failing,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("shot 3") && err.to_string().contains("out of memory"),
        "{err}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("film.") && !n.ends_with("kino-cache")),
        "{names:?}"
    );

    let resumed = Solid::default();
    let report = make_film(
        &plan,
        &resumed,
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(report.render.cached, vec![2]);
    assert_eq!(report.render.rendered, vec![3, 4]);
    assert_eq!(resumed.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn parallel_jobs_make_the_same_film() {
    let (one, _, plan) = setup(SCRIPT);
    let (three, _, _) = setup(SCRIPT);
    make_film(
        &plan,
        &Solid::default(),
        &request(one.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    let parallel = Solid::default();
    let report = make_film(
        &plan,
        &parallel,
        &request(three.path(), 3, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(report.render.rendered, vec![2, 3, 4]);
    assert_eq!(parallel.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        decode(&one.path().join("film.mp4")),
        decode(&three.path().join("film.mp4"))
    );
}

#[test]
fn burned_subtitles_show_only_while_their_cue_runs() {
    let (dir, _, plan) = setup(SCRIPT);
    make_film(
        &plan,
        &Solid::default(),
        &request(dir.path(), 1, true),
        &mut NoFilmProgress,
    )
    .unwrap();
    let frames = decode(&dir.path().join("film.mp4"));
    // Light grey to white text pixels (the shots are saturated colours, darkened under the
    // text) in the bottom fifth of the frame.
    let lit = |frame: &[u8]| {
        frame[(W * H * 3 * 4 / 5) as usize..]
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c > 150))
            .count()
    };
    for cue in &plan.cues {
        let middle = (cue.start_frame + cue.end_frame) / 2;
        assert!(lit(&frames[middle]) > 10, "cue {} not burned in", cue.index);
    }
    let red = &plan.shots[1];
    let before = plan.cues[0].start_frame;
    if before > red.start_frame {
        assert_eq!(lit(&frames[red.start_frame]), 0);
    }
    let blue = &plan.shots[2];
    assert_eq!(lit(&frames[blue.start_frame + 1]), 0);
}

#[test]
fn a_storyboard_image_is_the_shot_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let image = kino_media::RgbImage::from_pixel(32, 24, kino_media::image::Rgb([250, 250, 250]));
    kino_media::write_png(&dir.path().join("white.png"), &image).unwrap();
    let path = dir.path().join("board.toml");
    std::fs::write(
        &path,
        "[[shot]]\nprompt = \"A blue ball.\"\nduration = 2\nimage = \"white.png\"\n",
    )
    .unwrap();
    let plan = plan_file(&path, &settings()).unwrap();
    let report = make_film(
        &plan,
        &Solid::default(),
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(report.render.rendered, vec![1]);
    let frames = decode(&dir.path().join("film.mp4"));
    assert!(
        mean(&frames[0]).iter().all(|&c| c > 235.0),
        "{:?}",
        mean(&frames[0])
    );
    assert!(distance(mean(&frames[1]), colour_of("blue").map(f64::from)) < 10.0);
    // The image is part of the shot's identity: a new image renders the shot again.
    let black = kino_media::RgbImage::new(32, 24);
    kino_media::write_png(&dir.path().join("white.png"), &black).unwrap();
    let again = make_film(
        &plan,
        &Solid::default(),
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(again.render.rendered, vec![1]);
}

#[test]
fn storyboards_render_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("board.toml");
    std::fs::write(
        &path,
        "style = \"flat\"\n\n[[shot]]\nprompt = \"A green ball rises.\"\nduration = 1.5\n\
         transition = \"fade\"\n\n[[shot]]\nprompt = \"A red square falls.\"\nduration = 2\nseed = 9\n\
         dialogue = [{ character = \"Ann\", text = \"Down it goes.\" }]\n",
    )
    .unwrap();
    let plan = plan_file(&path, &settings()).unwrap();
    assert_eq!(plan.shots.len(), 2);
    assert_eq!(plan.shots[0].frames, 12);
    assert_eq!(plan.total_frames, 12 + 16);
    assert!(plan.shots[0].fade_out > 0 && plan.shots[1].fade_in > 0);
    let report = make_film(
        &plan,
        &Solid::default(),
        &request(dir.path(), 1, false),
        &mut NoFilmProgress,
    )
    .unwrap();
    assert_eq!(report.render.rendered, vec![1, 2]);
    let frames = decode(&dir.path().join("film.mp4"));
    assert_eq!(frames.len(), 28);
    // Fade through black: dark around the join, full colour inside each shot.
    assert!(mean(&frames[11]).iter().all(|&c| c < 8.0));
    assert!(mean(&frames[12]).iter().all(|&c| c < 8.0));
    assert!(distance(mean(&frames[2]), colour_of("green").map(f64::from)) < 10.0);
    assert!(distance(mean(&frames[24]), colour_of("red").map(f64::from)) < 10.0);
    assert_eq!(
        parse_srt(&std::fs::read_to_string(&report.srt).unwrap())[0].2,
        "ANN: Down it goes."
    );
}

#[test]
fn a_missing_output_folder_fails_before_any_work() {
    let (dir, _, plan) = setup(SCRIPT);
    let renderer = Solid::default();
    let out = dir.path().join("no/such/folder");
    let err = make_film(
        &plan,
        &renderer,
        &request(&out, 1, false),
        &mut NoFilmProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no/such/folder"), "{err}");
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 0);
    assert!(!dir.path().join("no").exists());
}
