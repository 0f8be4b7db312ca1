//! Planning through the public API: which paragraphs become shots, how long they last, how
//! seeds and prompts stay stable, how written transitions become frames.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use std::path::Path;

use kino_movie::{Plan, PlanSettings, ShotContent, Transition, fountain, plan_screenplay};

fn plan(text: &str, settings: &PlanSettings) -> Plan {
    let play = fountain::parse(text).unwrap();
    plan_screenplay(&play, Path::new("t.fountain"), settings).unwrap()
}

fn prompt(plan: &Plan, i: usize) -> &str {
    match &plan.shots[i].content {
        ShotContent::Generated { prompt, .. } => prompt,
        ShotContent::Card { lines } => panic!("card {lines:?}"),
    }
}

fn seed(plan: &Plan, i: usize) -> u64 {
    match &plan.shots[i].content {
        ShotContent::Generated { seed, .. } => *seed,
        ShotContent::Card { .. } => panic!("card"),
    }
}

const THREE: &str = "EXT. MEADOW - DAY

A red ball bounces on green grass.

MARA
(softly)
Look at me go, higher and higher.

BO
Nice.

A blue square slides to the left.

INT. CAVE - NIGHT

BO
Who is there?

EXT. SEA - DAWN

";

#[test]
fn action_paragraphs_start_shots_and_dialogue_follows_them() {
    let p = plan(THREE, &PlanSettings::default());
    assert_eq!(p.shots.len(), 4);
    assert_eq!(p.shots[0].dialogue.len(), 2);
    assert_eq!(
        p.shots[0].dialogue[0].parenthetical.as_deref(),
        Some("softly")
    );
    assert_eq!(p.shots[0].line, 3);
    assert!(p.shots[1].dialogue.is_empty());
    assert!(prompt(&p, 1).starts_with("A blue square slides to the left. Outside, meadow, day."));
    // A scene of dialogue only, and an empty scene, are shots of their setting.
    assert_eq!(p.shots[2].heading.as_deref(), Some("INT. CAVE - NIGHT"));
    assert_eq!(p.shots[2].dialogue[0].text, "Who is there?");
    assert!(prompt(&p, 2).starts_with("Inside, cave, night."));
    assert!(prompt(&p, 3).starts_with("Outside, sea, dawn."));
    assert_eq!(
        p.shots.iter().map(|s| s.scene).collect::<Vec<_>>(),
        [Some(1), Some(1), Some(2), Some(3)]
    );
    assert_eq!(p.cues.len(), 3);
}

#[test]
fn lengths_come_from_reading_time_in_whole_frames() {
    let s = PlanSettings {
        fps: 10.0,
        ..PlanSettings::default()
    };
    let p = plan(THREE, &s);
    // 7 action words at 3 words/s, then lines of 7 and 1 words at 2.5 words/s (at least
    // 1 s each) with a 0.25 s pause after each.
    let expected = 7.0 / 3.0 + (7.0 / 2.5 + 0.25) + (1.0 + 0.25);
    assert_eq!(p.shots[0].frames, (expected * 10.0_f64).round() as usize);
    // Seven words of action alone: 2.33 s, over the 2 s minimum.
    assert_eq!(p.shots[1].frames, 23);
    // The empty scene lasts the minimum.
    assert_eq!(p.shots[3].frames, 20);
    assert_eq!(
        p.total_frames,
        p.shots.iter().map(|s| s.frames).sum::<usize>()
    );
    // Cues follow the action, one after another, inside the shot.
    let c = &p.cues[..2];
    assert_eq!(c[0].start_frame, 23);
    assert_eq!(c[0].end_frame, c[1].start_frame);
    assert!(c[1].end_frame <= p.shots[0].end_frame());
}

#[test]
fn seeds_stay_put_when_another_scene_changes() {
    let s = PlanSettings::default();
    let a = plan(THREE, &s);
    let edited = THREE.replace("A blue square slides to the left.", "A blue square rises.");
    let b = plan(&edited, &s);
    assert_ne!(prompt(&a, 1), prompt(&b, 1));
    for i in 0..4 {
        assert_eq!(seed(&a, i), seed(&b, i), "shot {i}");
    }
    let moved = format!("EXT. DESERT - DAY\n\nA star.\n\n{THREE}");
    let c = plan(&moved, &s);
    assert_eq!(
        seed(&a, 2),
        seed(&c, 3),
        "the cave's seed follows its heading"
    );
    let other = plan(
        THREE,
        &PlanSettings {
            seed: 7,
            ..s.clone()
        },
    );
    assert!((0..4).all(|i| seed(&other, i) != seed(&a, i)));
    let seeds: std::collections::HashSet<u64> = (0..4).map(|i| seed(&a, i)).collect();
    assert_eq!(seeds.len(), 4);
}

#[test]
fn written_transitions_become_frames() {
    let s = PlanSettings {
        fps: 10.0,
        ..PlanSettings::default()
    };
    let text = "FADE IN:\n\nEXT. A - DAY\n\nA red ball.\n\nFADE TO:\n\nEXT. B - DAY\n\nA blue ball.\n\n\
                DISSOLVE TO:\n\nEXT. C - DAY\n\nA green ball.\n\nDISSOLVE TO:\n";
    let p = plan(text, &s);
    assert_eq!(p.shots[0].fade_in, 10);
    assert_eq!(p.shots[0].transition, Transition::FadeThroughBlack);
    assert_eq!((p.shots[0].fade_out, p.shots[1].fade_in), (10, 10));
    assert_eq!((p.shots[1].dissolve_out, p.shots[2].dissolve_in), (10, 10));
    assert_eq!(p.shots[2].start_frame, p.shots[1].end_frame() - 10);
    // A dissolve into nothing at the end fades out instead.
    assert_eq!(p.shots[2].transition, Transition::FadeOut);
    assert_eq!(p.shots[2].fade_out, 10);
    assert_eq!(p.total_frames, 3 * 20 - 10);
}

#[test]
fn style_and_characters_reach_every_prompt_the_same_way() {
    let text = "Title: Two Balls\nCredit: by\nAuthor: Ann\nStyle: soft pastel light\n\n\
                [[CHARACTER MARA: a small red ball]]\n[[CHARACTER BO: a big blue ball]]\n\n\
                EXT. MEADOW - DAY\n\nMara rolls.\n\nEXT. SEA - DAY\n\nBO\nHello.\n\n\
                EXT. DESERT - DAY\n\nNobody here.\n\n> THE END <\n";
    let p = plan(text, &PlanSettings::default());
    assert_eq!(
        p.shots[0].content,
        ShotContent::Card {
            lines: vec!["Two Balls".into(), "by".into(), "Ann".into()]
        }
    );
    assert_eq!(p.title.as_deref(), Some("Two Balls"));
    for i in 1..4 {
        assert!(
            prompt(&p, i).ends_with(" Style: soft pastel light."),
            "{}",
            prompt(&p, i)
        );
    }
    assert!(prompt(&p, 1).contains("Mara: a small red ball.") && !prompt(&p, 1).contains("Bo:"));
    assert!(prompt(&p, 2).contains("Bo: a big blue ball.") && !prompt(&p, 2).contains("Mara:"));
    assert!(!prompt(&p, 3).contains("Mara:") && !prompt(&p, 3).contains("Bo:"));
    assert_eq!(
        p.shots[4].content,
        ShotContent::Card {
            lines: vec!["THE END".into()]
        }
    );
}
