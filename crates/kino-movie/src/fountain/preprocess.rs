//! Boneyard `/* ... */` and notes `[[ ... ]]` come out before anything else is read. Their
//! line breaks stay, so every later line number is the line in the file.

use super::Note;
use crate::error::LineError;

/// The text without boneyard and notes, and the notes.
#[derive(Debug)]
pub struct Stripped {
    /// Same number of lines as the input.
    pub text: String,
    /// The notes, with their first line.
    pub notes: Vec<Note>,
}

/// Removes boneyard and notes; an unclosed `/*` or `[[` is an error at the line it opens.
pub fn strip(text: &str) -> Result<Stripped, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let without_boneyard = remove_spans(&text, "/*", "*/", |_, _| {}, "boneyard /*", "*/")?;
    let mut notes = Vec::new();
    let without_notes = remove_spans(
        &without_boneyard,
        "[[",
        "]]",
        |line, body| {
            notes.push(Note {
                text: body.trim().to_string(),
                line,
            })
        },
        "note [[",
        "]]",
    )?;
    Ok(Stripped {
        text: without_notes,
        notes,
    })
}

/// Cuts every `open ... close` span out of `text`, keeping its newlines; `found(line, body)`
/// sees each span.
fn remove_spans(
    text: &str,
    open: &str,
    close: &str,
    mut found: impl FnMut(usize, &str),
    what: &str,
    closer: &str,
) -> Result<String, LineError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut line = 1;
    while let Some(start) = rest.find(open) {
        let before = &rest[..start];
        line += before.matches('\n').count();
        out.push_str(before);
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else {
            return Err(LineError::new(
                line,
                format!("{what} is never closed (add {closer})"),
            ));
        };
        let body = &after[..end];
        found(line, body);
        let breaks = body.matches('\n').count();
        out.extend(std::iter::repeat_n('\n', breaks));
        line += breaks;
        rest = &after[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines() {
        let s = strip("a\n/* b\nc */d\n[[note\none]] e\nf").expect("valid");
        assert_eq!(s.text, "a\n\nd\n\n e\nf");
        assert_eq!(
            s.notes,
            vec![Note {
                text: "note\none".into(),
                line: 4
            }]
        );
    }

    #[test]
    fn unclosed_is_named() {
        let err = strip("a\n\nb [[ never").expect_err("error");
        assert_eq!(err.line, 3);
        let err = strip("/*\n\n").expect_err("error");
        assert_eq!(err.line, 1);
    }
}
