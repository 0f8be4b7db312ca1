//! Storyboards: a TOML file for people who would rather list shots than write a screenplay.
//!
//! ```toml
//! title = "Red Ball"            # optional: an opening title card
//! author = "Ann Writer"         # optional
//! style = "flat bright colours" # optional: added to every prompt
//!
//! [characters]                  # optional: added to the prompts that name them
//! MARA = "a small red ball"
//!
//! [[shot]]
//! prompt = "A red ball bounces on green grass."
//! duration = 2.5                # seconds, above 0
//! seed = 7                      # optional (default: the film's seed and the shot number)
//! transition = "dissolve"       # into the next shot: cut (default), dissolve, fade-out, fade
//! fade_in = true                # optional: fade up from black
//! image = "first.png"           # optional first frame, relative to the storyboard
//! dialogue = [{ character = "MARA", text = "Hello." }]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::error::LineError;
use crate::transition::{Transition, parse_storyboard_transition};

/// A parsed, checked storyboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Storyboard {
    /// Title card text, if any.
    pub title: Option<String>,
    /// Author, shown on the title card.
    pub author: Option<String>,
    /// Style line added to every prompt.
    pub style: Option<String>,
    /// Character descriptions by name.
    pub characters: BTreeMap<String, String>,
    /// The shots, in order.
    pub shots: Vec<StoryboardShot>,
}

/// One `[[shot]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryboardShot {
    /// The line of its `[[shot]]` header (or its first key).
    pub line: usize,
    /// What the shot shows.
    pub prompt: String,
    /// Seconds on screen.
    pub duration: f64,
    /// Explicit seed.
    pub seed: Option<u64>,
    /// Into the next shot.
    pub transition: Transition,
    /// Fade up from black.
    pub fade_in: bool,
    /// First-frame image, as written (relative to the storyboard's folder).
    pub image: Option<PathBuf>,
    /// Spoken lines: (character, text).
    pub dialogue: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    title: Option<String>,
    author: Option<String>,
    style: Option<String>,
    #[serde(default)]
    characters: BTreeMap<String, String>,
    #[serde(default)]
    shot: Vec<Spanned<RawShot>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShot {
    prompt: Spanned<String>,
    duration: Spanned<f64>,
    seed: Option<Spanned<i64>>,
    transition: Option<Spanned<String>>,
    #[serde(default)]
    fade_in: bool,
    image: Option<Spanned<String>>,
    #[serde(default)]
    dialogue: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    character: String,
    text: String,
}

/// Longest shot a storyboard may ask for, in seconds.
pub const MAX_SHOT_SECONDS: f64 = 600.0;

/// Parses and checks a storyboard; errors name the line.
pub fn parse(text: &str) -> Result<Storyboard, LineError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let raw: RawBoard = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(s.start));
        LineError::new(line, format!("storyboard: {}", e.message().trim()))
    })?;
    if raw.shot.is_empty() {
        return Err(LineError::new(
            1,
            "storyboard has no [[shot]] tables; a film needs at least one shot",
        ));
    }
    let mut shots = Vec::with_capacity(raw.shot.len());
    for spanned in raw.shot {
        let line = line_of(spanned.span().start);
        let s = spanned.into_inner();
        let prompt_line = line_of(s.prompt.span().start);
        let prompt = s.prompt.into_inner().trim().to_string();
        if prompt.is_empty() {
            return Err(LineError::new(prompt_line, "shot prompt is empty"));
        }
        let duration_line = line_of(s.duration.span().start);
        let duration = *s.duration.get_ref();
        if !duration.is_finite() || duration <= 0.0 || duration > MAX_SHOT_SECONDS {
            return Err(LineError::new(
                duration_line,
                format!(
                    "shot duration must be above 0 and at most {MAX_SHOT_SECONDS} seconds, got {duration}"
                ),
            ));
        }
        let seed = match s.seed {
            Some(seed) if *seed.get_ref() < 0 => {
                return Err(LineError::new(
                    line_of(seed.span().start),
                    format!("seed must be 0 or more, got {}", seed.get_ref()),
                ));
            }
            Some(seed) => Some(*seed.get_ref() as u64),
            None => None,
        };
        let transition = match s.transition {
            None => Transition::Cut,
            Some(t) => parse_storyboard_transition(t.get_ref()).ok_or_else(|| {
                LineError::new(
                    line_of(t.span().start),
                    format!(
                        "unknown transition {:?}; use cut, dissolve, fade-out or fade",
                        t.get_ref()
                    ),
                )
            })?,
        };
        let image = match s.image {
            Some(img) if img.get_ref().trim().is_empty() => {
                return Err(LineError::new(
                    line_of(img.span().start),
                    "image path is empty",
                ));
            }
            Some(img) => Some(PathBuf::from(img.into_inner())),
            None => None,
        };
        shots.push(StoryboardShot {
            line,
            prompt,
            duration,
            seed,
            transition,
            fade_in: s.fade_in,
            image,
            dialogue: s
                .dialogue
                .into_iter()
                .map(|l| (l.character.trim().to_uppercase(), l.text.trim().to_string()))
                .collect(),
        });
    }
    Ok(Storyboard {
        title: raw.title.filter(|t| !t.trim().is_empty()),
        author: raw.author.filter(|t| !t.trim().is_empty()),
        style: raw.style.filter(|t| !t.trim().is_empty()),
        characters: raw
            .characters
            .into_iter()
            .map(|(k, v)| (k.trim().to_uppercase(), v.trim().to_string()))
            .collect(),
        shots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"title = "Red"
style = "flat colours"

[characters]
Mara = "a red ball"

[[shot]]
prompt = "A red ball bounces on green grass."
duration = 2.5
transition = "dissolve"
dialogue = [{ character = "mara", text = "Hi." }]

[[shot]]
prompt = "A blue square falls in the desert."
duration = 1
seed = 4
"#;

    #[test]
    fn reads_shots() {
        let b = parse(GOOD).expect("valid");
        assert_eq!(b.shots.len(), 2);
        assert_eq!(b.shots[0].transition, Transition::Dissolve);
        assert_eq!(b.shots[0].dialogue[0].0, "MARA");
        assert_eq!(b.shots[1].seed, Some(4));
        assert_eq!(b.characters["MARA"], "a red ball");
        assert_eq!(b.shots[1].line, 13);
    }

    #[test]
    fn negative_duration_names_its_line() {
        let text = GOOD.replace("duration = 1\n", "duration = -2\n");
        let err = parse(&text).expect_err("error");
        assert_eq!(err.line, 15);
        assert!(err.message.contains("got -2"), "{}", err.message);
    }

    #[test]
    fn unknown_keys_and_transitions() {
        let err = parse(&GOOD.replace("seed = 4", "sed = 4")).expect_err("error");
        assert_eq!(err.line, 16, "{}", err.message);
        let err = parse(&GOOD.replace("\"dissolve\"", "\"wipe\"")).expect_err("error");
        assert_eq!(err.line, 10);
        assert!(parse("title = \"x\"").is_err());
    }
}
