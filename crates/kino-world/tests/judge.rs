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
