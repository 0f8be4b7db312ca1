//! Planning: a screenplay or storyboard becomes a [`Plan`], the shot list a film is rendered
//! and assembled from. Every length is a whole number of frames at the film's rate, so the
//! plan's total is exactly the film's length.
//!
//! From a screenplay: each action paragraph starts a shot; the dialogue after it belongs to
//! that shot; a scene with dialogue but no action (or nothing at all) gets one shot of its
//! setting. The title page becomes an opening title card, centered text (`> THE END <`) a
//! card where it stands. A shot lasts its action's reading time (capped) plus its dialogue's
//! reading time, and at least [`PlanSettings::min_shot_seconds`].

mod screenplay;
mod storyboard;

use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{MovieError, Result};
use crate::prompt::PromptContext;
use crate::transition::Transition;

pub use screenplay::plan_screenplay;
pub use storyboard::plan_storyboard;

/// How scripts become shots: size, rate, seed and the timing rules. `Default` is what the
/// `kino movie` commands use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSettings {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second of the film.
    pub fps: f64,
    /// The film's seed; each shot's seed is derived from it and the shot's place.
    pub seed: u64,
    /// Reading speed of action lines.
    pub action_words_per_second: f64,
    /// Longest time the action alone gives a shot.
    pub max_action_seconds: f64,
    /// Speaking speed of dialogue.
    pub dialogue_words_per_second: f64,
    /// Shortest time one spoken line is on screen.
    pub min_line_seconds: f64,
    /// Pause after each spoken line.
    pub line_pause_seconds: f64,
    /// Shortest shot.
    pub min_shot_seconds: f64,
    /// How long a title card or centered text stays up.
    pub card_seconds: f64,
    /// Length of a dissolve (shortened to half of a shorter shot).
    pub dissolve_seconds: f64,
    /// Length of a fade to or from black (shortened to half of a shorter shot).
    pub fade_seconds: f64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            width: 256,
            height: 256,
            fps: 16.0,
            seed: 0,
            action_words_per_second: 3.0,
            max_action_seconds: 4.0,
            dialogue_words_per_second: 2.5,
            min_line_seconds: 1.0,
            line_pause_seconds: 0.25,
            min_shot_seconds: 2.0,
            card_seconds: 3.0,
            dissolve_seconds: 1.0,
            fade_seconds: 1.0,
        }
    }
}

impl PlanSettings {
    /// Checks size, rate and timing values.
    pub fn validate(&self) -> Result<()> {
        kino_media::validate_size(self.width, self.height)
            .and_then(|()| kino_media::validate_fps(self.fps))
            .map_err(|e| MovieError::InvalidSetting(e.to_string()))?;
        for (name, v) in [
            ("action words per second", self.action_words_per_second),
            ("dialogue words per second", self.dialogue_words_per_second),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(MovieError::InvalidSetting(format!(
                    "{name} must be above 0, got {v}"
                )));
            }
        }
        for (name, v) in [
            ("max action seconds", self.max_action_seconds),
            ("min line seconds", self.min_line_seconds),
            ("line pause seconds", self.line_pause_seconds),
            ("min shot seconds", self.min_shot_seconds),
            ("card seconds", self.card_seconds),
            ("dissolve seconds", self.dissolve_seconds),
            ("fade seconds", self.fade_seconds),
        ] {
            if !v.is_finite() || !(0.0..=600.0).contains(&v) {
                return Err(MovieError::InvalidSetting(format!(
                    "{name} must be between 0 and 600, got {v}"
                )));
            }
        }
        Ok(())
    }

    fn frames(&self, seconds: f64) -> usize {
        (seconds * self.fps).round().max(1.0) as usize
    }
}

/// The film to make: shots in order with their frames, transitions and dialogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The title (title page or storyboard), if any.
    pub title: Option<String>,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Style line and character descriptions shared by every prompt.
    pub context: PromptContext,
    /// Shots and cards, in film order.
    pub shots: Vec<Shot>,
    /// Subtitles: one per spoken line, inside its shot.
    pub cues: Vec<Cue>,
    /// Frames of the assembled film (dissolves overlap, so this is less than the sum).
    pub total_frames: usize,
}

impl Plan {
    /// The film's length in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.total_frames as f64 / self.fps
    }

    /// Shots made by the model (not cards).
    pub fn generated(&self) -> impl Iterator<Item = &Shot> {
        self.shots
            .iter()
            .filter(|s| matches!(s.content, ShotContent::Generated { .. }))
    }
}

/// One shot of the film.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shot {
    /// 1-based position in the film.
    pub number: usize,
    /// The script line it comes from.
    pub line: usize,
    /// 1-based scene number (none for title cards and shots before the first scene).
    pub scene: Option<usize>,
    /// The scene heading as written.
    pub heading: Option<String>,
    /// What is on screen.
    pub content: ShotContent,
    /// Frames of the shot itself (including the parts that dissolve with its neighbours).
    pub frames: usize,
    /// The film frame its first frame lands on.
    pub start_frame: usize,
    /// How it hands over to the next shot, as written.
    pub transition: Transition,
    /// Frames blended with the previous shot.
    pub dissolve_in: usize,
    /// Frames blended with the next shot.
    pub dissolve_out: usize,
    /// Frames fading up from black at its start.
    pub fade_in: usize,
    /// Frames fading to black at its end.
    pub fade_out: usize,
    /// The lines spoken in it.
    pub dialogue: Vec<DialogueLine>,
}

impl Shot {
    /// The film frame after its last.
    pub fn end_frame(&self) -> usize {
        self.start_frame + self.frames
    }
}

/// What a shot shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ShotContent {
    /// Made by the model from a prompt.
    Generated {
        /// The full prompt.
        prompt: String,
        /// The noise seed.
        seed: u64,
        /// An image the shot should start from (storyboards only).
        first_frame: Option<PathBuf>,
    },
    /// A title card: lines of text on black (the first line is the title).
    Card {
        /// The lines, top to bottom.
        lines: Vec<String>,
    },
}

/// A line of dialogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialogueLine {
    /// Who speaks.
    pub character: String,
    /// How (`whispering`), if written.
    pub parenthetical: Option<String>,
    /// What is said.
    pub text: String,
    /// The script line of the character cue.
    pub line: usize,
}

/// One subtitle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cue {
    /// 1-based number.
    pub index: usize,
    /// The shot it belongs to (1-based).
    pub shot: usize,
    /// First film frame it shows on.
    pub start_frame: usize,
    /// The film frame after its last.
    pub end_frame: usize,
    /// Who speaks.
    pub character: String,
    /// What is said.
    pub text: String,
}

/// A shot before timing is settled.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub(super) line: usize,
    pub(super) scene: Option<usize>,
    pub(super) heading: Option<String>,
    pub(super) content: DraftContent,
    pub(super) action_seconds: f64,
    pub(super) seconds: f64,
    pub(super) dialogue: Vec<DialogueLine>,
    pub(super) transition: Transition,
    pub(super) fade_in: bool,
}

#[derive(Debug, Clone)]
pub(super) enum DraftContent {
    Prompt {
        action: String,
        seed: Option<u64>,
        first_frame: Option<PathBuf>,
    },
    Card(Vec<String>),
}

pub(super) fn card(line: usize, lines: Vec<String>, fade_in: bool) -> Draft {
    Draft {
        line,
        scene: None,
        heading: None,
        content: DraftContent::Card(lines),
        action_seconds: 0.0,
        seconds: 0.0,
        dialogue: Vec::new(),
        transition: Transition::Cut,
        fade_in,
    }
}

/// Settles frames, transitions, start frames and subtitles.
pub(super) fn finish(
    mut drafts: Vec<Draft>,
    contents: Vec<ShotContent>,
    title: Option<String>,
    context: PromptContext,
    settings: &PlanSettings,
) -> Plan {
    for d in &mut drafts {
        if matches!(d.content, DraftContent::Card(_)) {
            d.seconds = settings.card_seconds.max(1.0 / settings.fps);
        }
    }
    let frames: Vec<usize> = drafts.iter().map(|d| settings.frames(d.seconds)).collect();
    let n = drafts.len();
    let mut shots: Vec<Shot> = Vec::with_capacity(n);
    let dissolve = settings.frames(settings.dissolve_seconds);
    let fade = settings.frames(settings.fade_seconds);
    for (i, (d, content)) in drafts.iter().zip(contents).enumerate() {
        let last = i + 1 == n;
        let mut transition = d.transition;
        if last
            && matches!(
                transition,
                Transition::Dissolve | Transition::FadeThroughBlack
            )
        {
            transition = Transition::FadeOut;
        }
        let dissolve_out = match transition {
            Transition::Dissolve => dissolve.min(frames[i] / 2).min(frames[i + 1] / 2),
            _ => 0,
        };
        let fade_out = match transition {
            Transition::FadeOut | Transition::FadeThroughBlack => fade.min(frames[i] / 2),
            _ => 0,
        };
        let dissolve_in = if i > 0 { shots[i - 1].dissolve_out } else { 0 };
        let fade_in = if d.fade_in {
            fade.min(frames[i] / 2)
        } else {
            0
        };
        let start_frame = shots
            .last()
            .map_or(0, |p: &Shot| p.end_frame() - dissolve_in);
        shots.push(Shot {
            number: i + 1,
            line: d.line,
            scene: d.scene,
            heading: d.heading.clone(),
            content,
            frames: frames[i],
            start_frame,
            transition,
            dissolve_in,
            dissolve_out,
            fade_in,
            fade_out,
            dialogue: d.dialogue.clone(),
        });
    }
    let total_frames = shots.last().map_or(0, Shot::end_frame);
    let mut cues = Vec::new();
    for (shot, d) in shots.iter().zip(&drafts) {
        place_cues(shot, d.action_seconds, settings, &mut cues);
    }
    Plan {
        title,
        width: settings.width,
        height: settings.height,
        fps: settings.fps,
        context,
        shots,
        cues,
        total_frames,
    }
}

/// Lays the shot's lines one after another after its action, inside the part of the shot
/// that is not blended with a neighbour; squeezed proportionally when they do not fit.
pub(super) fn place_cues(
    shot: &Shot,
    action_seconds: f64,
    settings: &PlanSettings,
    cues: &mut Vec<Cue>,
) {
    if shot.dialogue.is_empty() {
        return;
    }
    let mut from = shot.start_frame + shot.dissolve_in;
    let mut to = shot.end_frame() - shot.dissolve_out;
    if to - from < shot.dialogue.len() {
        (from, to) = (shot.start_frame, shot.end_frame());
    }
    let room = to - from;
    // Cue boundaries at the action's end and after each line's reading time, rounded as
    // times (not lengths) so they agree with the shot's own rounding; squeezed
    // proportionally when blends leave less room.
    let mut t = action_seconds;
    let mut bounds = vec![t * settings.fps];
    for line in &shot.dialogue {
        t += line_seconds(&line.text, settings);
        bounds.push(t * settings.fps);
    }
    let end = bounds.last().copied().unwrap_or(0.0);
    let squeeze = if end > room as f64 {
        room as f64 / end
    } else {
        1.0
    };
    let at: Vec<usize> = bounds
        .iter()
        .map(|b| ((b * squeeze).round() as usize).min(room))
        .collect();
    for (k, line) in shot.dialogue.iter().enumerate() {
        cues.push(Cue {
            index: cues.len() + 1,
            shot: shot.number,
            start_frame: from + at[k],
            end_frame: from + at[k + 1],
            character: line.character.clone(),
            text: line.text.clone(),
        });
    }
}

pub(super) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

pub(super) fn line_seconds(text: &str, settings: &PlanSettings) -> f64 {
    (word_count(text) as f64 / settings.dialogue_words_per_second).max(settings.min_line_seconds)
        + settings.line_pause_seconds
}

pub(super) fn dialogue_seconds(lines: &[DialogueLine], settings: &PlanSettings) -> f64 {
    lines.iter().map(|l| line_seconds(&l.text, settings)).sum()
}

/// A seed from the film's seed and a shot's stable identity (scene heading and place in it),
/// so editing one scene leaves the others' seeds, and so their cached renders, alone.
pub(super) fn derive_seed(base: u64, key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&digest[..4]);
    base.wrapping_add(u32::from_le_bytes(bytes) as u64)
}
