//! The body: paragraphs (runs of non-blank lines) become scene headings, action, dialogue,
//! transitions, centered text, sections, synopses, lyrics and page breaks.

use super::{Dialogue, Element, ElementKind, SceneHeading, plain};
use crate::error::LineError;
use crate::transition::{KNOWN_TRANSITIONS, parse_transition};

/// Parses `lines[start..]` (line numbers are indices + 1).
pub fn parse(lines: &[&str], start: usize) -> Result<Vec<Element>, LineError> {
    let mut elements = Vec::new();
    let mut block: Vec<(usize, &str)> = Vec::new();
    for (i, raw) in lines.iter().enumerate().skip(start) {
        // A line of two or more spaces is Fountain's way to keep an element going across
        // an empty line; anything else blank ends the paragraph.
        if raw.trim().is_empty() && !(raw.len() >= 2 && raw.bytes().all(|b| b == b' ')) {
            paragraph(&block, &mut elements)?;
            block.clear();
        } else {
            block.push((i + 1, raw.trim_end()));
        }
    }
    paragraph(&block, &mut elements)?;
    Ok(elements)
}

/// One paragraph; its first line decides what it is.
fn paragraph(block: &[(usize, &str)], out: &mut Vec<Element>) -> Result<(), LineError> {
    let Some(&(line, first)) = block.first() else {
        return Ok(());
    };
    let trimmed = first.trim();
    let rest = &block[1..];
    let push = |out: &mut Vec<Element>, kind| out.push(Element { line, kind });

    if let Some(heading) = scene_heading(trimmed) {
        push(out, ElementKind::SceneHeading(heading));
        return action(rest, out);
    }
    if is_centered(trimmed) {
        let n = block
            .iter()
            .take_while(|(_, l)| is_centered(l.trim()))
            .count();
        let text: Vec<String> = block[..n]
            .iter()
            .map(|(_, l)| {
                let t = l.trim();
                plain(t[1..t.len() - 1].trim())
            })
            .collect();
        push(out, ElementKind::Centered(text.join("\n")));
        return action(&block[n..], out);
    }
    if let Some(result) = transition(line, trimmed) {
        push(out, ElementKind::Transition(result?));
        return action(rest, out);
    }
    if trimmed.starts_with('#') {
        for &(l, text) in block {
            let t = text.trim();
            let depth = t.chars().take_while(|&c| c == '#').count();
            let kind = if depth > 0 {
                ElementKind::Section {
                    depth,
                    text: t[depth..].trim().to_string(),
                }
            } else {
                ElementKind::Action(plain(t))
            };
            out.push(Element { line: l, kind });
        }
        return Ok(());
    }
    if trimmed.starts_with('=') && !trimmed.starts_with("===") {
        push(out, ElementKind::Synopsis(plain(trimmed[1..].trim())));
        return action(rest, out);
    }
    if trimmed.len() >= 3 && trimmed.chars().all(|c| c == '=') {
        push(out, ElementKind::PageBreak);
        return action(rest, out);
    }
    if trimmed.starts_with('~') {
        let text: Vec<String> = block
            .iter()
            .map(|(_, l)| plain(l.trim().trim_start_matches('~').trim()))
            .collect();
        push(out, ElementKind::Lyric(text.join("\n")));
        return Ok(());
    }
    if !rest.is_empty()
        && let Some((character, extensions, dual)) = character_cue(trimmed)
    {
        push(
            out,
            ElementKind::Dialogue(dialogue(character, extensions, dual, rest)),
        );
        return Ok(());
    }
    action(block, out)
}

/// Action lines (a forcing `!` removed); nothing if `block` is empty.
fn action(block: &[(usize, &str)], out: &mut Vec<Element>) -> Result<(), LineError> {
    let Some(&(line, _)) = block.first() else {
        return Ok(());
    };
    let text: Vec<String> = block
        .iter()
        .map(|(_, l)| plain(l.trim().strip_prefix('!').unwrap_or(l.trim())))
        .collect();
    out.push(Element {
        line,
        kind: ElementKind::Action(text.join("\n")),
    });
    Ok(())
}

/// `INT. KITCHEN - NIGHT #3#`, or a forced `.ANYTHING`.
fn scene_heading(line: &str) -> Option<SceneHeading> {
    let forced = line
        .strip_prefix('.')
        .filter(|rest| rest.chars().next().is_some_and(|c| c.is_alphanumeric()));
    let text = match forced {
        Some(rest) => rest,
        None => {
            let upper = line.to_ascii_uppercase();
            let prefixes = [
                "INT./EXT", "INT/EXT", "EXT./INT", "EXT/INT", "I/E", "INT", "EXT", "EST",
            ];
            let prefix = prefixes.iter().find(|p| upper.starts_with(*p))?;
            let next = upper[prefix.len()..].chars().next()?;
            if next != '.' && next != ' ' {
                return None;
            }
            line
        }
    };
    let (text, number) = match text.trim_end().strip_suffix('#') {
        Some(before) => match before.rfind('#') {
            Some(at) => (
                before[..at].trim_end(),
                Some(before[at + 1..].trim().to_string()),
            ),
            None => (text, None),
        },
        None => (text, None),
    };
    let text = plain(text.trim());
    let upper = text.to_ascii_uppercase();
    let (int_ext, place) = if forced.is_some()
        && !["INT", "EXT", "EST", "I/E"]
            .iter()
            .any(|p| upper.starts_with(p))
    {
        (String::new(), text.as_str())
    } else {
        let cut = text.find(' ').unwrap_or(text.len());
        (
            text[..cut].trim_end_matches('.').to_ascii_uppercase(),
            text[cut..].trim(),
        )
    };
    let (location, time) = match place.rsplit_once(" - ") {
        Some((loc, time)) => (loc.trim().to_string(), Some(time.trim().to_string())),
        None => (place.to_string(), None),
    };
    Some(SceneHeading {
        text: text.clone(),
        int_ext,
        location,
        time,
        number,
    })
}

fn is_centered(line: &str) -> bool {
    line.len() >= 2 && line.starts_with('>') && line.ends_with('<')
}

/// A transition line: forced with `>`, an upper-case line ending in `TO:`, or one of the
/// standalone upper-case names (`FADE OUT.`, `FADE IN:`). `Some(Err)` for one Kino does not
/// perform.
fn transition(
    line: usize,
    text: &str,
) -> Option<Result<crate::transition::WrittenTransition, LineError>> {
    let (candidate, forced) = match text.strip_prefix('>') {
        Some(rest) => (rest.trim(), true),
        None => (text, false),
    };
    let upper =
        !candidate.chars().any(char::is_lowercase) && candidate.chars().any(char::is_alphabetic);
    let known = parse_transition(candidate);
    if !(forced || (upper && (candidate.ends_with("TO:") || known.is_some()))) {
        return None;
    }
    Some(known.ok_or_else(|| {
        LineError::new(
            line,
            format!(
                "unknown transition {candidate:?}; Kino performs {KNOWN_TRANSITIONS} \
                 (write it in lower case if it is action)"
            ),
        )
    }))
}

/// `MARA`, `MARA (V.O.)`, `@McCLANE`, `BO ^`: the name, its extensions, and dual dialogue.
fn character_cue(line: &str) -> Option<(String, Vec<String>, bool)> {
    let (line, dual) = match line.strip_suffix('^') {
        Some(rest) => (rest.trim_end(), true),
        None => (line, false),
    };
    let (line, forced) = match line.strip_prefix('@') {
        Some(rest) => (rest, true),
        None => (line, false),
    };
    let name_end = line.find('(').unwrap_or(line.len());
    let name = line[..name_end].trim();
    if name.is_empty() || line.starts_with('!') {
        return None;
    }
    if !forced
        && (name.chars().any(char::is_lowercase)
            || !name.chars().next().is_some_and(char::is_alphabetic))
    {
        return None;
    }
    let mut extensions = Vec::new();
    let mut rest = &line[name_end..];
    while let Some(open) = rest.find('(') {
        let close = rest[open..].find(')')? + open;
        extensions.push(rest[open + 1..close].trim().to_string());
        rest = &rest[close + 1..];
    }
    Some((plain(name), extensions, dual))
}

fn dialogue(
    character: String,
    extensions: Vec<String>,
    dual: bool,
    lines: &[(usize, &str)],
) -> Dialogue {
    let mut parentheticals = Vec::new();
    let mut spoken: Vec<String> = Vec::new();
    for &(_, l) in lines {
        let t = l.trim();
        if t.starts_with('(') && t.ends_with(')') {
            parentheticals.push(plain(t[1..t.len() - 1].trim()));
        } else if !t.is_empty() {
            spoken.push(plain(t));
        }
    }
    Dialogue {
        character,
        extensions,
        dual,
        parentheticals,
        text: spoken.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<ElementKind> {
        let lines: Vec<&str> = text.lines().collect();
        parse(&lines, 0)
            .expect("valid")
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn headings_split() {
        let h = scene_heading("EXT. MEADOW BY THE SEA - DAY #4#").expect("heading");
        assert_eq!(h.int_ext, "EXT");
        assert_eq!(h.location, "MEADOW BY THE SEA");
        assert_eq!(h.time.as_deref(), Some("DAY"));
        assert_eq!(h.number.as_deref(), Some("4"));
        let h = scene_heading("int/ext car - moving").expect("heading");
        assert_eq!(
            (h.int_ext.as_str(), h.location.as_str()),
            ("INT/EXT", "car")
        );
        let h = scene_heading(".FLASHBACK").expect("forced");
        assert_eq!((h.int_ext.as_str(), h.location.as_str()), ("", "FLASHBACK"));
        assert!(scene_heading("INTERIOR design is fun").is_none());
        assert!(scene_heading("...and then").is_none());
    }

    #[test]
    fn dialogue_with_parenthetical() {
        let k = kinds("MARA (V.O.)\n(quietly)\nHello there.\nFriend.");
        let ElementKind::Dialogue(d) = &k[0] else {
            panic!("{k:?}")
        };
        assert_eq!(d.character, "MARA");
        assert_eq!(d.extensions, vec!["V.O.".to_string()]);
        assert_eq!(d.parentheticals, vec!["quietly".to_string()]);
        assert_eq!(d.text, "Hello there. Friend.");
    }

    #[test]
    fn transitions_and_centered() {
        use crate::transition::{Transition, WrittenTransition};
        let k = kinds("CUT TO:\n\n> THE END <\n\nFADE OUT.");
        assert_eq!(
            k[0],
            ElementKind::Transition(WrittenTransition::Out(Transition::Cut))
        );
        assert_eq!(k[1], ElementKind::Centered("THE END".into()));
        let lines = ["WIPE TO:"];
        let err = parse(&lines, 0).expect_err("unknown");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("unknown transition \"WIPE TO:\""));
        assert_eq!(
            k[2],
            ElementKind::Transition(WrittenTransition::Out(Transition::FadeOut))
        );
    }

    #[test]
    fn two_spaces_keep_an_element_going() {
        let k = kinds("BO\nOne.\n  \nTwo.\n\nA ball.\n  \nStill the same paragraph.");
        let ElementKind::Dialogue(d) = &k[0] else {
            panic!("{k:?}")
        };
        assert_eq!(d.text, "One. Two.");
        assert_eq!(
            k[1],
            ElementKind::Action("A ball.\n\nStill the same paragraph.".into())
        );
    }

    #[test]
    fn a_lone_capital_line_is_action() {
        let k = kinds("BANG!");
        assert_eq!(k, vec![ElementKind::Action("BANG!".into())]);
    }
}
