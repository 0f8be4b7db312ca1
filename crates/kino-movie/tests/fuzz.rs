//! Property tests: the Fountain and storyboard parsers never panic on any input, and every
//! plan they produce is consistent (lengths add up, subtitles sit inside their shots).

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use std::path::Path;

use kino_movie::{Plan, PlanSettings, fountain, plan_screenplay, storyboard};
use proptest::prelude::*;

/// Pieces of Fountain syntax, glued into lines at random.
const PIECES: &[&str] = &[
    "INT. ",
    "EXT. ",
    "INT./EXT. ",
    "EST. ",
    ".",
    "..",
    "KITCHEN",
    " - ",
    "NIGHT",
    "DAY",
    "#1#",
    "MARA",
    "BO",
    " (V.O.)",
    "(beat)",
    "(",
    ")",
    "^",
    "@",
    "!",
    "CUT TO:",
    "DISSOLVE TO:",
    "FADE OUT.",
    "FADE IN:",
    "FADE TO:",
    ">",
    "<",
    "> THE END <",
    "[[",
    "]]",
    "/*",
    "*/",
    "[[STYLE: flat]]",
    "[[CHARACTER MARA: a ball]]",
    "Title:",
    "Author: A",
    "Style: x",
    "Characters:",
    "   MARA: a red ball",
    "\t",
    "   ",
    "#",
    "##",
    "=",
    "===",
    "~",
    "*",
    "**",
    "_",
    "\\",
    "A red ball bounces.",
    "Hello there.",
    "é",
    "日本",
    "😀",
    ":",
    " ",
    "TO:",
];

fn fountainish() -> impl Strategy<Value = String> {
    let line = prop::collection::vec(prop::sample::select(PIECES), 0..5).prop_map(|p| p.concat());
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

fn check_plan(plan: &Plan) {
    let mut expected_total = 0;
    for (i, shot) in plan.shots.iter().enumerate() {
        assert!(shot.frames >= 1);
        assert!(shot.dissolve_in + shot.dissolve_out <= shot.frames);
        assert!(shot.fade_in <= shot.frames && shot.fade_out <= shot.frames);
        if i > 0 {
            assert_eq!(shot.dissolve_in, plan.shots[i - 1].dissolve_out);
            assert_eq!(
                shot.start_frame,
                plan.shots[i - 1].end_frame() - shot.dissolve_in
            );
        }
        expected_total += shot.frames - shot.dissolve_in;
    }
    assert_eq!(plan.total_frames, expected_total);
    let lines: usize = plan.shots.iter().map(|s| s.dialogue.len()).sum();
    assert_eq!(plan.cues.len(), lines);
    for cue in &plan.cues {
        let shot = &plan.shots[cue.shot - 1];
        assert!(shot.start_frame <= cue.start_frame && cue.end_frame <= shot.end_frame());
        assert!(cue.start_frame <= cue.end_frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fountain_never_panics_on_any_text(text in "\\PC*") {
        if let Ok(play) = fountain::parse(&text)
            && let Ok(plan) = plan_screenplay(&play, Path::new("x.fountain"), &PlanSettings::default())
        {
            check_plan(&plan);
        }
    }

    #[test]
    fn fountain_never_panics_on_fountain_like_text(text in fountainish(), fps in 1.0f64..60.0) {
        if let Ok(play) = fountain::parse(&text) {
            for element in &play.elements {
                prop_assert!(element.line >= 1 && element.line <= text.lines().count().max(1));
            }
            let settings = PlanSettings { fps, ..PlanSettings::default() };
            if let Ok(plan) = plan_screenplay(&play, Path::new("x.fountain"), &settings) {
                check_plan(&plan);
            }
        } else if let Err(err) = fountain::parse(&text) {
            prop_assert!(err.line >= 1 && err.line <= text.lines().count().max(1), "{err}");
        }
    }

    #[test]
    fn storyboard_never_panics(text in "\\PC*") {
        let _ = storyboard::parse(&text);
    }

    #[test]
    fn storyboard_like_text_never_panics(
        duration in prop::sample::select(vec!["-1", "0", "0.01", "1e309", "nan", "2", "\"x\""]),
        transition in prop::sample::select(vec!["cut", "dissolve", "fade", "fade-out", "wipe", ""]),
        seed in prop::sample::select(vec!["-5", "0", "9223372036854775807", "1.5"]),
        shots in 1usize..4,
    ) {
        let one = format!(
            "[[shot]]\nprompt = \"A ball.\"\nduration = {duration}\ntransition = \"{transition}\"\nseed = {seed}\n"
        );
        let text = one.repeat(shots);
        if let Ok(board) = storyboard::parse(&text) {
            let plan = kino_movie::plan_storyboard(&board, Path::new("."), &PlanSettings::default()).unwrap();
            check_plan(&plan);
        }
    }
}
