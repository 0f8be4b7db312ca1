//! `kino movie` end to end with the real pipeline on the committed random-weight wan-tiny
//! model (tests/fixtures/wan-tiny) and the test screenplay
//! (tests/fixtures/movie/red-ball.fountain). ffprobe/ffmpeg read what we wrote; the shot
//! cache (found through the .otio timeline) is the ground truth the film's frames are
//! compared with, since wan-tiny's shots look like coloured noise.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

mod common;

use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

const SIZE: u32 = 64;
const FPS: f64 = 8.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn screenplay() -> PathBuf {
    repo().join("tests/fixtures/movie/red-ball.fountain")
}

fn film_flags() -> Vec<String> {
    ["--width", "64", "--height", "64", "--fps", "8"]
        .map(String::from)
        .to_vec()
}

fn render(script: &Path, out: &Path) -> String {
    let model = repo().join("tests/fixtures/wan-tiny");
    let mut args = vec![
        "movie",
        "render",
        s(script),
        "-o",
        s(out),
        "--model",
        s(&model),
        "--steps",
        "2",
    ];
    let flags = film_flags();
    args.extend(flags.iter().map(String::as_str));
    let run = kino(&args);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

fn plan_json(script: &Path) -> Value {
    let mut args = vec!["movie", "plan", s(script), "--json"];
    let flags = film_flags();
    args.extend(flags.iter().map(String::as_str));
    let run = kino(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

/// rendered, cached and cards counts from the summary line.
fn counts(stdout: &str) -> (usize, usize, usize) {
    let line = stdout.lines().find(|l| l.starts_with("shots ")).unwrap();
    let value = |key: &str| -> usize {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .unwrap()
            .parse()
            .unwrap()
    };
    (value("rendered="), value("cached="), value("cards="))
}

fn mean_abs(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

/// Every clip's cached frames (decoded by ffmpeg from the PNG folder beside its media).
fn cached_shots(otio: &Value) -> Vec<Vec<Vec<u8>>> {
    otio["tracks"]["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["OTIO_SCHEMA"] == "Clip.2")
        .map(|clip| {
            let url = clip["media_references"]["DEFAULT_MEDIA"]["target_url"]
                .as_str()
                .unwrap();
            let media = Path::new(url.strip_prefix("file://").unwrap());
            let pattern = media.with_file_name("frames").join("frame_%06d.png");
            kino_testkit::decode_rgb(s(&pattern), &["-start_number", "1"], SIZE, SIZE)
        })
        .collect()
}

#[test]
fn the_test_screenplay_becomes_a_film() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("film.mp4");
    let plan = plan_json(&screenplay());
    let stdout = render(&screenplay(), &film);
    let shots = plan["plan"]["shots"].as_array().unwrap();
    let total = plan["plan"]["total_frames"].as_u64().unwrap() as usize;
    let generated = shots
        .iter()
        .filter(|s| s["content"]["kind"] == "generated")
        .count();
    assert_eq!(counts(&stdout), (generated, 0, shots.len() - generated));

    // Length: the planned total within one frame.
    let probe = kino_testkit::ffprobe(s(&film), &[]);
    assert_eq!(
        (probe.width, probe.height, probe.codec.as_str()),
        (SIZE, SIZE, "h264")
    );
    assert_eq!(probe.frames as usize, total);
    let planned = plan["duration_seconds"].as_f64().unwrap();
    assert!(
        (probe.duration - planned).abs() <= 1.0 / FPS,
        "{} vs {planned}",
        probe.duration
    );
    let frames = kino_testkit::decode_rgb(s(&film), &[], SIZE, SIZE);
    assert_eq!(frames.len(), total);

    // The timeline: one clip per shot, each pointing at its cached media.
    let otio: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("film.otio")).unwrap()).unwrap();
    let cache = cached_shots(&otio);
    assert_eq!(cache.len(), shots.len());
    let field = |i: usize, k: &str| shots[i][k].as_u64().unwrap() as usize;

    // Hard cut where CUT TO: is written (after the meadow scene): the film's frame before
    // the cut is the meadow shot's last frame, the one after is the desert shot's first.
    let desert = shots
        .iter()
        .position(|s| s["heading"] == "EXT. DESERT - DAY")
        .unwrap();
    let meadow = desert - 1;
    assert_eq!(shots[meadow]["transition"], "cut");
    let k = field(desert, "start_frame");
    let (a_last, b_first) = (cache[meadow].last().unwrap(), &cache[desert][0]);
    assert!(mean_abs(&frames[k - 1], a_last) * 2.0 < mean_abs(&frames[k - 1], b_first));
    assert!(mean_abs(&frames[k], b_first) * 2.0 < mean_abs(&frames[k], a_last));
    assert!(mean_abs(&frames[k - 1], a_last) < 12.0 && mean_abs(&frames[k], b_first) < 12.0);

    // DISSOLVE TO: the overlapping frames are blends of the two cached shots.
    let night = desert + 1;
    assert_eq!(shots[desert]["transition"], "dissolve");
    let d = field(desert, "dissolve_out");
    assert!(d > 0);
    let start = field(night, "start_frame");
    let tail = &cache[desert][cache[desert].len() - d..];
    for j in 0..d {
        let w = (j + 1) as f64 / (d + 1) as f64;
        let blend: Vec<u8> = tail[j]
            .iter()
            .zip(&cache[night][j])
            .map(|(a, b)| (*a as f64 * (1.0 - w) + *b as f64 * w).round() as u8)
            .collect();
        let got = &frames[start + j];
        assert!(mean_abs(got, &blend) < 12.0, "dissolve frame {j}");
        assert!(
            mean_abs(got, &blend) < mean_abs(got, &tail[j]).max(mean_abs(got, &cache[night][j]))
        );
    }

    // FADE OUT.: the frames of the fade darken to black.
    let f = field(night, "fade_out");
    let end = field(night, "start_frame") + field(night, "frames");
    let luma = |frame: &[u8]| frame.iter().map(|&c| c as f64).sum::<f64>() / frame.len() as f64;
    assert!(luma(&frames[end - f - 1]) > 40.0);
    assert!(luma(&frames[end - 1]) < 4.0, "{}", luma(&frames[end - 1]));
    assert!(luma(&frames[end - 2]) < luma(&frames[end - f]));

    // > THE END <: a card of white text on black after the fade.
    let last = frames.last().unwrap();
    let white = last
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c > 150))
        .count();
    assert!(white > 10 && luma(last) < 60.0, "{white} white pixels");

    // Subtitles: one cue per dialogue line, inside its shot.
    let srt = std::fs::read_to_string(dir.path().join("film.srt")).unwrap();
    let spoken: Vec<(String, usize, usize)> = shots
        .iter()
        .flat_map(|shot| {
            let (s0, s1) = (shot["start_frame"].as_u64().unwrap() as usize, 0);
            let s1 = s1 + s0 + shot["frames"].as_u64().unwrap() as usize;
            shot["dialogue"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |l| (l["text"].as_str().unwrap().to_string(), s0, s1))
        })
        .collect();
    let blocks: Vec<&str> = srt.split("\n\n").filter(|b| !b.trim().is_empty()).collect();
    assert_eq!(blocks.len(), spoken.len());
    assert_eq!(spoken.len(), 5);
    let secs = |t: &str| {
        let (hms, ms) = t.split_once(',').unwrap();
        let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    for (block, (text, s0, s1)) in blocks.iter().zip(&spoken) {
        let lines: Vec<&str> = block.lines().collect();
        let (a, b) = lines[1].split_once(" --> ").unwrap();
        let (a, b) = (secs(a), secs(b));
        assert!(lines[2].ends_with(text.as_str()), "{block}");
        assert!(
            *s0 as f64 / FPS <= a && a < b && b <= *s1 as f64 / FPS + 1e-9,
            "{block}"
        );
    }
    let vtt = std::fs::read_to_string(dir.path().join("film.vtt")).unwrap();
    assert_eq!(vtt.matches(" --> ").count(), spoken.len());
    assert!(dir.path().join("film.contact.png").is_file());
}

#[test]
fn editing_one_scene_re_renders_only_its_shots() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("film.fountain");
    let original = std::fs::read_to_string(screenplay()).unwrap();
    std::fs::write(&script, &original).unwrap();
    let film = dir.path().join("film.mp4");
    let (rendered, cached, _) = counts(&render(&script, &film));
    assert_eq!(cached, 0);

    let edited = original.replace(
        "A yellow star spins in the desert.",
        "A green triangle spins in the desert.",
    );
    assert_ne!(edited, original);
    std::fs::write(&script, edited).unwrap();
    let (again, from_cache, _) = counts(&render(&script, &film));
    assert_eq!((again, from_cache), (1, rendered - 1));

    let (none, all, _) = counts(&render(&script, &film));
    assert_eq!((none, all), (0, rendered));
}

#[test]
fn plan_prints_the_shot_list() {
    let mut args = vec!["movie".to_string(), "plan".into(), s(&screenplay()).into()];
    args.extend(film_flags());
    let run = kino(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.status.success());
    let text = String::from_utf8_lossy(&run.stdout);
    let json = plan_json(&screenplay());
    let shots = json["plan"]["shots"].as_array().unwrap();
    assert!(
        text.starts_with(&format!("The Red Ball: {} shots", shots.len())),
        "{text}"
    );
    for shot in shots {
        if let Some(prompt) = shot["content"]["prompt"].as_str() {
            assert!(text.contains(prompt), "{prompt}");
            assert!(prompt.contains("Style: bright flat colours"), "{prompt}");
        }
    }
    assert!(text.contains("MARA (to herself): What a day for bouncing."));
    assert!(text.contains("title card: THE END"));
}

/// (exit code, stderr, names left in the folder besides the script)
fn render_bad(name: &str, text: &str) -> (i32, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join(name);
    std::fs::write(&script, text).unwrap();
    let out = dir.path().join("film.mp4");
    let model = repo().join("tests/fixtures/wan-tiny");
    let run = kino(&[
        "movie",
        "render",
        s(&script),
        "-o",
        s(&out),
        "--model",
        s(&model),
        "--width",
        "64",
        "--height",
        "64",
    ]);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != name)
        .collect();
    (
        run.status.code().unwrap(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
        left,
    )
}

#[test]
fn bad_scripts_are_usage_errors_and_write_nothing() {
    let cases = [
        (
            "empty.fountain",
            "\n\n",
            "empty.fountain: the script is empty",
        ),
        (
            "action.fountain",
            "A red ball.\n\nMARA\nHi.\n",
            "action.fountain: no scene headings",
        ),
        (
            "title.fountain",
            "Title: X\nnot a field\n\nEXT. A - DAY\n\nA ball.\n",
            "title.fountain:2: malformed title page",
        ),
        (
            "wipe.fountain",
            "EXT. A - DAY\n\nA ball.\n\nWIPE TO:\n\nEXT. B - DAY\n\nA cube.\n",
            "wipe.fountain:5: unknown transition \"WIPE TO:\"",
        ),
        (
            "board.toml",
            "[[shot]]\nprompt = \"A ball.\"\nduration = -2\n",
            "board.toml:3: shot duration must be above 0",
        ),
    ];
    for (name, text, message) in cases {
        let (code, stderr, left) = render_bad(name, text);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(left.is_empty(), "{name} left {left:?}");
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.mp4");
    let model = repo().join("tests/fixtures/wan-tiny");
    let script = screenplay();
    let base = [
        "movie",
        "render",
        s(&script),
        "-o",
        s(&out),
        "--model",
        s(&model),
    ];
    for (extra, message) in [
        (
            vec!["--width", "72", "--height", "64"],
            "--width must be a multiple of 16",
        ),
        (
            vec!["--jobs", "0", "--width", "64", "--height", "64"],
            "--jobs must be at least 1",
        ),
        (
            vec!["--fps", "0", "--width", "64", "--height", "64"],
            "fps must be above 0",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let run = kino(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_default_model_resolves_like_kino_generate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let generate = kino(&[
        "generate",
        "a red ball",
        "-o",
        s(&clip),
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "1",
    ]);
    let film = dir.path().join("film.mp4");
    let movie = kino(&[
        "movie",
        "render",
        s(&screenplay()),
        "-o",
        s(&film),
        "--width",
        "64",
        "--height",
        "64",
        "--fps",
        "8",
        "--steps",
        "1",
    ]);
    let g = String::from_utf8_lossy(&generate.stderr);
    let m = String::from_utf8_lossy(&movie.stderr);
    assert_eq!(
        generate.status.success(),
        movie.status.success(),
        "generate: {g}\nmovie: {m}"
    );
    if !generate.status.success() {
        assert_eq!(g.lines().last(), m.lines().last());
        assert!(!film.exists() && !dir.path().join("film.kino-cache").exists());
    }
}

#[test]
fn a_killed_render_resumes_without_redoing_finished_shots() {
    let dir = tempfile::tempdir().unwrap();
    let film = dir.path().join("film.mp4");
    let cache = dir.path().join("film.kino-cache");
    let model = repo().join("tests/fixtures/wan-tiny");
    let script = screenplay();
    let mut args = vec![
        "movie",
        "render",
        s(&script),
        "-o",
        s(&film),
        "--model",
        s(&model),
        "--steps",
        "2",
    ];
    let flags = film_flags();
    args.extend(flags.iter().map(String::as_str));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kino"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the first model shot is in the cache (the two cards come first). An
    // entry counts once it is renamed into place: a temporary folder (`.<hash>.kino-tmp-…`)
    // holds its `shot.json` a moment before the rename, and a kill in that moment leaves it
    // half-committed, to be cleaned away.
    let finished = |cache: &Path| {
        std::fs::read_dir(cache)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .filter(|e| e.path().join("shot.json").is_file())
                    .count()
            })
            .unwrap_or(0)
    };
    while finished(&cache) < 3 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = finished(&cache) - 2;
    assert!(done_before >= 1);
    assert!(
        !film.exists() || done_before == 4,
        "a film appeared before every shot was done"
    );

    let (rendered, cached, cards) = counts(&render(&script, &film));
    assert_eq!(cached, done_before);
    assert_eq!(rendered + cached, 4);
    assert_eq!(cards, 0, "the cards were cached before the kill");
    let stale: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("kino-tmp"))
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
}

#[test]
fn a_first_frame_needs_a_model_trained_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("first.png");
    kino_media::write_png(&image, &kino_media::RgbImage::new(64, 64)).unwrap();
    let board = "[[shot]]\nprompt = \"a red ball\"\nduration = 1\n\n[[shot]]\nprompt = \"a blue ball\"\nduration = 1\nimage = \"first.png\"\n";
    let (code, stderr, left) = {
        let script = dir.path().join("board.toml");
        std::fs::write(&script, board).unwrap();
        let out = dir.path().join("film.mp4");
        let model = repo().join("tests/fixtures/wan-tiny");
        let run = kino(&[
            "movie",
            "render",
            s(&script),
            "-o",
            s(&out),
            "--model",
            s(&model),
            "--width",
            "64",
            "--height",
            "64",
        ]);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "board.toml" && n != "first.png")
            .collect();
        (
            run.status.code().unwrap(),
            String::from_utf8_lossy(&run.stderr).into_owned(),
            left,
        )
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("board.toml: shot 2 (line 5) starts from an image"),
        "{stderr}"
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_jobs_make_the_same_film_as_one() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let model = repo().join("tests/fixtures/wan-tiny");
    let script = screenplay();
    let flags = film_flags();
    let mut films = Vec::new();
    for (dir, jobs) in [(&one, "1"), (&two, "2")] {
        let film = dir.path().join("film.mp4");
        let mut args = vec![
            "movie",
            "render",
            s(&script),
            "-o",
            s(&film),
            "--model",
            s(&model),
        ];
        args.extend(["--steps", "2", "--jobs", jobs]);
        args.extend(flags.iter().map(String::as_str));
        let run = kino(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        films.push(kino_testkit::decode_rgb(s(&film), &[], SIZE, SIZE));
    }
    assert_eq!(films[0].len(), films[1].len());
    assert!(films[0] == films[1], "--jobs 2 changed the film");
}
