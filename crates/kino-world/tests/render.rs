//! Rendering through the public API: determinism, motion, framing, validation, truth.

use kino_world::{
    Background as B, Colour as C, Motion as M, Object, RenderError, RenderSettings, SceneSpec,
    Shape as S, measure, render,
};

fn settings(width: u32, height: u32, frames: u32, seed: u64) -> RenderSettings {
    RenderSettings {
        width,
        height,
        fps: 12.0,
        frames,
        seed,
    }
}

fn one(colour: C, shape: S, motion: M, bg: B) -> SceneSpec {
    SceneSpec::new(vec![Object::new(colour, shape, motion)], bg)
}

fn clip(spec: &SceneSpec, s: RenderSettings) -> kino_world::Clip {
    render(spec, &s).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

#[test]
fn frames_have_the_requested_shape() {
    let c = clip(
        &one(C::Red, S::Star, M::Spinning, B::Sea),
        settings(37, 21, 5, 1),
    );
    assert_eq!(c.frames.len(), 5);
    assert!(c.frames.iter().all(|f| f.len() == 37 * 21 * 3));
    assert_eq!(c.truth.objects.len(), 1);
    assert_eq!(c.truth.objects[0].frames.len(), 5);
    assert_eq!(c.truth.caption, "a red star spinning on the sea");
    let d = RenderSettings::default();
    assert_eq!(
        (d.width, d.height, d.fps, d.frames, d.seed),
        (256, 256, 12.0, 24, 0)
    );
}

#[test]
fn same_seed_same_bytes_and_seeds_differ() {
    let spec = SceneSpec::new(
        vec![
            Object::new(C::Red, S::Ball, M::Right),
            Object::new(C::Blue, S::Triangle, M::Bouncing),
        ],
        B::Grass,
    );
    let a = clip(&spec, settings(64, 48, 8, 3));
    let b = clip(&spec, settings(64, 48, 8, 3));
    assert_eq!(a, b);
    let c = clip(&spec, settings(64, 48, 8, 4));
    assert_ne!(a.frames, c.frames);
    assert_ne!(
        a.truth.objects[0].frames[0].centroid,
        c.truth.objects[0].frames[0].centroid
    );
}

#[test]
fn a_ball_moving_right_moves_right_in_truth_and_in_pixels() {
    for (w, h, frames) in [(256, 256, 24), (64, 64, 8), (32, 32, 8), (832, 480, 6)] {
        let c = clip(
            &one(C::Red, S::Ball, M::Right, B::Grass),
            settings(w, h, frames, 9),
        );
        let xs: Vec<f32> = c.truth.objects[0]
            .frames
            .iter()
            .map(|f| f.centroid.x)
            .collect();
        assert!(xs.windows(2).all(|p| p[1] > p[0]), "truth {xs:?}");
        assert!(xs[xs.len() - 1] - xs[0] > 0.4 * w as f32, "travel {xs:?}");
        let track = measure(&c.frames, w, h, C::Red).unwrap_or_else(|| panic!("no red at {w}x{h}"));
        let mx: Vec<f32> = track
            .points
            .iter()
            .map(|p| p.centroid.map_or(f32::NAN, |c| c.x))
            .collect();
        assert!(mx.windows(2).all(|p| p[1] > p[0]), "measured {mx:?}");
        for (m, t) in mx.iter().zip(&xs) {
            assert!(
                (m - t).abs() < 1.0 + 0.02 * w as f32,
                "measured {m} vs truth {t}"
            );
        }
    }
}

#[test]
fn objects_stay_inside_the_frame() {
    for (w, h, frames) in [
        (32, 32, 9),
        (832, 480, 5),
        (17, 31, 9),
        (31, 17, 9),
        (480, 832, 5),
        (8, 8, 3),
    ] {
        for shape in S::ALL {
            for motion in M::ALL {
                let alone = one(C::Yellow, shape, motion, B::Sky);
                let pair = SceneSpec::new(
                    vec![
                        Object::new(C::Yellow, shape, motion),
                        Object::new(C::Red, S::Star, M::Growing),
                    ],
                    B::Sky,
                );
                // Large frames cost the most: fewer cases there.
                let big = w * h > 10_000;
                let specs = if big && w < h {
                    vec![alone]
                } else {
                    vec![alone, pair]
                };
                for spec in specs {
                    for seed in 0..if big { 1 } else { 3 } {
                        let c = clip(&spec, settings(w, h, frames, seed));
                        for (k, o) in c.truth.objects.iter().enumerate() {
                            for f in &o.frames {
                                let b = f.bbox;
                                let slack = if w.min(h) < 16 { 0.6 } else { 0.0 };
                                assert!(
                                    b.x0 >= -slack
                                        && b.y0 >= -slack
                                        && b.x1 <= w as f32 + slack
                                        && b.y1 <= h as f32 + slack,
                                    "{spec} object {k} at {w}x{h} seed {seed}: {b:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn extreme_frame_sizes_render_without_panic() {
    let spec = SceneSpec::new(
        vec![
            Object::new(C::Red, S::Star, M::Growing),
            Object::new(C::Blue, S::Ball, M::Left),
        ],
        B::Sea,
    );
    for (w, h) in [(1, 1), (1, 8192), (8192, 1), (2, 3)] {
        let c = clip(&spec, settings(w, h, 2, 0));
        assert_eq!(c.frames[1].len(), (w * h * 3) as usize);
    }
}

#[test]
fn two_objects_never_overlap() {
    for (m0, m1) in [
        (M::Right, M::Left),
        (M::Up, M::Down),
        (M::Bouncing, M::Right),
        (M::Growing, M::Shrinking),
    ] {
        let spec = SceneSpec::new(
            vec![
                Object::new(C::Red, S::Square, m0),
                Object::new(C::Blue, S::Star, m1),
            ],
            B::White,
        );
        for seed in 0..5 {
            let c = clip(&spec, settings(64, 64, 8, seed));
            let (a, b) = (&c.truth.objects[0].frames, &c.truth.objects[1].frames);
            for (fa, fb) in a.iter().zip(b) {
                let (p, q) = (fa.bbox, fb.bbox);
                let apart = p.x1 <= q.x0 || q.x1 <= p.x0 || p.y1 <= q.y0 || q.y1 <= p.y0;
                assert!(apart, "{spec} seed {seed}: {p:?} {q:?}");
                // Nothing occludes, so the visible coverage is the whole shape.
                assert!(fa.coverage > 10.0 && fb.coverage > 10.0);
            }
        }
    }
}

#[test]
fn truth_matches_the_motion() {
    let s = settings(100, 80, 11, 2);
    let frames = |m: M| {
        clip(&one(C::Green, S::Square, m, B::Desert), s)
            .truth
            .objects[0]
            .frames
            .clone()
    };
    let g = frames(M::Growing);
    assert!((g[0].scale - 0.5).abs() < 1e-6 && (g[10].scale - 1.5).abs() < 1e-6);
    assert!(g[10].coverage > 5.0 * g[0].coverage);
    let sh = frames(M::Shrinking);
    assert!(sh[0].coverage > 5.0 * sh[10].coverage);
    let sp = frames(M::Spinning);
    assert!(sp.windows(2).all(|p| p[1].rotation > p[0].rotation));
    let up = frames(M::Up);
    assert!(up.windows(2).all(|p| p[1].centroid.y < p[0].centroid.y));
    let b = frames(M::Bouncing);
    let ys: Vec<f32> = b.iter().map(|f| f.centroid.y).collect();
    assert!(
        (ys[0] - ys[10]).abs() < 1e-3 && ys.iter().any(|&y| y < ys[0] - 10.0),
        "{ys:?}"
    );
    let still = frames(M::Still);
    assert!(still.windows(2).all(|p| p[0] == p[1]));
    // A ball's visible coverage is about its area.
    let ball = clip(&one(C::Red, S::Ball, M::Still, B::White), s)
        .truth
        .objects[0]
        .frames[0];
    let r = 0.12 * 80.0;
    assert!(
        (ball.coverage - std::f32::consts::PI * r * r).abs() < 3.0,
        "{}",
        ball.coverage
    );
}

#[test]
fn identical_objects_get_equal_coverage() {
    // Layout keeps objects apart, so neither occludes the other: both are fully visible.
    let spec = SceneSpec::new(vec![Object::new(C::Red, S::Ball, M::Still); 2], B::Black);
    let c = clip(&spec, settings(64, 64, 2, 0));
    let (a, b) = (c.truth.objects[0].frames[0], c.truth.objects[1].frames[0]);
    assert!((a.coverage - b.coverage).abs() < 1.0);
}

#[test]
fn motion_does_not_depend_on_fps() {
    let spec = one(C::Blue, S::Triangle, M::Left, B::Sea);
    let slow = clip(
        &spec,
        RenderSettings {
            fps: 8.0,
            ..settings(64, 64, 8, 5)
        },
    );
    let fast = clip(
        &spec,
        RenderSettings {
            fps: 30.0,
            ..settings(64, 64, 8, 5)
        },
    );
    assert_eq!(slow.truth.objects, fast.truth.objects);
    let single = clip(&spec, settings(64, 64, 1, 5));
    assert_eq!(single.frames.len(), 1);
}

#[test]
fn settings_are_validated() {
    let spec = one(C::Red, S::Ball, M::Still, B::White);
    let bad = |s: RenderSettings| render(&spec, &s).err();
    let ok = settings(16, 16, 2, 0);
    assert_eq!(
        bad(RenderSettings { width: 0, ..ok }),
        Some(RenderError::Width(0))
    );
    assert_eq!(
        bad(RenderSettings { width: 8193, ..ok }),
        Some(RenderError::Width(8193))
    );
    assert_eq!(
        bad(RenderSettings { height: 0, ..ok }),
        Some(RenderError::Height(0))
    );
    assert_eq!(
        bad(RenderSettings { frames: 0, ..ok }),
        Some(RenderError::Frames(0))
    );
    assert_eq!(
        bad(RenderSettings { fps: 0.0, ..ok }),
        Some(RenderError::Fps(0.0))
    );
    assert_eq!(
        bad(RenderSettings { fps: -1.0, ..ok }),
        Some(RenderError::Fps(-1.0))
    );
    assert_eq!(
        bad(RenderSettings {
            fps: f64::INFINITY,
            ..ok
        }),
        Some(RenderError::Fps(f64::INFINITY))
    );
    assert!(matches!(
        bad(RenderSettings {
            fps: f64::NAN,
            ..ok
        }),
        Some(RenderError::Fps(_))
    ));
    assert!(
        bad(RenderSettings {
            width: 1,
            height: 1,
            ..ok
        })
        .is_none()
    );
    assert_eq!(
        bad(RenderSettings { width: 0, ..ok }).map(|e| e.to_string()),
        Some("invalid width 0: must be 1 to 8192 pixels".to_string())
    );
    let empty = SceneSpec::new(vec![], B::White);
    assert_eq!(render(&empty, &ok).err(), Some(RenderError::ObjectCount(0)));
    let three = SceneSpec::new(vec![Object::new(C::Red, S::Ball, M::Still); 3], B::White);
    assert_eq!(render(&three, &ok).err(), Some(RenderError::ObjectCount(3)));
}

#[test]
fn truth_serialises_to_json_and_back() {
    let c = clip(
        &one(C::Orange, S::Star, M::Bouncing, B::NightSky),
        settings(32, 32, 4, 0),
    );
    let json = serde_json::to_string(&c.truth).unwrap_or_default();
    assert!(json.contains(r#""background":"night_sky""#), "{json}");
    assert!(json.contains(r#""centroid":{"x":"#), "{json}");
    let back: kino_world::GroundTruth =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, c.truth);
}

#[test]
fn every_background_is_distinct() {
    let mean = |bg: B| {
        let c = clip(&one(C::Red, S::Ball, M::Still, bg), settings(32, 32, 1, 0));
        let f = &c.frames[0];
        let mut m = [0f32; 3];
        for px in f.chunks_exact(3) {
            for k in 0..3 {
                m[k] += f32::from(px[k]) / (32.0 * 32.0);
            }
        }
        m
    };
    let means: Vec<[f32; 3]> = B::ALL.iter().map(|&b| mean(b)).collect();
    for i in 0..means.len() {
        for j in i + 1..means.len() {
            let d: f32 = (0..3).map(|k| (means[i][k] - means[j][k]).abs()).sum();
            assert!(d > 30.0, "{:?} vs {:?}", B::ALL[i], B::ALL[j]);
        }
    }
}

#[test]
fn streaming_renderer_matches_render() {
    let spec = kino_world::parse("a green star spinning and a red ball bouncing on the sea")
        .unwrap()
        .spec;
    let settings = kino_world::RenderSettings {
        width: 48,
        height: 40,
        fps: 9.0,
        frames: 11,
        seed: 5,
    };
    let clip = kino_world::render(&spec, &settings).unwrap();
    let renderer = kino_world::Renderer::new(&spec, &settings).unwrap();
    let mut truth = renderer.empty_truth();
    for i in 0..settings.frames {
        let (buf, objects) = renderer.frame(i);
        assert_eq!(buf, clip.frames[i as usize], "frame {i}");
        for (track, o) in truth.objects.iter_mut().zip(objects) {
            track.frames.push(o);
        }
    }
    assert_eq!(truth, clip.truth);
}

/// A spinning square turns 3/8 of a turn over the clip, so each of a 5-keyframe clip's
/// frames (clip times 0, 1/4, 1/2, 3/4, 1) shows it at another angle; the whole turn the
/// world made before (still available for old recipes) shows the same square at all five.
#[test]
fn a_spinning_square_looks_different_at_each_of_five_keyframes() {
    let spec = one(C::Yellow, S::Square, M::Spinning, B::Grass);
    let s = settings(48, 48, 5, 3);
    let turned = clip(&spec, s);
    let truth: Vec<f32> = turned.truth.objects[0]
        .frames
        .iter()
        .map(|f| f.rotation)
        .collect();
    let quarter = std::f32::consts::TAU * kino_world::SPIN_TURNS / 4.0;
    for (k, angle) in truth.iter().enumerate() {
        assert!((angle - quarter * k as f32).abs() < 1e-5, "{truth:?}");
    }
    for a in 0..5 {
        for b in a + 1..5 {
            assert_ne!(turned.frames[a], turned.frames[b], "keyframes {a} and {b}");
        }
    }
    let renderer = kino_world::Renderer::new(&spec, &s)
        .unwrap()
        .with_spin_turns(1.0);
    let whole_turn: Vec<Vec<u8>> = (0..5).map(|k| renderer.frame(k).0).collect();
    assert_eq!(whole_turn[0], turned.frames[0]);
    for frame in &whole_turn[1..] {
        assert_eq!(frame, &whole_turn[0]);
    }
}
