//! Bad scripts give one clear error naming the file and the line, never a panic.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use kino_movie::{MovieError, PlanSettings, plan_file};

fn plan_error(name: &str, text: &[u8]) -> (String, MovieError) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let err = plan_file(&path, &PlanSettings::default()).unwrap_err();
    (path.display().to_string(), err)
}

fn assert_line(name: &str, text: &str, line: usize, needle: &str) {
    let (path, err) = plan_error(name, text.as_bytes());
    let shown = err.to_string();
    assert!(err.is_usage(), "{shown}");
    assert!(
        shown.starts_with(&format!("{path}:{line}: ")),
        "expected {path}:{line}: ..., got {shown}"
    );
    assert!(shown.contains(needle), "{shown}");
}

#[test]
fn empty_scripts() {
    for text in ["", "   \n\n\t\n"] {
        let (path, err) = plan_error("empty.fountain", text.as_bytes());
        assert_eq!(err.to_string(), format!("{path}: the script is empty"));
        assert!(err.is_usage());
    }
}

#[test]
fn no_scenes() {
    let (path, err) = plan_error(
        "action.fountain",
        b"Title: Nothing Happens\n\nA red ball sits on green grass.\n\nMARA\nHello?\n",
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{path}: no scene headings")),
        "{shown}"
    );
    assert!(err.is_usage());
}

#[test]
fn malformed_title_page() {
    assert_line(
        "title.fountain",
        "Title: The Ball\nAuthor: Ann\nthis line is not a field\n\nEXT. MEADOW - DAY\n\nA ball.\n",
        3,
        "malformed title page",
    );
    assert_line(
        "title.fountain",
        "Title:\nAuthor: Ann\n\nEXT. MEADOW - DAY\n\nA ball.\n",
        1,
        "`Title:` has no value",
    );
}

#[test]
fn unknown_transition() {
    assert_line(
        "wipe.fountain",
        "EXT. MEADOW - DAY\n\nA red ball.\n\nWIPE TO:\n\nEXT. SEA - DAY\n\nA blue ball.\n",
        5,
        "unknown transition \"WIPE TO:\"",
    );
    assert_line(
        "forced.fountain",
        "EXT. MEADOW - DAY\n\nA red ball.\n\n> IRIS OUT\n",
        5,
        "unknown transition \"IRIS OUT\"",
    );
}

#[test]
fn unclosed_notes_and_boneyard() {
    assert_line(
        "note.fountain",
        "EXT. A - DAY\n\nA ball. [[ a note\nthat never ends\n",
        3,
        "note [[ is never closed",
    );
    assert_line(
        "bone.fountain",
        "EXT. A - DAY\n\n/* cut this\n",
        3,
        "boneyard /* is never closed",
    );
}

#[test]
fn not_text() {
    let (path, err) = plan_error("binary.fountain", b"EXT. A - DAY\n\nA \xff ball\n");
    assert_eq!(err.to_string(), format!("{path}:3: not valid UTF-8 text"));
}

#[test]
fn storyboard_errors() {
    let shot = "[[shot]]\nprompt = \"A red ball.\"\n";
    assert_line(
        "neg.toml",
        &format!("{shot}duration = -1.5\n"),
        3,
        "got -1.5",
    );
    assert_line("zero.toml", &format!("{shot}duration = 0\n"), 3, "above 0");
    assert_line(
        "missing.toml",
        "[[shot]]\nprompt = \"A red ball.\"\n",
        1,
        "duration",
    );
    assert_line(
        "typo.toml",
        &format!("{shot}duration = 1\nsede = 3\n"),
        4,
        "sede",
    );
    assert_line(
        "wipe.toml",
        &format!("{shot}duration = 1\ntransition = \"wipe\"\n"),
        4,
        "unknown transition \"wipe\"",
    );
    assert_line(
        "seed.toml",
        &format!("{shot}duration = 1\nseed = -3\n"),
        4,
        "seed must be 0 or more",
    );
    assert_line("none.toml", "title = \"Nothing\"\n", 1, "no [[shot]]");
    assert_line("syntax.toml", "title = \"x\"\n[[shot]\n", 2, "storyboard:");
}

#[test]
fn bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.fountain");
    std::fs::write(&path, "EXT. A - DAY\n\nA ball.\n").unwrap();
    let settings = PlanSettings {
        fps: 0.0,
        ..PlanSettings::default()
    };
    let err = plan_file(&path, &settings).unwrap_err();
    assert!(err.is_usage() && err.to_string().contains("fps"), "{err}");
}
