//! The oracle: measuring world-rendered clips recovers their colours and motions.

use kino_world::{
    Background as B, Colour as C, Motion as M, Object, RenderSettings, SceneSpec, Shape as S,
    classify_motion, measure, render,
};

const SIZE: u32 = 64;

fn settings(seed: u64) -> RenderSettings {
    RenderSettings {
        width: SIZE,
        height: SIZE,
        fps: 12.0,
        frames: 12,
        seed,
    }
}

fn judged(spec: &SceneSpec, colour: C, seed: u64) -> Option<M> {
    let clip = render(spec, &settings(seed)).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let track = measure(&clip.frames, SIZE, SIZE, colour)?;
    Some(classify_motion(&track, SIZE, SIZE))
}

#[test]
fn oracle_recovers_every_motion_for_every_colour() {
    let shapes = [S::Ball, S::Square, S::Triangle, S::Star];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, bg) in [B::Grass, B::NightSky, B::Sea, B::Desert]
        .into_iter()
        .enumerate()
    {
        for (j, colour) in C::ALL.into_iter().enumerate() {
            for (k, motion) in M::ALL.into_iter().enumerate() {
                let shape = shapes[(i + j + k) % shapes.len()];
                let spec = SceneSpec::new(vec![Object::new(colour, shape, motion)], bg);
                let got = judged(&spec, colour, (i * 100 + j * 10 + k) as u64);
                checked += 1;
                if got != Some(motion) {
                    failures.push(format!("{spec}: judged {got:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn oracle_separates_two_objects_by_colour() {
    for (m0, m1) in [
        (M::Left, M::Up),
        (M::Bouncing, M::Down),
        (M::Growing, M::Right),
        (M::Spinning, M::Shrinking),
    ] {
        let spec = SceneSpec::new(
            vec![
                Object::new(C::Orange, S::Square, m0),
                Object::new(C::Purple, S::Triangle, m1),
            ],
            B::Sky,
        );
        assert_eq!(judged(&spec, C::Orange, 1), Some(m0), "{spec}");
        assert_eq!(judged(&spec, C::Purple, 1), Some(m1), "{spec}");
    }
}

#[test]
fn absent_colours_and_bad_frames_measure_nothing() {
    let spec = SceneSpec::new(vec![Object::new(C::Red, S::Ball, M::Still)], B::Grass);
    let clip = render(&spec, &settings(0)).unwrap_or_else(|e| panic!("{e}"));
    for c in C::ALL.into_iter().filter(|&c| c != C::Red) {
        assert!(
            measure(&clip.frames, SIZE, SIZE, c).is_none(),
            "{c} found on grass"
        );
    }
    assert!(measure(&clip.frames, SIZE + 1, SIZE, C::Red).is_none());
    // A background of the measured colour is not an object.
    let white = SceneSpec::new(vec![Object::new(C::Red, S::Ball, M::Still)], B::White);
    let clip = render(&white, &settings(0)).unwrap_or_else(|e| panic!("{e}"));
    assert!(measure(&clip.frames, SIZE, SIZE, C::White).is_none());
}

/// Frames of a `colour` square mask on black, `side` pixels wide, centred, turned by
/// `degrees`, with every edge pixel flipped at random (chance `flicker`).
fn square_frames(turns_degrees: &[f32], flicker: f64, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = kino_world::Rng::new(seed);
    let rgb = C::Orange.rgb();
    turns_degrees
        .iter()
        .map(|degrees| {
            let (sin, cos) = degrees.to_radians().sin_cos();
            let mut frame = vec![0u8; (SIZE * SIZE * 3) as usize];
            for y in 0..SIZE {
                for x in 0..SIZE {
                    let (dx, dy) = (x as f32 + 0.5 - 32.0, y as f32 + 0.5 - 32.0);
                    let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
                    let depth = 7.0 - u.abs().max(v.abs());
                    let inside = if depth.abs() < 1.0 {
                        (depth > 0.0) != rng.chance(flicker)
                    } else {
                        depth > 0.0
                    };
                    if inside {
                        let i = ((y * SIZE + x) * 3) as usize;
                        frame[i..i + 3].copy_from_slice(&rgb);
                    }
                }
            }
            frame
        })
        .collect()
}

/// Spinning is a measured turn: a square whose edge pixels flicker but which does not turn
/// is still; the same square turning a few tens of degrees over the clip is spinning.
#[test]
fn a_flickering_edge_is_still_and_a_turn_is_spinning() {
    for seed in 0..8 {
        let still = square_frames(&[0.0; 12], 0.2, seed);
        let track = measure(&still, SIZE, SIZE, C::Orange).unwrap();
        assert_eq!(classify_motion(&track, SIZE, SIZE), M::Still, "seed {seed}");
        let turns: Vec<f32> = (0..12).map(|k| 4.0 * k as f32).collect();
        let spinning = square_frames(&turns, 0.2, seed);
        let track = measure(&spinning, SIZE, SIZE, C::Orange).unwrap();
        assert_eq!(
            classify_motion(&track, SIZE, SIZE),
            M::Spinning,
            "seed {seed}"
        );
    }
    // A quarter turn of a square is no turn at all to the eye, nor to the judge.
    let quarter = square_frames(&[0.0, 90.0, 180.0, 270.0], 0.0, 0);
    let track = measure(&quarter, SIZE, SIZE, C::Orange).unwrap();
    assert_eq!(classify_motion(&track, SIZE, SIZE), M::Still);
}
