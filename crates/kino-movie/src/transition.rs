//! Transitions as screenplays write them (CUT TO:, DISSOLVE TO:, FADE OUT., ...) and as the
//! assembler performs them.

use serde::Serialize;

/// What happens where one shot ends and the next begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// A hard cut: the next shot's first frame follows this shot's last.
    #[default]
    Cut,
    /// A cross-fade: the end of this shot and the start of the next overlap and blend.
    Dissolve,
    /// This shot fades to black; the next (if any) cuts in from black.
    FadeOut,
    /// This shot fades to black and the next fades up from black.
    FadeThroughBlack,
}

/// A transition line as written in a script, after normalising case and spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenTransition {
    /// Between two shots (CUT TO:, DISSOLVE TO:, FADE OUT., FADE TO:).
    Out(Transition),
    /// FADE IN: the next shot fades up from black.
    FadeIn,
}

/// The transition names Kino performs, for error messages.
pub const KNOWN_TRANSITIONS: &str = "CUT TO:, SMASH CUT TO:, MATCH CUT TO:, JUMP CUT TO:, \
    DISSOLVE TO:, FADE TO:, FADE TO BLACK., FADE OUT., FADE IN:";

/// Reads a transition such as `DISSOLVE TO:` (case-insensitive; spaces and the final `:`
/// or `.` are loose); `None` when Kino does not know it.
pub fn parse_transition(text: &str) -> Option<WrittenTransition> {
    let words: Vec<String> = text
        .trim()
        .trim_end_matches([':', '.'])
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let name = words.join(" ");
    use Transition::*;
    use WrittenTransition::{FadeIn, Out};
    Some(match name.as_str() {
        "CUT" | "CUT TO" | "SMASH CUT TO" | "MATCH CUT TO" | "JUMP CUT TO" | "HARD CUT TO"
        | "SMASH CUT" | "MATCH CUT" | "JUMP CUT" => Out(Cut),
        "DISSOLVE" | "DISSOLVE TO" | "CROSS DISSOLVE TO" | "LAP DISSOLVE TO" | "CROSSFADE TO" => {
            Out(Dissolve)
        }
        "FADE OUT" | "FADE TO BLACK" | "FADE OUT TO BLACK" => Out(FadeOut),
        "FADE TO" | "FADE THROUGH BLACK TO" => Out(FadeThroughBlack),
        "FADE IN" | "FADE UP" | "FADE IN FROM BLACK" => FadeIn,
        _ => return None,
    })
}

/// A storyboard's `transition = "..."` value: `cut`, `dissolve`, `fade-out` or `fade`.
pub fn parse_storyboard_transition(text: &str) -> Option<Transition> {
    match text
        .trim()
        .to_ascii_lowercase()
        .replace(['_', ' '], "-")
        .as_str()
    {
        "cut" => Some(Transition::Cut),
        "dissolve" | "crossfade" | "cross-fade" => Some(Transition::Dissolve),
        "fade-out" | "fade-to-black" => Some(Transition::FadeOut),
        "fade" | "fade-through-black" => Some(Transition::FadeThroughBlack),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_names() {
        assert_eq!(
            parse_transition("CUT TO:"),
            Some(WrittenTransition::Out(Transition::Cut))
        );
        assert_eq!(
            parse_transition("dissolve  to:"),
            Some(WrittenTransition::Out(Transition::Dissolve))
        );
        assert_eq!(
            parse_transition("FADE OUT."),
            Some(WrittenTransition::Out(Transition::FadeOut))
        );
        assert_eq!(
            parse_transition("FADE IN:"),
            Some(WrittenTransition::FadeIn)
        );
        assert_eq!(parse_transition("WIPE TO:"), None);
        assert_eq!(
            parse_storyboard_transition("Fade Out"),
            Some(Transition::FadeOut)
        );
        assert_eq!(parse_storyboard_transition("wipe"), None);
    }
}
