//! A storyboard's shots: one per `[[shot]]`, with the lengths and transitions it lists.

use std::path::Path;

use super::{
    DialogueLine, Draft, DraftContent, Plan, PlanSettings, ShotContent, card, derive_seed,
    dialogue_seconds, finish,
};
use crate::error::Result;
use crate::prompt::PromptContext;
use crate::storyboard::Storyboard;
use crate::transition::Transition;

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
