//! Fountain, the plain-text screenplay format (<https://fountain.io/syntax>): a title page,
//! then scene headings, action, characters with parentheticals and dialogue, transitions,
//! centered text, notes `[[...]]`, boneyard `/* ... */`, sections `#` and synopses `=`.
//!
//! [`parse`] reads the text into a [`Screenplay`] whose every element keeps its 1-based line
//! number, so later stages can point at the line a problem comes from. Boneyard and notes are
//! removed first (keeping line breaks, so line numbers stay true); then the title page; then
//! the body, one paragraph at a time.

mod body;
mod preprocess;
mod title_page;

use crate::error::LineError;
use crate::transition::WrittenTransition;

/// A parsed screenplay.
#[derive(Debug, Clone, PartialEq)]
pub struct Screenplay {
    /// The title page's `Key: value` fields, in order.
    pub title_page: Vec<TitleField>,
    /// The body, in reading order.
    pub elements: Vec<Element>,
    /// Notes `[[...]]`, wherever they stood, with the line they start on.
    pub notes: Vec<Note>,
}

impl Screenplay {
    /// The first title-page field named `key` (case-insensitive).
    pub fn title_field(&self, key: &str) -> Option<&TitleField> {
        self.title_page
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(key))
    }

    /// The scene headings, in order.
    pub fn scenes(&self) -> impl Iterator<Item = &SceneHeading> {
        self.elements.iter().filter_map(|e| match &e.kind {
            ElementKind::SceneHeading(h) => Some(h),
            _ => None,
        })
    }
}

/// One title-page field, e.g. `Title: The Red Ball`; continuation lines are joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleField {
    /// The key as written (`Title`, `Credit`, `Author`, `Draft date`, ...).
    pub key: String,
    /// The value; several lines are joined with `\n`.
    pub value: String,
    /// The line of the key.
    pub line: usize,
}

/// A note `[[...]]` (not shown in the film; some carry directions for Kino, see the planner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text between the brackets, trimmed.
    pub text: String,
    /// The line it starts on.
    pub line: usize,
}

/// One element of the body and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// 1-based line number of the element's first line.
    pub line: usize,
    /// What it is.
    pub kind: ElementKind,
}

/// The kinds of Fountain elements.
#[derive(Debug, Clone, PartialEq)]
pub enum ElementKind {
    /// `INT. KITCHEN - NIGHT`.
    SceneHeading(SceneHeading),
    /// A paragraph of action (lines joined with `\n`).
    Action(String),
    /// A character's speech with its parentheticals.
    Dialogue(Dialogue),
    /// `CUT TO:`, `DISSOLVE TO:`, `FADE OUT.`, `FADE IN:` (as Kino performs them).
    Transition(WrittenTransition),
    /// `> THE END <` (consecutive centered lines are one element, joined with `\n`).
    Centered(String),
    /// `# Act One` (depth = number of `#`).
    Section {
        /// Number of `#`.
        depth: usize,
        /// The heading text.
        text: String,
    },
    /// `= A synopsis of the scene`.
    Synopsis(String),
    /// `~ Lyrics`.
    Lyric(String),
    /// `===`.
    PageBreak,
}

/// A scene heading split the way planners use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneHeading {
    /// The heading as written (without a forcing `.` or a scene number).
    pub text: String,
    /// `INT`, `EXT`, `INT/EXT`, `EST`, or empty for a forced heading without one.
    pub int_ext: String,
    /// Where: `KITCHEN`, `MEADOW BY THE SEA`.
    pub location: String,
    /// When, after the last ` - `: `NIGHT`, `DAY`, `CONTINUOUS`.
    pub time: Option<String>,
    /// A scene number written as `#12#`.
    pub number: Option<String>,
}

/// Speech: `MARA (V.O.)`, then parentheticals and lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialogue {
    /// The character's name as written (upper case), without extensions.
    pub character: String,
    /// Extensions such as `V.O.`, `O.S.`, `CONT'D`.
    pub extensions: Vec<String>,
    /// Dual dialogue (`^` after the name).
    pub dual: bool,
    /// Parentheticals such as `(whispering)`, without the parentheses.
    pub parentheticals: Vec<String>,
    /// The spoken text, lines joined with a space, emphasis markers removed.
    pub text: String,
}

/// Parses a whole Fountain document. Errors name the line: an unclosed `/*` or `[[`, a
/// malformed title page, a transition Kino does not know.
pub fn parse(text: &str) -> Result<Screenplay, LineError> {
    let clean = preprocess::strip(text)?;
    let lines: Vec<&str> = clean.text.lines().collect();
    let (title_page, body_start) = title_page::parse(&lines)?;
    let elements = body::parse(&lines, body_start)?;
    Ok(Screenplay {
        title_page,
        elements,
        notes: clean.notes,
    })
}

/// Removes Fountain emphasis markers (`*`, `**`, `***`, `_`) and backslash escapes.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '*' | '_' => {}
            _ => out.push(c),
        }
    }
    out
}
