//! The scene vocabulary (colours, shapes, motions, backgrounds) and the scene spec built from it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An object colour. Each has a saturated canonical RGB value with a distinct hue (or, for
/// white and black, a distinct value), so that colours can be judged by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// Hue about 0°.
    Red,
    /// Hue about 33°.
    Orange,
    /// Hue about 52°.
    Yellow,
    /// Hue about 124°.
    Green,
    /// Hue about 225°.
    Blue,
    /// Hue about 280°.
    Purple,
    /// Near-white.
    White,
    /// Near-black.
    Black,
}

impl Colour {
    /// Every colour, in declaration order.
    pub const ALL: [Colour; 8] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Blue,
        Colour::Purple,
        Colour::White,
        Colour::Black,
    ];

    /// The word for this colour.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::White => "white",
            Colour::Black => "black",
        }
    }

    /// The canonical RGB value the renderer paints this colour with.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [220, 30, 30],
            Colour::Orange => [255, 140, 0],
            Colour::Yellow => [250, 220, 20],
            Colour::Green => [30, 180, 40],
            Colour::Blue => [30, 80, 230],
            Colour::Purple => [150, 50, 200],
            Colour::White => [245, 245, 245],
            Colour::Black => [15, 15, 15],
        }
    }

    /// The closest colour name for any RGB value, judged by hue (then value for greys).
    ///
    /// Always answers: dark pixels are black, unsaturated light ones white, everything else is
    /// named by its hue. Use [`Colour::classify`] to ask whether a pixel clearly *is* a colour.
    pub fn nearest(rgb: [u8; 3]) -> Colour {
        let (h, s, v) = hsv(rgb);
        if v < 0.2 {
            Colour::Black
        } else if s < 0.2 {
            if v >= 0.5 {
                Colour::White
            } else {
                Colour::Black
            }
        } else {
            hue_name(h)
        }
    }

    /// The colour a pixel clearly shows, or `None` for muted, mid-grey or in-between pixels.
    ///
    /// Chromatic colours need saturation >= 0.6 and value >= 0.35 (every background stays below
    /// that saturation, so backgrounds never match); white needs saturation < 0.15 and value >
    /// 0.85; black needs value < 0.14.
    pub fn classify(rgb: [u8; 3]) -> Option<Colour> {
        let (h, s, v) = hsv(rgb);
        if v < 0.14 {
            Some(Colour::Black)
        } else if s < 0.15 && v > 0.85 {
            Some(Colour::White)
        } else if s >= 0.6 && v >= 0.35 {
            Some(hue_name(h))
        } else {
            None
        }
    }
}

/// Names a hue in degrees `[0, 360)`.
fn hue_name(h: f32) -> Colour {
    match h {
        h if !(15.0..345.0).contains(&h) => Colour::Red,
        h if h < 42.0 => Colour::Orange,
        h if h < 75.0 => Colour::Yellow,
        h if h < 165.0 => Colour::Green,
        h if h < 255.0 => Colour::Blue,
        _ => Colour::Purple,
    }
}

/// Hue in degrees `[0, 360)`, saturation and value in `[0, 1]`.
pub(crate) fn hsv([r, g, b]: [u8; 3]) -> (f32, f32, f32) {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let v = max / 255.0;
    let s = if max > 0.0 { delta / max } else { 0.0 };
    let h = if delta == 0.0 {
        0.0
    } else if max == r {
        60.0 * ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / delta + 2.0)
    } else {
        60.0 * ((r - g) / delta + 4.0)
    };
    (h, s, v)
}

/// An object shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A filled circle ("ball", "circle").
    Ball,
    /// A filled square ("square", "box").
    Square,
    /// An equilateral triangle, apex up.
    Triangle,
    /// A five-pointed star, point up.
    Star,
}

impl Shape {
    /// Every shape, in declaration order.
    pub const ALL: [Shape; 4] = [Shape::Ball, Shape::Square, Shape::Triangle, Shape::Star];

    /// The canonical word for this shape.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Ball => "ball",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
        }
    }
}

/// How an object moves over the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    /// Does not move (the default when a caption names no motion).
    Still,
    /// Travels towards the left edge.
    Left,
    /// Travels towards the right edge.
    Right,
    /// Travels towards the top edge.
    Up,
    /// Travels towards the bottom edge ("falling").
    Down,
    /// Bounces on a floor in gravity-like arcs.
    Bouncing,
    /// Scales from 0.5x to 1.5x.
    Growing,
    /// Scales from 1.5x to 0.5x.
    Shrinking,
    /// Turns one full revolution clockwise.
    Spinning,
}

impl Motion {
    /// Every motion, in declaration order.
    pub const ALL: [Motion; 9] = [
        Motion::Still,
        Motion::Left,
        Motion::Right,
        Motion::Up,
        Motion::Down,
        Motion::Bouncing,
        Motion::Growing,
        Motion::Shrinking,
        Motion::Spinning,
    ];

    /// The canonical word for this motion.
    pub fn name(self) -> &'static str {
        match self {
            Motion::Still => "still",
            Motion::Left => "left",
            Motion::Right => "right",
            Motion::Up => "up",
            Motion::Down => "down",
            Motion::Bouncing => "bouncing",
            Motion::Growing => "growing",
            Motion::Shrinking => "shrinking",
            Motion::Spinning => "spinning",
        }
    }

    /// The phrase the canonical caption uses after the shape ("" for still).
    fn phrase(self) -> &'static str {
        match self {
            Motion::Still => "",
            Motion::Left => " moving left",
            Motion::Right => " moving right",
            Motion::Up => " moving up",
            Motion::Down => " moving down",
            Motion::Bouncing => " bouncing",
            Motion::Growing => " growing",
            Motion::Shrinking => " shrinking",
            Motion::Spinning => " spinning",
        }
    }
}

/// The backdrop behind the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Background {
    /// Green grass with blade texture ("meadow", "field", "lawn").
    Grass,
    /// A daytime blue sky gradient.
    Sky,
    /// A dark blue night sky with faint stars.
    NightSky,
    /// Sand with dune ridges ("sand", "dunes").
    Desert,
    /// Blue-grey water with waves that move with time ("ocean", "water").
    Sea,
    /// A plain, slightly graded white background (the default).
    White,
    /// A plain, slightly graded black background.
    Black,
}

impl Background {
    /// Every background, in declaration order.
    pub const ALL: [Background; 7] = [
        Background::Grass,
        Background::Sky,
        Background::NightSky,
        Background::Desert,
        Background::Sea,
        Background::White,
        Background::Black,
    ];

    /// A short name ("green grass", "night sky", ...), itself a valid caption fragment.
    pub fn name(self) -> &'static str {
        match self {
            Background::Grass => "green grass",
            Background::Sky => "blue sky",
            Background::NightSky => "night sky",
            Background::Desert => "desert",
            Background::Sea => "sea",
            Background::White => "white background",
            Background::Black => "black background",
        }
    }

    /// The phrase the canonical caption ends with.
    fn phrase(self) -> &'static str {
        match self {
            Background::Grass => "on green grass",
            Background::Sky => "in a blue sky",
            Background::NightSky => "in a night sky",
            Background::Desert => "in the desert",
            Background::Sea => "on the sea",
            Background::White => "on a white background",
            Background::Black => "on a black background",
        }
    }

    /// Whether the background is dark (objects then get a light outline instead of a dark one).
    pub fn is_dark(self) -> bool {
        matches!(self, Background::NightSky | Background::Black)
    }
}

/// The background of a caption that names none.
pub const DEFAULT_BACKGROUND: Background = Background::White;

/// The most objects a scene may hold.
pub const MAX_OBJECTS: usize = 2;

/// One object: what it looks like and how it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Object {
    /// Fill colour.
    pub colour: Colour,
    /// Outline shape.
    pub shape: Shape,
    /// Motion over the clip.
    pub motion: Motion,
}

impl Object {
    /// An object from its three attributes.
    pub fn new(colour: Colour, shape: Shape, motion: Motion) -> Self {
        Self {
            colour,
            shape,
            motion,
        }
    }

    /// The canonical phrase for this object: "an orange star moving left".
    pub fn phrase(&self) -> String {
        let article = if self.colour == Colour::Orange {
            "an"
        } else {
            "a"
        };
        format!(
            "{article} {} {}{}",
            self.colour.name(),
            self.shape.name(),
            self.motion.phrase()
        )
    }
}

/// What a clip shows: one or two objects on a background. Build it in code or with
/// [`crate::parse`]; [`SceneSpec::caption`] turns it back into text that parses to the same spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SceneSpec {
    /// The objects, drawn in order (later ones over earlier ones).
    pub objects: Vec<Object>,
    /// The backdrop.
    pub background: Background,
}

impl SceneSpec {
    /// A scene from its objects and background.
    pub fn new(objects: Vec<Object>, background: Background) -> Self {
        Self {
            objects,
            background,
        }
    }

    /// The canonical caption: "a red ball moving left and a blue square on green grass".
    pub fn caption(&self) -> String {
        let objects: Vec<String> = self.objects.iter().map(Object::phrase).collect();
        format!("{} {}", objects.join(" and "), self.background.phrase())
    }
}

impl fmt::Display for SceneSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.caption())
    }
}

macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}
display_by_name!(Colour, Shape, Motion, Background);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_colours_name_themselves() {
        for c in Colour::ALL {
            assert_eq!(Colour::nearest(c.rgb()), c, "{c}");
            assert_eq!(Colour::classify(c.rgb()), Some(c), "{c}");
        }
    }

    #[test]
    fn nearest_names_off_palette_hues() {
        assert_eq!(Colour::nearest([255, 0, 0]), Colour::Red);
        assert_eq!(Colour::nearest([0, 255, 0]), Colour::Green);
        assert_eq!(Colour::nearest([0, 0, 255]), Colour::Blue);
        assert_eq!(Colour::nearest([255, 255, 0]), Colour::Yellow);
        assert_eq!(Colour::nearest([255, 100, 0]), Colour::Orange);
        assert_eq!(Colour::nearest([128, 0, 255]), Colour::Purple);
        assert_eq!(Colour::nearest([200, 0, 40]), Colour::Red);
        assert_eq!(Colour::nearest([128, 128, 128]), Colour::White);
        assert_eq!(Colour::nearest([60, 60, 60]), Colour::Black);
        assert_eq!(Colour::classify([128, 128, 128]), None);
    }

    #[test]
    fn caption_reads_naturally() {
        let spec = SceneSpec::new(
            vec![
                Object::new(Colour::Red, Shape::Ball, Motion::Left),
                Object::new(Colour::Orange, Shape::Star, Motion::Still),
            ],
            Background::Grass,
        );
        assert_eq!(
            spec.caption(),
            "a red ball moving left and an orange star on green grass"
        );
    }

    #[test]
    fn serde_names_are_lowercase() {
        let json = serde_json::to_string(&Object::new(Colour::Red, Shape::Ball, Motion::Still))
            .unwrap_or_default();
        assert_eq!(json, r#"{"colour":"red","shape":"ball","motion":"still"}"#);
    }
}
