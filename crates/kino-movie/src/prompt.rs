//! Shot prompts: the action as written (so a model's vocabulary reaches it intact), then the
//! setting from the scene heading, then the descriptions of the characters in the shot, then
//! the film's style line: the same words for the same character and look in every shot.

use crate::fountain::{SceneHeading, Screenplay};

/// What every prompt of one film shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PromptContext {
    /// The look of the whole film (`Style:` on the title page, or a `[[STYLE: ...]]` note).
    pub style: Option<String>,
    /// Character descriptions (`Characters:` on the title page with `NAME: description`
    /// lines, or `[[CHARACTER NAME: description]]` notes), by upper-case name.
    pub characters: Vec<(String, String)>,
}

impl PromptContext {
    /// Collects the style line and character descriptions of a screenplay: title-page fields
    /// `Style` and `Characters` (or `Cast`), then notes `[[STYLE: ...]]` and
    /// `[[CHARACTER NAME: ...]]` (a later description of a name replaces an earlier one).
    pub fn from_screenplay(play: &Screenplay) -> Self {
        let mut ctx = Self::default();
        for field in &play.title_page {
            let key = field.key.to_ascii_lowercase();
            if key == "style" {
                ctx.style = Some(one_line(&field.value));
            } else if key == "characters" || key == "cast" {
                for line in field.value.lines() {
                    if let Some((name, desc)) = line.split_once(':') {
                        ctx.describe(name, desc);
                    }
                }
            }
        }
        for note in &play.notes {
            let Some((head, body)) = note.text.split_once(':') else {
                continue;
            };
            let head = head.trim();
            let mut words = head.split_whitespace();
            match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("STYLE") if words.next().is_none() => ctx.style = Some(one_line(body)),
                Some("CHARACTER") => {
                    let name: Vec<&str> = words.collect();
                    if !name.is_empty() {
                        ctx.describe(&name.join(" "), body);
                    }
                }
                _ => {}
            }
        }
        ctx
    }

    /// Adds or replaces a character's description.
    pub fn describe(&mut self, name: &str, description: &str) {
        let name = name.trim().to_uppercase();
        let description = one_line(description);
        if name.is_empty() || description.is_empty() {
            return;
        }
        match self.characters.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = description,
            None => self.characters.push((name, description)),
        }
    }

    /// The prompt of one shot: `action`, the heading's setting, the described characters who
    /// are named in the action or speak (`speakers`), and the style.
    pub fn prompt(
        &self,
        heading: Option<&SceneHeading>,
        action: &str,
        speakers: &[String],
    ) -> String {
        let mut parts: Vec<String> = Vec::new();
        let action = one_line(action);
        if !action.is_empty() {
            parts.push(sentence(&action));
        }
        if let Some(h) = heading {
            let setting = setting(h);
            if !setting.is_empty() {
                parts.push(sentence(&setting));
            }
        }
        for (name, description) in &self.characters {
            let present = speakers.iter().any(|s| s == name) || names(&action, name);
            if present {
                parts.push(sentence(&format!("{}: {description}", title_case(name))));
            }
        }
        if let Some(style) = &self.style {
            parts.push(sentence(&format!("Style: {style}")));
        }
        parts.join(" ")
    }
}

/// "Outside, meadow by the sea, day" from `EXT. MEADOW BY THE SEA - DAY`.
fn setting(h: &SceneHeading) -> String {
    let place = match h.int_ext.as_str() {
        "INT" => Some("Inside"),
        "EXT" => Some("Outside"),
        "INT/EXT" | "INT./EXT" | "EXT/INT" | "EXT./INT" | "I/E" => Some("Inside and outside"),
        "EST" => Some("Establishing shot"),
        _ => None,
    };
    let mut parts: Vec<String> = place.map(String::from).into_iter().collect();
    if !h.location.trim().is_empty() {
        parts.push(h.location.trim().to_lowercase());
    }
    if let Some(time) = h.time.as_deref().filter(|t| !t.trim().is_empty()) {
        parts.push(time.trim().to_lowercase());
    }
    parts.join(", ")
}

/// Whether `text` names `name` as a whole word (case-insensitive).
fn names(text: &str, name: &str) -> bool {
    let text = text.to_uppercase();
    let mut from = 0;
    while let Some(at) = text[from..].find(name) {
        let start = from + at;
        let end = start + name.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            return true;
        }
        from = end;
    }
    false
}

fn title_case(name: &str) -> String {
    name.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lines joined with spaces, runs of spaces collapsed.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Ends `text` with a full stop unless it already ends a sentence.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?', '"', '\'']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_in_order() {
        let mut ctx = PromptContext {
            style: Some("flat bright colours".into()),
            ..Default::default()
        };
        ctx.describe("mara", "a small red ball");
        ctx.describe("BO", "a blue square");
        let heading = SceneHeading {
            text: "EXT. MEADOW - DAY".into(),
            int_ext: "EXT".into(),
            location: "MEADOW".into(),
            time: Some("DAY".into()),
            number: None,
        };
        let p = ctx.prompt(
            Some(&heading),
            "A red ball bounces on green grass.\nMara laughs",
            &[],
        );
        assert_eq!(
            p,
            "A red ball bounces on green grass. Mara laughs. Outside, meadow, day. \
             Mara: a small red ball. Style: flat bright colours."
        );
        let p = ctx.prompt(None, "Rain.", &["BO".to_string()]);
        assert!(
            p.contains("Bo: a blue square.") && !p.contains("Mara"),
            "{p}"
        );
        assert!(!names("MARAS", "MARA") && names("(MARA)", "MARA"));
    }
}
