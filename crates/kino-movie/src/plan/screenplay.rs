//! A screenplay's shots: each action paragraph starts one, the dialogue after it belongs to
//! it, written transitions and centered text become fades, dissolves and cards.

use std::path::Path;

use super::{
    DialogueLine, Draft, DraftContent, Plan, PlanSettings, ShotContent, card, derive_seed,
    dialogue_seconds, finish, word_count,
};
use crate::error::{MovieError, Result};
use crate::fountain::{ElementKind, Screenplay};
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
