//! The caption vocabulary: every word the parser knows, and what it means.
//!
//! Synonyms live here and nowhere else; adding a word is one line in [`word`].

use crate::scene::{Background, Colour, Motion, Shape};

/// What one word means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Word {
    Colour(Colour),
    Shape(Shape),
    Motion(Motion),
    /// A movement verb that needs a direction ("moving", "slides").
    Move,
    Number(usize),
    Bg(BgNoun),
    /// "dark", which only means something before "sky".
    Dark,
    Filler,
    Sep,
    Unknown,
}

/// Background nouns; a colour right before one is an adjective of the background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BgNoun {
    Is(Background),
    Sky,
    /// "background"/"backdrop": white or black with a colour, nothing alone.
    Plain,
}

pub(crate) fn word(w: &str) -> Word {
    use Word as W;
    match w {
        "red" => W::Colour(Colour::Red),
        "orange" => W::Colour(Colour::Orange),
        "yellow" => W::Colour(Colour::Yellow),
        "green" => W::Colour(Colour::Green),
        "blue" => W::Colour(Colour::Blue),
        "purple" | "violet" => W::Colour(Colour::Purple),
        "white" => W::Colour(Colour::White),
        "black" => W::Colour(Colour::Black),
        "ball" | "balls" | "circle" | "circles" | "disc" | "discs" | "disk" | "disks"
        | "sphere" | "spheres" | "orb" | "orbs" | "dot" | "dots" => W::Shape(Shape::Ball),
        "square" | "squares" | "box" | "boxes" | "cube" | "cubes" | "block" | "blocks" => {
            W::Shape(Shape::Square)
        }
        "triangle" | "triangles" => W::Shape(Shape::Triangle),
        "star" | "stars" => W::Shape(Shape::Star),
        "left" | "leftward" | "leftwards" => W::Motion(Motion::Left),
        "right" | "rightward" | "rightwards" => W::Motion(Motion::Right),
        "up" | "upward" | "upwards" | "rising" | "rises" | "rise" | "climbing" | "climbs"
        | "ascending" | "ascends" => W::Motion(Motion::Up),
        "down" | "downward" | "downwards" | "falling" | "falls" | "fall" | "fell" | "dropping"
        | "drops" | "drop" | "sinking" | "sinks" | "sink" | "descending" | "descends" => {
            W::Motion(Motion::Down)
        }
        "bouncing" | "bounces" | "bounce" | "bouncy" | "hopping" | "hops" | "hop" | "jumping"
        | "jumps" | "jump" => W::Motion(Motion::Bouncing),
        "growing" | "grows" | "grow" | "expanding" | "expands" | "expand" | "enlarging"
        | "swelling" | "inflating" | "bigger" | "larger" => W::Motion(Motion::Growing),
        "shrinking" | "shrinks" | "shrink" | "contracting" | "contracts" | "deflating"
        | "smaller" => W::Motion(Motion::Shrinking),
        "spinning" | "spins" | "spin" | "rotating" | "rotates" | "rotate" | "turning" | "turns"
        | "twirling" | "twirls" | "whirling" => W::Motion(Motion::Spinning),
        "still" | "static" | "stationary" | "motionless" | "unmoving" | "standing" | "stands"
        | "stand" | "resting" | "rests" | "rest" | "sitting" | "sits" | "sit" | "staying"
        | "stays" | "stay" | "idle" => W::Motion(Motion::Still),
        "moving" | "moves" | "move" | "going" | "goes" | "go" | "sliding" | "slides" | "slide"
        | "drifting" | "drifts" | "drift" | "travelling" | "traveling" | "travels" | "heading"
        | "heads" | "flying" | "flies" | "fly" | "floating" | "floats" | "float" | "gliding"
        | "glides" | "glide" | "rolling" | "rolls" | "roll" | "running" | "runs" | "zooming"
        | "zooms" | "passing" | "passes" | "crossing" | "crosses" => W::Move,
        "one" | "single" => W::Number(1),
        "two" | "pair" => W::Number(2),
        "three" => W::Number(3),
        "four" => W::Number(4),
        "five" => W::Number(5),
        "grass" | "grassy" | "meadow" | "meadows" | "field" | "fields" | "lawn" | "grassland"
        | "grasslands" | "pasture" => W::Bg(BgNoun::Is(Background::Grass)),
        "sky" | "skies" => W::Bg(BgNoun::Sky),
        "night" | "nighttime" | "starry" => W::Bg(BgNoun::Is(Background::NightSky)),
        "desert" | "deserts" | "sand" | "sands" | "sandy" | "dune" | "dunes" => {
            W::Bg(BgNoun::Is(Background::Desert))
        }
        "sea" | "seas" | "ocean" | "oceans" | "water" | "waves" => {
            W::Bg(BgNoun::Is(Background::Sea))
        }
        "background" | "backdrop" => W::Bg(BgNoun::Plain),
        "dark" => W::Dark,
        "and" | "while" | "whilst" | "then" | "plus" => W::Sep,
        "a" | "an" | "the" | "on" | "over" | "across" | "in" | "into" | "inside" | "onto"
        | "against" | "with" | "of" | "to" | "towards" | "toward" | "from" | "at" | "through"
        | "along" | "above" | "below" | "under" | "beneath" | "near" | "next" | "by" | "is"
        | "are" | "it" | "its" | "they" | "them" | "their" | "there" | "here" | "that"
        | "which" | "who" | "both" | "each" | "as" | "around" | "round" | "place" | "scene"
        | "picture" | "image" | "video" | "clip" | "shot" | "showing" | "shows" | "show"
        | "shown" | "for" | "this" | "these" | "another" | "other" | "side" | "way" | "getting"
        | "gets" | "becoming" | "becomes" | "shape" | "shapes" | "object" | "objects" | "also" => {
            W::Filler
        }
        _ => match w.parse::<usize>() {
            Ok(n) => W::Number(n),
            Err(_) => W::Unknown,
        },
    }
}
