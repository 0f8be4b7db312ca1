//! A screenplay's shots: each action paragraph starts one, the dialogue after it belongs to
//! it, written transitions and centered text become fades, dissolves and cards.

use std::path::Path;

use super::{
    DialogueLine, Draft, DraftContent, Plan, PlanSettings, ShotContent, card, derive_seed,
    dialogue_seconds, finish, word_count,
};
use crate::error::{MovieError, Result};
use crate::fountain::{ElementKind, SceneHeading, Screenplay};
use crate::prompt::PromptContext;
use crate::transition::{Transition, WrittenTransition};

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
    let mut walk = Walk::default();
    if let Some(card) = title_card(play) {
        walk.drafts.push(card);
    }
    for element in &play.elements {
        let line = element.line;
        match &element.kind {
            ElementKind::SceneHeading(h) => {
                walk.close_scene();
                walk.scene += 1;
                walk.heading = Some(h.clone());
                walk.heading_line = line;
                walk.scene_has_shot = false;
            }
            ElementKind::Action(text) => walk.shot(text.clone(), line),
            ElementKind::Dialogue(d) => {
                if !walk.open_shot {
                    walk.shot(String::new(), line);
                }
                if let Some(last) = walk.drafts.last_mut() {
                    last.dialogue.push(DialogueLine {
                        character: d.character.clone(),
                        parenthetical: d.parentheticals.first().cloned(),
                        text: d.text.clone(),
                        line,
                    });
                }
            }
            ElementKind::Transition(t) => {
                walk.close_scene();
                match t {
                    WrittenTransition::FadeIn => walk.fade_in_next = true,
                    WrittenTransition::Out(out) => {
                        if let Some(last) = walk.drafts.last_mut() {
                            last.transition = *out;
                        }
                        if *out == Transition::FadeThroughBlack {
                            walk.fade_in_next = true;
                        }
                    }
                }
            }
            ElementKind::Centered(text) => {
                walk.close_scene();
                let fade_in = std::mem::take(&mut walk.fade_in_next);
                let lines = text.lines().map(str::to_string).collect();
                walk.drafts.push(card(line, lines, fade_in));
            }
            ElementKind::Section { .. }
            | ElementKind::Synopsis(_)
            | ElementKind::Lyric(_)
            | ElementKind::PageBreak => {}
        }
    }
    walk.close_scene();
    let mut drafts = walk.drafts;
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

/// Where the walk through a screenplay's elements stands.
struct Walk {
    drafts: Vec<Draft>,
    /// 1-based number of the current scene (0 before the first heading).
    scene: usize,
    heading: Option<SceneHeading>,
    heading_line: usize,
    /// Whether the current scene has a shot yet (an empty scene still gets one).
    scene_has_shot: bool,
    /// Whether dialogue now belongs to the last shot (no transition or card since).
    open_shot: bool,
    /// Whether the next shot or card fades up from black.
    fade_in_next: bool,
}

impl Default for Walk {
    fn default() -> Self {
        Self {
            drafts: Vec::new(),
            scene: 0,
            heading: None,
            heading_line: 1,
            scene_has_shot: true,
            open_shot: false,
            fade_in_next: false,
        }
    }
}

impl Walk {
    /// Adds a shot of the current scene showing `action` (empty: the setting alone).
    fn shot(&mut self, action: String, line: usize) {
        self.drafts.push(Draft {
            line,
            scene: (self.scene > 0).then_some(self.scene),
            heading: self.heading.as_ref().map(|h| h.text.clone()),
            content: DraftContent::Prompt {
                action,
                seed: None,
                first_frame: None,
            },
            action_seconds: 0.0,
            seconds: 0.0,
            dialogue: Vec::new(),
            transition: Transition::Cut,
            fade_in: std::mem::take(&mut self.fade_in_next),
        });
        self.scene_has_shot = true;
        self.open_shot = true;
    }

    /// Ends what the current scene holds: a scene with nothing in it yet becomes a shot of
    /// its setting; later dialogue starts a new shot.
    fn close_scene(&mut self) {
        if !self.scene_has_shot {
            self.shot(String::new(), self.heading_line);
        }
        self.open_shot = false;
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
