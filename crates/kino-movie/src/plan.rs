//! Planning: a screenplay or storyboard becomes a [`Plan`], the shot list a film is rendered
//! and assembled from. Every length is a whole number of frames at the film's rate, so the
//! plan's total is exactly the film's length.
//!
//! From a screenplay: each action paragraph starts a shot; the dialogue after it belongs to
//! that shot; a scene with dialogue but no action (or nothing at all) gets one shot of its
//! setting. The title page becomes an opening title card, centered text (`> THE END <`) a
//! card where it stands. A shot lasts its action's reading time (capped) plus its dialogue's
//! reading time, and at least [`PlanSettings::min_shot_seconds`].

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{LineError, MovieError, Result};
use crate::fountain::{ElementKind, Screenplay};
use crate::prompt::PromptContext;
use crate::storyboard::Storyboard;
use crate::transition::{Transition, WrittenTransition};

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
struct Draft {
    line: usize,
    scene: Option<usize>,
    heading: Option<String>,
    content: DraftContent,
    action_seconds: f64,
    seconds: f64,
    dialogue: Vec<DialogueLine>,
    transition: Transition,
    fade_in: bool,
}

#[derive(Debug, Clone)]
enum DraftContent {
    Prompt {
        action: String,
        seed: Option<u64>,
        first_frame: Option<PathBuf>,
    },
    Card(Vec<String>),
}

/// Plans a parsed screenplay. `path` names the file in errors.
pub fn plan_screenplay(play: &Screenplay, path: &Path, settings: &PlanSettings) -> Result<Plan> {
    settings.validate()?;
    if play.scenes().next().is_none() {
        return Err(MovieError::Unusable {
            path: path.to_path_buf(),
            message: "no scene headings (a film needs at least one, e.g. `EXT. MEADOW - DAY`)"
                .into(),
        });
    }
    let ctx = PromptContext::from_screenplay(play);
    let mut drafts: Vec<Draft> = Vec::new();
    if let Some(card) = title_card(play) {
        drafts.push(card);
    }
    let mut scene = 0;
    let mut heading = None;
    // Whether the current scene has a shot yet, and whether the last shot may take dialogue.
    let mut scene_has_shot = true;
    let mut open_shot = false;
    let mut fade_in_next = false;
    let mut heading_line = 0;
    for element in &play.elements {
        let line = element.line;
        match &element.kind {
            ElementKind::SceneHeading(h) => {
                if !scene_has_shot {
                    push_shot(
                        &mut drafts,
                        std::mem::take(&mut fade_in_next),
                        &heading,
                        scene,
                        String::new(),
                        heading_line,
                    );
                }
                scene += 1;
                heading = Some(h.clone());
                heading_line = line;
                scene_has_shot = false;
                open_shot = false;
            }
            ElementKind::Action(text) => {
                push_shot(
                    &mut drafts,
                    std::mem::take(&mut fade_in_next),
                    &heading,
                    scene,
                    text.clone(),
                    line,
                );
                scene_has_shot = true;
                open_shot = true;
            }
            ElementKind::Dialogue(d) => {
                if !open_shot {
                    push_shot(
                        &mut drafts,
                        std::mem::take(&mut fade_in_next),
                        &heading,
                        scene,
                        String::new(),
                        heading_line.max(1),
                    );
                    scene_has_shot = true;
                    open_shot = true;
                }
                if let Some(last) = drafts.last_mut() {
                    last.dialogue.push(DialogueLine {
                        character: d.character.clone(),
                        parenthetical: d.parentheticals.first().cloned(),
                        text: d.text.clone(),
                        line,
                    });
                }
            }
            ElementKind::Transition(t) => {
                if !scene_has_shot {
                    push_shot(
                        &mut drafts,
                        std::mem::take(&mut fade_in_next),
                        &heading,
                        scene,
                        String::new(),
                        heading_line,
                    );
                    scene_has_shot = true;
                }
                open_shot = false;
                match t {
                    WrittenTransition::FadeIn => fade_in_next = true,
                    WrittenTransition::Out(out) => {
                        if let Some(last) = drafts.last_mut() {
                            last.transition = *out;
                        }
                        if *out == Transition::FadeThroughBlack {
                            fade_in_next = true;
                        }
                    }
                }
            }
            ElementKind::Centered(text) => {
                if !scene_has_shot {
                    push_shot(
                        &mut drafts,
                        std::mem::take(&mut fade_in_next),
                        &heading,
                        scene,
                        String::new(),
                        heading_line,
                    );
                    scene_has_shot = true;
                }
                open_shot = false;
                drafts.push(card(
                    line,
                    text.lines().map(str::to_string).collect(),
                    std::mem::take(&mut fade_in_next),
                ));
            }
            ElementKind::Section { .. }
            | ElementKind::Synopsis(_)
            | ElementKind::Lyric(_)
            | ElementKind::PageBreak => {}
        }
    }
    if !scene_has_shot {
        push_shot(
            &mut drafts,
            fade_in_next,
            &heading,
            scene,
            String::new(),
            heading_line,
        );
    }
    // Prompts, seeds and timing, now that each shot's dialogue is known.
    // A shot's seed comes from its heading, which occurrence of that heading it is, and its
    // place in the scene: inserting or editing other scenes leaves it alone.
    let mut per_scene = std::collections::HashMap::new();
    let mut occurrence = std::collections::HashMap::new();
    let mut heading_seen = std::collections::HashMap::new();
    for d in &mut drafts {
        let DraftContent::Prompt { action, seed, .. } = &mut d.content else {
            d.seconds = settings.card_seconds;
            continue;
        };
        let heading = d.heading.clone().unwrap_or_default();
        let nth = *occurrence.entry(d.scene).or_insert_with(|| {
            let count = heading_seen.entry(heading.clone()).or_insert(0usize);
            *count += 1;
            *count
        });
        let shot_in_scene = per_scene.entry(d.scene).or_insert(0usize);
        *shot_in_scene += 1;
        let key = format!("{heading}\u{0}{nth}\u{0}{shot_in_scene}");
        *seed = Some(derive_seed(settings.seed, &key));
        d.action_seconds = (word_count(action) as f64 / settings.action_words_per_second)
            .min(settings.max_action_seconds);
        d.seconds = (d.action_seconds + dialogue_seconds(&d.dialogue, settings))
            .max(settings.min_shot_seconds);
    }
    let heading_of = |d: &Draft| {
        d.heading
            .as_ref()
            .and_then(|text| play.scenes().find(|h| &h.text == text).cloned())
    };
    let contents: Vec<ShotContent> = drafts
        .iter()
        .map(|d| match &d.content {
            DraftContent::Prompt {
                action,
                seed,
                first_frame,
            } => {
                let speakers: Vec<String> =
                    d.dialogue.iter().map(|l| l.character.clone()).collect();
                ShotContent::Generated {
                    prompt: ctx.prompt(heading_of(d).as_ref(), action, &speakers),
                    seed: seed.unwrap_or(settings.seed),
                    first_frame: first_frame.clone(),
                }
            }
            DraftContent::Card(lines) => ShotContent::Card {
                lines: lines.clone(),
            },
        })
        .collect();
    let title = play
        .title_field("title")
        .map(|f| f.value.replace('\n', " "));
    Ok(finish(drafts, contents, title, ctx, settings))
}

/// Adds a shot of the current scene showing `action` (empty: the setting alone).
fn push_shot(
    drafts: &mut Vec<Draft>,
    fade_in: bool,
    heading: &Option<crate::fountain::SceneHeading>,
    scene: usize,
    action: String,
    line: usize,
) {
    drafts.push(Draft {
        line,
        scene: (scene > 0).then_some(scene),
        heading: heading.as_ref().map(|h| h.text.clone()),
        content: DraftContent::Prompt {
            action,
            seed: None,
            first_frame: None,
        },
        action_seconds: 0.0,
        seconds: 0.0,
        dialogue: Vec::new(),
        transition: Transition::Cut,
        fade_in,
    });
}

/// Plans a storyboard; relative image paths are resolved against `base_dir`.
pub fn plan_storyboard(
    board: &Storyboard,
    base_dir: &Path,
    settings: &PlanSettings,
) -> Result<Plan> {
    settings.validate()?;
    let mut ctx = PromptContext {
        style: board.style.clone(),
        characters: Vec::new(),
    };
    for (name, description) in &board.characters {
        ctx.describe(name, description);
    }
    let mut drafts = Vec::new();
    let mut contents = Vec::new();
    if let Some(title) = &board.title {
        let mut lines = vec![title.clone()];
        lines.extend(board.author.iter().map(|a| format!("by {a}")));
        drafts.push(card(1, lines.clone(), true));
        contents.push(ShotContent::Card { lines });
    }
    let mut fade_in_next = false;
    for (i, s) in board.shots.iter().enumerate() {
        let dialogue: Vec<DialogueLine> = s
            .dialogue
            .iter()
            .map(|(character, text)| DialogueLine {
                character: character.clone(),
                parenthetical: None,
                text: text.clone(),
                line: s.line,
            })
            .collect();
        let speakers: Vec<String> = dialogue.iter().map(|l| l.character.clone()).collect();
        let seed = s
            .seed
            .unwrap_or_else(|| derive_seed(settings.seed, &format!("{}\u{0}{}", s.prompt, i)));
        contents.push(ShotContent::Generated {
            prompt: ctx.prompt(None, &s.prompt, &speakers),
            seed,
            first_frame: s.image.as_ref().map(|p| base_dir.join(p)),
        });
        let spoken = dialogue_seconds(&dialogue, settings);
        drafts.push(Draft {
            line: s.line,
            scene: Some(i + 1),
            heading: None,
            content: DraftContent::Prompt {
                action: s.prompt.clone(),
                seed: Some(seed),
                first_frame: None,
            },
            action_seconds: (s.duration - spoken).max(0.0),
            seconds: s.duration,
            dialogue,
            transition: s.transition,
            fade_in: s.fade_in || std::mem::take(&mut fade_in_next),
        });
        if s.transition == Transition::FadeThroughBlack {
            fade_in_next = true;
        }
    }
    Ok(finish(drafts, contents, board.title.clone(), ctx, settings))
}

fn card(line: usize, lines: Vec<String>, fade_in: bool) -> Draft {
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

/// The opening card: Title, then Credit and Author(s), then Source.
fn title_card(play: &Screenplay) -> Option<Draft> {
    let title = play.title_field("title")?;
    let mut lines: Vec<String> = title.value.lines().map(str::to_string).collect();
    for key in ["credit", "author", "authors", "source"] {
        if let Some(f) = play.title_field(key) {
            lines.extend(f.value.lines().map(str::to_string));
        }
    }
    Some(card(title.line, lines, true))
}

/// Settles frames, transitions, start frames and subtitles.
fn finish(
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
fn place_cues(shot: &Shot, action_seconds: f64, settings: &PlanSettings, cues: &mut Vec<Cue>) {
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

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn line_seconds(text: &str, settings: &PlanSettings) -> f64 {
    (word_count(text) as f64 / settings.dialogue_words_per_second).max(settings.min_line_seconds)
        + settings.line_pause_seconds
}

fn dialogue_seconds(lines: &[DialogueLine], settings: &PlanSettings) -> f64 {
    lines.iter().map(|l| line_seconds(&l.text, settings)).sum()
}

/// A seed from the film's seed and a shot's stable identity (scene heading and place in it),
/// so editing one scene leaves the others' seeds, and so their cached renders, alone.
fn derive_seed(base: u64, key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&digest[..4]);
    base.wrapping_add(u32::from_le_bytes(bytes) as u64)
}

/// What a script file holds.
#[derive(Debug, Clone)]
pub enum Script {
    /// A Fountain screenplay.
    Screenplay(Screenplay),
    /// A TOML storyboard.
    Storyboard(Storyboard),
}

/// Reads and parses a script: `.toml` is a storyboard, anything else Fountain. An empty
/// file and every parse error name the file (and line).
pub fn load_script(path: &Path) -> Result<Script> {
    let bytes = std::fs::read(path).map_err(|e| MovieError::io("cannot read", path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        LineError::new(line, "not valid UTF-8 text").in_file(path)
    })?;
    if text.trim().is_empty() {
        return Err(MovieError::Unusable {
            path: path.to_path_buf(),
            message: "the script is empty".into(),
        });
    }
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        crate::storyboard::parse(&text)
            .map(Script::Storyboard)
            .map_err(|e| e.in_file(path))
    } else {
        crate::fountain::parse(&text)
            .map(Script::Screenplay)
            .map_err(|e| e.in_file(path))
    }
}

/// Plans a loaded script; `path` is the file it came from (named in errors; a
/// storyboard's images are relative to its folder).
pub fn plan_script(script: &Script, path: &Path, settings: &PlanSettings) -> Result<Plan> {
    match script {
        Script::Screenplay(play) => plan_screenplay(play, path, settings),
        Script::Storyboard(board) => {
            let base = path.parent().unwrap_or(Path::new("."));
            plan_storyboard(board, base, settings)
        }
    }
}

/// Reads, parses and plans a script file.
pub fn plan_file(path: &Path, settings: &PlanSettings) -> Result<Plan> {
    plan_script(&load_script(path)?, path, settings)
}
