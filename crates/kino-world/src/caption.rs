//! The caption grammar: free-form English in the scene vocabulary becomes a [`SceneSpec`].
//!
//! The parser reads words, not syntax. Background phrases ("green grass", "night sky", "the
//! sea") are found first and apply to the whole scene. The rest is split into clauses on
//! punctuation and "and"/"while"/"then"; every shape word starts an object. Inside a clause a
//! colour attaches to the next shape after it (else the last one before it) and a motion to the
//! last shape before it (else the next one after it). A clause with no shape ("red ball, left,
//! grass") gives its words to the object of the clause before it (or, at the start, to the first
//! object). Grammar words (articles, prepositions, "background") are skipped silently; words
//! outside the vocabulary are returned in [`Parsed::ignored`], never an error.
//!
//! Decisions, all deterministic:
//! - no background word: [`DEFAULT_BACKGROUND`] (white);
//! - a colour with no shape anywhere in the caption: a ball ("a red one moving left");
//! - no colour: the first of red, blue, yellow not used by another object;
//! - no motion word: still; a bare movement verb with no direction ("a ball moving"): right;
//! - "up and down": bouncing; "night" anywhere turns "sky" into a night sky;
//! - a count ("two balls") repeats the object; plurals without a count mean one object;
//! - a colour right before a background noun belongs to the background ("a ball on red sand"
//!   reports "red" as ignored rather than colouring the ball).

use crate::scene::{
    Background, Colour, DEFAULT_BACKGROUND, MAX_OBJECTS, Motion, Object, SceneSpec, Shape,
};
use crate::words::{BgNoun, Word, word};
use std::str::FromStr;

/// A parsed caption: the scene, and the words the parser did not understand (lowercased, in
/// order of first appearance, without repeats) so a caller can warn about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The scene the caption describes.
    pub spec: SceneSpec,
    /// Words outside the vocabulary, skipped.
    pub ignored: Vec<String>,
}

/// Why a caption does not describe a scene.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Neither a shape nor a colour was found.
    #[error("no shape in caption: {caption:?} (name a ball, square, triangle or star)")]
    NoShape {
        /// The caption as given.
        caption: String,
    },
    /// More than [`MAX_OBJECTS`] objects.
    #[error("too many objects in caption: {caption:?} describes {count}, at most 2 are supported")]
    TooManyObjects {
        /// How many objects the caption describes.
        count: usize,
        /// The caption as given.
        caption: String,
    },
    /// Two different backgrounds.
    #[error("conflicting backgrounds in caption: {first} and {second}")]
    ConflictingBackgrounds {
        /// The first background named.
        first: Background,
        /// A different background named later.
        second: Background,
    },
    /// Two different colours attached to one object.
    #[error("conflicting colours for one {shape}: {first} and {second}")]
    ConflictingColours {
        /// The object's shape.
        shape: Shape,
        /// The first colour.
        first: Colour,
        /// A different colour.
        second: Colour,
    },
    /// Two different motions attached to one object.
    #[error("conflicting motions for one {shape}: {first} and {second}")]
    ConflictingMotions {
        /// The object's shape.
        shape: Shape,
        /// The first motion.
        first: Motion,
        /// A different motion.
        second: Motion,
    },
}

/// Parses a caption into a scene; see the module documentation for the rules.
pub fn parse(caption: &str) -> Result<Parsed, ParseError> {
    let mut ignored = Vec::new();
    let words = classify_words(caption);
    let (background, items) = take_backgrounds(&words, &mut ignored)?;
    let slots = attach(items, caption)?;
    let objects = resolve(slots, caption)?;
    ignored.dedup();
    let mut unique: Vec<String> = Vec::new();
    for w in ignored {
        if !unique.contains(&w) {
            unique.push(w);
        }
    }
    Ok(Parsed {
        spec: SceneSpec::new(objects, background.unwrap_or(DEFAULT_BACKGROUND)),
        ignored: unique,
    })
}

impl FromStr for SceneSpec {
    type Err = ParseError;

    /// Parses a caption, dropping the list of ignored words.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(|p| p.spec)
    }
}

/// Lowercases, splits on spaces and punctuation (which becomes a clause separator), and
/// reads "up and down" as bouncing.
fn classify_words(caption: &str) -> Vec<(String, Word)> {
    let mut raw: Vec<String> = Vec::new();
    let mut current = String::new();
    for ch in caption.chars().flat_map(char::to_lowercase) {
        if ch.is_alphanumeric() {
            current.push(ch);
        } else if ch == '\'' || ch == '\u{2019}' {
            // "it's" -> "its"
        } else {
            if !current.is_empty() {
                raw.push(std::mem::take(&mut current));
            }
            if matches!(ch, ',' | ';' | '.' | '!' | '?' | ':' | '\n') {
                raw.push(",".to_string());
            }
        }
    }
    if !current.is_empty() {
        raw.push(current);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let pair = |a: &str, b: &str| {
            raw[i] == a
                && raw.get(i + 1).is_some_and(|w| w == "and")
                && raw.get(i + 2).is_some_and(|w| w == b)
        };
        if pair("up", "down") || pair("down", "up") {
            out.push((
                format!("{} and {}", raw[i], raw[i + 2]),
                Word::Motion(Motion::Bouncing),
            ));
            i += 3;
            continue;
        }
        let w = if raw[i] == "," {
            Word::Sep
        } else {
            word(&raw[i])
        };
        out.push((raw[i].clone(), w));
        i += 1;
    }
    out
}

/// One attribute-bearing word left after backgrounds are taken out.
#[derive(Debug, Clone)]
enum Item {
    Colour(Colour),
    Shape(Shape),
    Motion(Motion),
    Move,
    Number(usize),
    Sep,
}

/// Finds the background phrases, returning the scene background and the remaining items.
fn take_backgrounds(
    words: &[(String, Word)],
    ignored: &mut Vec<String>,
) -> Result<(Option<Background>, Vec<Item>), ParseError> {
    let mut found: Vec<Background> = Vec::new();
    let mut items = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (text, w) = &words[i];
        let next = words.get(i + 1).map(|(_, w)| *w);
        match (w, next) {
            (Word::Colour(c), Some(Word::Bg(noun))) => {
                let (bg, canonical) = coloured_background(*c, &noun);
                if let Some(bg) = bg {
                    found.push(bg);
                }
                if !canonical {
                    ignored.push(text.clone());
                }
                i += 2;
                continue;
            }
            (Word::Dark, Some(Word::Bg(BgNoun::Sky))) => {
                found.push(Background::NightSky);
                i += 2;
                continue;
            }
            (Word::Bg(BgNoun::Is(bg)), _) => found.push(*bg),
            (Word::Bg(BgNoun::Sky), _) => found.push(Background::Sky),
            (Word::Bg(BgNoun::Plain), _) | (Word::Filler, _) => {}
            (Word::Dark, _) | (Word::Unknown, _) => ignored.push(text.clone()),
            (Word::Colour(c), _) => items.push(Item::Colour(*c)),
            (Word::Shape(s), _) => items.push(Item::Shape(*s)),
            (Word::Motion(m), _) => items.push(Item::Motion(*m)),
            (Word::Move, _) => items.push(Item::Move),
            (Word::Number(n), _) => items.push(Item::Number(*n)),
            (Word::Sep, _) => items.push(Item::Sep),
        }
        i += 1;
    }
    // "sky" with "night" somewhere else ("the sky at night") is a night sky.
    if found.contains(&Background::NightSky) {
        found.retain(|&b| b != Background::Sky);
    }
    let first = found.first().copied();
    if let (Some(first), Some(&second)) = (first, found.iter().find(|&&b| Some(b) != first)) {
        return Err(ParseError::ConflictingBackgrounds { first, second });
    }
    Ok((first, items))
}

/// The background for "colour noun" and whether the colour is the usual one for it.
fn coloured_background(c: Colour, noun: &BgNoun) -> (Option<Background>, bool) {
    match (noun, c) {
        (BgNoun::Plain, Colour::White) => (Some(Background::White), true),
        (BgNoun::Plain, Colour::Black) => (Some(Background::Black), true),
        (BgNoun::Plain, _) => (None, false),
        (BgNoun::Sky, Colour::Blue) => (Some(Background::Sky), true),
        (BgNoun::Sky, Colour::Black) => (Some(Background::NightSky), true),
        (BgNoun::Sky, _) => (Some(Background::Sky), false),
        (BgNoun::Is(bg), c) => {
            let usual = matches!(
                (bg, c),
                (Background::Grass, Colour::Green)
                    | (Background::Desert, Colour::Yellow)
                    | (Background::Sea, Colour::Blue)
                    | (Background::NightSky, Colour::Black | Colour::Blue)
            );
            (Some(*bg), usual)
        }
    }
}

/// An object being assembled from the words attached to it.
#[derive(Debug)]
struct Slot {
    shape: Shape,
    count: usize,
    colours: Vec<Colour>,
    motions: Vec<Motion>,
    moves: bool,
}

impl Slot {
    fn take(&mut self, item: &Item) {
        match item {
            Item::Colour(c) => self.colours.push(*c),
            Item::Motion(m) => self.motions.push(*m),
            Item::Move => self.moves = true,
            Item::Shape(_) | Item::Number(_) | Item::Sep => {}
        }
    }
}

/// Splits items into clauses and attaches colours and motions to shapes.
fn attach(mut items: Vec<Item>, caption: &str) -> Result<Vec<Slot>, ParseError> {
    if !items.iter().any(|i| matches!(i, Item::Shape(_))) {
        // A colour with no shape anywhere names a ball.
        let mut with_balls = Vec::with_capacity(items.len() + 2);
        for item in items {
            let is_colour = matches!(item, Item::Colour(_));
            with_balls.push(item);
            if is_colour {
                with_balls.push(Item::Shape(Shape::Ball));
            }
        }
        items = with_balls;
    }
    let mut slots: Vec<Slot> = Vec::new();
    // Attributes from clauses without a shape, with the slot before them (if any).
    let mut orphans: Vec<(Option<usize>, Item)> = Vec::new();
    for clause in items.split(|i| matches!(i, Item::Sep)) {
        let first_slot = slots.len();
        let mut pending_count: Option<usize> = None;
        let mut positions = Vec::new();
        for (pos, item) in clause.iter().enumerate() {
            match item {
                Item::Shape(shape) => {
                    positions.push(pos);
                    slots.push(Slot {
                        shape: *shape,
                        count: pending_count.take().unwrap_or(1),
                        colours: Vec::new(),
                        motions: Vec::new(),
                        moves: false,
                    });
                }
                Item::Number(n) => pending_count = Some(*n),
                _ => {}
            }
        }
        if positions.is_empty() {
            let before = slots.len().checked_sub(1);
            orphans.extend(clause.iter().cloned().map(|i| (before, i)));
            continue;
        }
        for (pos, item) in clause.iter().enumerate() {
            let after = positions.iter().position(|&p| p >= pos);
            let before = positions.iter().rposition(|&p| p <= pos);
            let target = match item {
                Item::Colour(_) => after.or(before),
                Item::Motion(_) | Item::Move => before.or(after),
                _ => None,
            };
            if let Some(k) = target {
                slots[first_slot + k].take(item);
            }
        }
    }
    if slots.is_empty() {
        return Err(ParseError::NoShape {
            caption: caption.to_string(),
        });
    }
    for (before, item) in orphans {
        slots[before.unwrap_or(0)].take(&item);
    }
    Ok(slots)
}

/// Turns slots into objects: checks conflicts, applies counts and default colours.
fn resolve(slots: Vec<Slot>, caption: &str) -> Result<Vec<Object>, ParseError> {
    let count: usize = slots.iter().map(|s| s.count).sum();
    if count > MAX_OBJECTS {
        return Err(ParseError::TooManyObjects {
            count,
            caption: caption.to_string(),
        });
    }
    let mut resolved: Vec<(Option<Colour>, Shape, Motion)> = Vec::new();
    for slot in &slots {
        let colour =
            single(&slot.colours).map_err(|(first, second)| ParseError::ConflictingColours {
                shape: slot.shape,
                first,
                second,
            })?;
        let motion =
            single(&slot.motions).map_err(|(first, second)| ParseError::ConflictingMotions {
                shape: slot.shape,
                first,
                second,
            })?;
        let motion = match motion {
            Some(m) => m,
            None if slot.moves => Motion::Right,
            None => Motion::Still,
        };
        for _ in 0..slot.count {
            resolved.push((colour, slot.shape, motion));
        }
    }
    if resolved.is_empty() {
        return Err(ParseError::NoShape {
            caption: caption.to_string(),
        });
    }
    let mut used: Vec<Colour> = resolved.iter().filter_map(|r| r.0).collect();
    Ok(resolved
        .into_iter()
        .map(|(colour, shape, motion)| {
            let colour = colour.unwrap_or_else(|| {
                let c = [Colour::Red, Colour::Blue, Colour::Yellow]
                    .into_iter()
                    .find(|c| !used.contains(c))
                    .unwrap_or(Colour::Red);
                used.push(c);
                c
            });
            Object::new(colour, shape, motion)
        })
        .collect())
}

/// The one distinct value in `values`, `None` if empty, or the first two that differ.
fn single<T: Copy + PartialEq>(values: &[T]) -> Result<Option<T>, (T, T)> {
    let Some(&first) = values.first() else {
        return Ok(None);
    };
    match values.iter().find(|&&v| v != first) {
        Some(&second) => Err((first, second)),
        None => Ok(Some(first)),
    }
}
