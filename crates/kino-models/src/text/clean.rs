//! The Wan pipeline's prompt cleaning (`prompt_clean` in diffusers' `pipelines/wan/pipeline_wan.py`):
//! HTML-unescape twice, trim, collapse every run of whitespace to one space.

use super::html_entities::{
    INVALID_CHARREFS, WITH_SEMICOLON, WITHOUT_SEMICOLON, is_invalid_codepoint,
};

/// Cleans a prompt as `WanPipeline` does before tokenizing it.
///
/// The reference's `prompt_clean(text)` is `whitespace_clean(basic_clean(text))`:
/// `basic_clean` runs `ftfy.fix_text` (when ftfy is installed), then `html.unescape` twice, then
/// `strip`; `whitespace_clean` replaces each run of Unicode whitespace by one space and strips.
///
/// Differences from the reference, both in `basic_clean`:
/// - **ftfy's `fix_text` is not reproduced.** It repairs mojibake (UTF-8 text that was decoded
///   as Latin-1/cp1252, e.g. `cafÃ©` back to `café`), and also normalises some characters
///   (curly quotes are kept, but e.g. `ﬁ` ligatures and full-width forms may change). A prompt
///   with such damage reaches our tokenizer as it was typed, so its token ids (and the video)
///   can differ from the reference's; a clean UTF-8 prompt is unaffected. ftfy is an optional
///   dependency of diffusers, and the pinned reference environment does not have it, so the
///   fixtures match us exactly.
/// - `html.unescape` knows all 2231 HTML5 named references; we know the common ones (every
///   Latin-1 name, `&apos;`, typographic punctuation, arrows, maths, Greek letters) and leave
///   an unknown `&name;` as written. Numeric references (`&#233;`, `&#xE9;`, with or without
///   `;`) follow Python exactly, including HTML5's cp1252 remapping of `&#128;`..`&#159;` and
///   U+FFFD for NUL, surrogates and out-of-range numbers.
pub fn clean_prompt(text: &str) -> String {
    let unescaped = html_unescape(&html_unescape(text));
    // `whitespace_clean`: `regex.sub(r"\s+", " ", text).strip()`. The `regex` module's `\s` is
    // Unicode White_Space, which is `char::is_whitespace`.
    unescaped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replaces HTML character references as Python's `html.unescape` does (see [`clean_prompt`]
/// for the named references this knows).
pub fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match reference(after) {
            Some((replacement, used)) => {
                out.push_str(&replacement);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The replacement for a reference starting just after `&`, and how many bytes it used; `None`
/// when Python's pattern `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` does not match.
fn reference(after: &str) -> Option<(String, usize)> {
    if let Some(number) = after.strip_prefix('#') {
        return numeric(number).map(|(c, used)| (c, used + 1));
    }
    let name_len: usize = after
        .chars()
        .take_while(|c| !matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';'))
        .take(32)
        .map(char::len_utf8)
        .sum();
    if name_len == 0 {
        return None;
    }
    let name = &after[..name_len];
    let semicolon = after[name_len..].starts_with(';');
    let used = name_len + usize::from(semicolon);
    if semicolon && let Some(value) = lookup(WITH_SEMICOLON, name) {
        return Some((value.to_string(), used));
    }
    if !semicolon && let Some(value) = lookup(WITHOUT_SEMICOLON, name) {
        return Some((value.to_string(), used));
    }
    // The longest legacy name that is a proper prefix of `name;` (at least 2 characters), the
    // rest kept: `&ampx` -> `&x`, `&notit;` -> `¬it;`, as the HTML5 standard (and Python) says.
    let whole = &after[..used];
    let ends: Vec<usize> = whole.char_indices().map(|(i, _)| i).skip(2).collect();
    for &end in ends.iter().rev() {
        if let Some(value) = lookup(WITHOUT_SEMICOLON, &whole[..end]) {
            return Some((format!("{value}{}", &whole[end..]), used));
        }
    }
    Some((format!("&{whole}"), used))
}

fn lookup(table: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// A numeric reference after `&#`: decimal digits, or `x`/`X` and hex digits, then an optional
/// `;`. Returns the replacement and the bytes used.
fn numeric(after_hash: &str) -> Option<(String, usize)> {
    let (digits_from, radix) = match after_hash.as_bytes().first() {
        Some(b'x' | b'X') => (1, 16),
        _ => (0, 10),
    };
    let digits = &after_hash[digits_from..];
    let n_digits = digits
        .bytes()
        .take_while(|b| char::from(*b).is_digit(radix))
        .count();
    if n_digits == 0 {
        return None;
    }
    // Python's int is unbounded; anything past u32 is out of range all the same.
    let value = u32::from_str_radix(&digits[..n_digits], radix).unwrap_or(u32::MAX);
    let semicolon = digits[n_digits..].starts_with(';');
    let used = digits_from + n_digits + usize::from(semicolon);
    let replacement = if let Some((_, c)) = INVALID_CHARREFS.iter().find(|(n, _)| *n == value) {
        c.to_string()
    } else if (0xD800..=0xDFFF).contains(&value) || value > 0x10FFFF {
        '\u{FFFD}'.to_string()
    } else if is_invalid_codepoint(value) {
        String::new()
    } else {
        char::from_u32(value).unwrap_or('\u{FFFD}').to_string()
    };
    Some((replacement, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for table in [WITH_SEMICOLON, WITHOUT_SEMICOLON] {
            assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(html_unescape("&ampx &amp;x"), "&x &x");
        assert_eq!(html_unescape("&notit; &notin;"), "¬it; ∉");
        assert_eq!(html_unescape("&#99999999999999999999;"), "\u{FFFD}");
        assert_eq!(html_unescape("&#x1;&#xFFFF;a"), "a");
        assert_eq!(html_unescape("&&amp;;"), "&&;");
        assert_eq!(html_unescape("é&eacute"), "éé");
    }
}
