//! The caption grammar through the public API: phrasings, ignored words, errors, round trip.

use kino_world::{
    Background as B, Colour as C, Motion as M, Object, ParseError, Rng, SceneSpec, Shape as S,
    parse,
};

fn one(colour: C, shape: S, motion: M, bg: B) -> SceneSpec {
    SceneSpec::new(vec![Object::new(colour, shape, motion)], bg)
}

fn spec(caption: &str) -> SceneSpec {
    match parse(caption) {
        Ok(p) => p.spec,
        Err(e) => panic!("{caption:?}: {e}"),
    }
}

#[test]
fn phrasings_of_one_object() {
    let cases = [
        (
            "a red ball moving left on green grass",
            one(C::Red, S::Ball, M::Left, B::Grass),
        ),
        (
            "A red ball moves to the left across the green grass.",
            one(C::Red, S::Ball, M::Left, B::Grass),
        ),
        (
            "An orange star drifting to the right over the sea",
            one(C::Orange, S::Star, M::Right, B::Sea),
        ),
        (
            "red ball left grass",
            one(C::Red, S::Ball, M::Left, B::Grass),
        ),
        (
            "red ball, left, grass",
            one(C::Red, S::Ball, M::Left, B::Grass),
        ),
        ("RED BALL, LEFT!!", one(C::Red, S::Ball, M::Left, B::White)),
        (
            "the green square slides leftwards in a meadow",
            one(C::Green, S::Square, M::Left, B::Grass),
        ),
        (
            "a purple triangle falling through the night sky",
            one(C::Purple, S::Triangle, M::Down, B::NightSky),
        ),
        (
            "a yellow star rises into the blue sky",
            one(C::Yellow, S::Star, M::Up, B::Sky),
        ),
        (
            "a white box bouncing up and down on a black background",
            one(C::White, S::Square, M::Bouncing, B::Black),
        ),
        (
            "a blue circle bounces in the desert",
            one(C::Blue, S::Ball, M::Bouncing, B::Desert),
        ),
        (
            "a black ball grows on the sand",
            one(C::Black, S::Ball, M::Growing, B::Desert),
        ),
        (
            "a green star shrinking over the dunes",
            one(C::Green, S::Star, M::Shrinking, B::Desert),
        ),
        (
            "a red triangle spins on the ocean",
            one(C::Red, S::Triangle, M::Spinning, B::Sea),
        ),
        (
            "a blue square, static, water",
            one(C::Blue, S::Square, M::Still, B::Sea),
        ),
        (
            "a red ball standing still on a lawn",
            one(C::Red, S::Ball, M::Still, B::Grass),
        ),
        (
            "a red ball resting on a white background",
            one(C::Red, S::Ball, M::Still, B::White),
        ),
        ("a red ball", one(C::Red, S::Ball, M::Still, B::White)),
        (
            "a blue ball going towards the right in the sky at night",
            one(C::Blue, S::Ball, M::Right, B::NightSky),
        ),
        (
            "a starry sky with a white star spinning",
            one(C::White, S::Star, M::Spinning, B::NightSky),
        ),
        (
            "a dark sky, an orange disc drifting downwards",
            one(C::Orange, S::Ball, M::Down, B::NightSky),
        ),
        (
            "moving left, a red ball",
            one(C::Red, S::Ball, M::Left, B::White),
        ),
        (
            "a violet ball getting bigger",
            one(C::Purple, S::Ball, M::Growing, B::White),
        ),
        (
            "a red ball rolling to the left",
            one(C::Red, S::Ball, M::Left, B::White),
        ),
        (
            "a red ball moving",
            one(C::Red, S::Ball, M::Right, B::White),
        ),
        (
            "a red ball falling down",
            one(C::Red, S::Ball, M::Down, B::White),
        ),
        ("balls", one(C::Red, S::Ball, M::Still, B::White)),
    ];
    for (caption, expected) in cases {
        assert_eq!(spec(caption), expected, "{caption:?}");
    }
}

#[test]
fn two_objects_attach_to_their_own_shapes() {
    let expected = SceneSpec::new(
        vec![
            Object::new(C::Red, S::Ball, M::Left),
            Object::new(C::Blue, S::Square, M::Up),
        ],
        B::Grass,
    );
    assert_eq!(
        spec("a red ball moving left and a blue square moving up on green grass"),
        expected
    );
    assert_eq!(spec("red ball, left, blue square, up, grass"), expected);
    assert_eq!(
        spec("On green grass, a red ball slides left while a blue box rises."),
        expected
    );
    assert_eq!(
        spec("a blue square sliding up, and a yellow triangle falling, on a night sky"),
        SceneSpec::new(
            vec![
                Object::new(C::Blue, S::Square, M::Up),
                Object::new(C::Yellow, S::Triangle, M::Down),
            ],
            B::NightSky,
        )
    );
    // Two shapes in one clause: colours go forward, motions backward.
    assert_eq!(
        spec("a red ball moving left next to a blue star spinning"),
        SceneSpec::new(
            vec![
                Object::new(C::Red, S::Ball, M::Left),
                Object::new(C::Blue, S::Star, M::Spinning),
            ],
            B::White,
        )
    );
    assert_eq!(
        spec("two red balls falling on the sea"),
        SceneSpec::new(vec![Object::new(C::Red, S::Ball, M::Down); 2], B::Sea)
    );
}

#[test]
fn defaults_are_documented_choices() {
    // No colour: red, then blue, avoiding a colour another object uses.
    assert_eq!(
        spec("a ball and a square")
            .objects
            .iter()
            .map(|o| o.colour)
            .collect::<Vec<_>>(),
        vec![C::Red, C::Blue]
    );
    assert_eq!(
        spec("a red ball and a square")
            .objects
            .iter()
            .map(|o| o.colour)
            .collect::<Vec<_>>(),
        vec![C::Red, C::Blue]
    );
    assert_eq!(
        spec("a ball and a red square")
            .objects
            .iter()
            .map(|o| o.colour)
            .collect::<Vec<_>>(),
        vec![C::Blue, C::Red]
    );
    // A colour with no shape anywhere is a ball.
    assert_eq!(
        spec("a red one moving left"),
        one(C::Red, S::Ball, M::Left, B::White)
    );
    assert_eq!(spec("a red and a blue, on grass").objects.len(), 2);
}

#[test]
fn unknown_words_are_reported_not_fatal() {
    let p = parse("a big shiny red ball moving quickly left on grass, shiny")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.spec, one(C::Red, S::Ball, M::Left, B::Grass));
    assert_eq!(p.ignored, vec!["big", "shiny", "quickly"]);
    let p = parse("a red ball on a pink background").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.ignored, vec!["pink"]);
    let p = parse("a ball on red sand").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.spec.background, B::Desert);
    assert_eq!(p.ignored, vec!["red"]);
    assert!(parse("a red ball moving left on green grass").is_ok_and(|p| p.ignored.is_empty()));
}

#[test]
fn errors_name_the_problem() {
    let no_shape = parse("moving left on the grass");
    assert!(
        matches!(no_shape, Err(ParseError::NoShape { .. })),
        "{no_shape:?}"
    );
    assert!(matches!(parse(""), Err(ParseError::NoShape { .. })));
    let e = parse("a red ball, a blue square and a green star").err();
    assert!(
        matches!(e, Some(ParseError::TooManyObjects { count: 3, .. })),
        "{e:?}"
    );
    assert!(e.is_some_and(|e| e.to_string().starts_with("too many objects")));
    assert!(matches!(
        parse("three balls"),
        Err(ParseError::TooManyObjects { count: 3, .. })
    ));
    let e = parse("a red ball on grass over the sea").err();
    assert_eq!(
        e,
        Some(ParseError::ConflictingBackgrounds {
            first: B::Grass,
            second: B::Sea
        })
    );
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("conflicting backgrounds in caption: green grass and sea".to_string())
    );
    assert!(matches!(
        parse("a red blue ball"),
        Err(ParseError::ConflictingColours { .. })
    ));
    assert!(matches!(
        parse("a ball moving left and right"),
        Err(ParseError::ConflictingMotions { .. })
    ));
    assert!(parse("xyzzy").is_err_and(|e| e.to_string()
        == "no shape in caption: \"xyzzy\" (name a ball, square, triangle or star)"));
}

fn random_spec(rng: &mut Rng) -> SceneSpec {
    let n = 1 + rng.below(2);
    let objects = (0..n)
        .map(|_| {
            Object::new(
                C::ALL[rng.below(C::ALL.len())],
                S::ALL[rng.below(S::ALL.len())],
                M::ALL[rng.below(M::ALL.len())],
            )
        })
        .collect();
    SceneSpec::new(objects, B::ALL[rng.below(B::ALL.len())])
}

#[test]
fn canonical_caption_round_trips() {
    let mut rng = Rng::new(42);
    for _ in 0..3000 {
        let s = random_spec(&mut rng);
        let caption = s.caption();
        let parsed = parse(&caption).unwrap_or_else(|e| panic!("{caption:?}: {e}"));
        assert_eq!(parsed.spec, s, "{caption:?}");
        assert!(
            parsed.ignored.is_empty(),
            "{caption:?}: {:?}",
            parsed.ignored
        );
        assert_eq!(caption.parse::<SceneSpec>().ok(), Some(s));
    }
}
