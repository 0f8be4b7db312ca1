//! The title page: `Key: value` lines at the very top, values continued on indented lines,
//! ended by the first blank line.

use super::TitleField;
use crate::error::LineError;

/// Reads the title page, if the document opens with one; returns its fields and the index
/// of the first body line.
pub fn parse(lines: &[&str]) -> Result<(Vec<TitleField>, usize), LineError> {
    let Some(first) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return Ok((Vec::new(), 0));
    };
    // `FADE IN:` opens many scripts that have no title page.
    if key_value(lines[first]).is_none()
        || crate::transition::parse_transition(lines[first]).is_some()
    {
        return Ok((Vec::new(), 0));
    }
    let mut fields: Vec<TitleField> = Vec::new();
    let mut i = first;
    while i < lines.len() && !lines[i].trim().is_empty() {
        let raw = lines[i];
        let line = i + 1;
        if is_continuation(raw) {
            let Some(field) = fields.last_mut() else {
                return Err(LineError::new(
                    line,
                    "malformed title page: an indented line before any `Key:`",
                ));
            };
            if !field.value.is_empty() {
                field.value.push('\n');
            }
            field.value.push_str(super::plain(raw.trim()).as_str());
        } else if let Some((key, value)) = key_value(raw) {
            if let Some(last) = fields.last()
                && last.value.is_empty()
            {
                return Err(empty_field(last));
            }
            fields.push(TitleField {
                key: key.to_string(),
                value: super::plain(value.trim()),
                line,
            });
        } else {
            return Err(LineError::new(
                line,
                format!(
                    "malformed title page: {:?} is neither `Key: value` nor an indented \
                     continuation (end the title page with a blank line before the script)",
                    raw.trim()
                ),
            ));
        }
        i += 1;
    }
    if let Some(last) = fields.last()
        && last.value.is_empty()
    {
        return Err(empty_field(last));
    }
    Ok((fields, i))
}

fn empty_field(field: &TitleField) -> LineError {
    LineError::new(
        field.line,
        format!(
            "malformed title page: `{}:` has no value (write it after the colon or on indented lines below)",
            field.key
        ),
    )
}

fn is_continuation(line: &str) -> bool {
    line.starts_with("   ") || line.starts_with('\t')
}

/// `Key: value` where the key is a few words of letters (so `INT. HOUSE: DAY` or dialogue
/// is not mistaken for one).
fn key_value(line: &str) -> Option<(&str, &str)> {
    if is_continuation(line) {
        return None;
    }
    let (key, value) = line.split_once(':')?;
    let key = key.trim();
    let ok = !key.is_empty()
        && key.len() <= 40
        && key.chars().next().is_some_and(char::is_alphabetic)
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || c == '_' || c == '-');
    ok.then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_continuations() {
        let lines = [
            "Title: The Ball",
            "Credit: written by",
            "Authors:",
            "   Ann",
            "   Bo",
            "",
            "INT. ROOM - DAY",
        ];
        let (fields, start) = parse(&lines).expect("valid");
        assert_eq!(start, 5);
        assert_eq!(fields[2].value, "Ann\nBo");
        assert_eq!(fields[2].line, 3);
    }

    #[test]
    fn malformed_lines_are_named() {
        let err = parse(&["Title: X", "this is not a field", ""]).expect_err("error");
        assert_eq!(err.line, 2);
        let err = parse(&["Title:", "Author: A"]).expect_err("error");
        assert_eq!(err.line, 1);
        assert!(
            err.message.contains("`Title:` has no value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn fade_in_is_not_a_title_page() {
        let (fields, start) = parse(&["FADE IN:", "", "INT. ROOM - DAY"]).expect("valid");
        assert!(fields.is_empty());
        assert_eq!(start, 0);
    }

    #[test]
    fn no_title_page() {
        let (fields, start) = parse(&["INT. ROOM - DAY", "", "Text."]).expect("valid");
        assert!(fields.is_empty());
        assert_eq!(start, 0);
    }
}
