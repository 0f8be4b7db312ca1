//! Training samples: the held-out split and caption phrasings.

use kino_world::{
    Background, Colour, Motion, ONE_OBJECT_SHARE, Object, Rng, Shape, Split, is_held_out,
    is_held_out_combination, parse, phrase, sample, sample_from, sample_from_with, sample_scene,
    sample_scene_with,
};
use std::collections::HashSet;

fn combinations() -> Vec<(Object, Background)> {
    let mut all = Vec::new();
    for c in Colour::ALL {
        for s in Shape::ALL {
            for m in Motion::ALL {
                for b in Background::ALL {
                    all.push((Object::new(c, s, m), b));
                }
            }
        }
    }
    all
}

#[test]
fn held_out_share_is_about_fifteen_percent_and_every_word_trains() {
    let all = combinations();
    let held: Vec<_> = all
        .iter()
        .filter(|(o, b)| is_held_out_combination(o, *b))
        .collect();
    let share = held.len() as f64 / all.len() as f64;
    assert!((0.10..=0.20).contains(&share), "held-out share {share}");
    let train: Vec<_> = all
        .iter()
        .filter(|(o, b)| !is_held_out_combination(o, *b))
        .collect();
    for c in Colour::ALL {
        assert!(
            train.iter().filter(|(o, _)| o.colour == c).count() > 100,
            "{c}"
        );
    }
    for s in Shape::ALL {
        assert!(
            train.iter().filter(|(o, _)| o.shape == s).count() > 100,
            "{s}"
        );
    }
    for m in Motion::ALL {
        assert!(
            train.iter().filter(|(o, _)| o.motion == m).count() > 100,
            "{m}"
        );
    }
    for b in Background::ALL {
        assert!(train.iter().filter(|(_, bg)| *bg == b).count() > 100, "{b}");
    }
}

#[test]
fn splits_sample_their_own_side_deterministically() {
    let mut held_captions = HashSet::new();
    for seed in 0..300 {
        let (train, caption) = sample(Split::Train, seed);
        assert!(!is_held_out(&train), "{caption}");
        let (held, caption) = sample(Split::HeldOut, seed);
        assert!(is_held_out(&held), "{caption}");
        held_captions.insert(held.caption());
        assert_eq!(sample(Split::HeldOut, seed), (held, caption));
    }
    assert!(held_captions.len() > 200);
}

#[test]
fn sampled_scenes_are_well_formed() {
    let mut rng = Rng::new(11);
    let mut sizes = [0usize; 3];
    for _ in 0..2000 {
        let spec = sample_scene(&mut rng);
        sizes[spec.objects.len()] += 1;
        if let [a, b] = spec.objects.as_slice() {
            assert_ne!(a.colour, b.colour, "{spec}");
        }
        for o in &spec.objects {
            assert!(!(o.colour == Colour::White && spec.background == Background::White));
            assert!(!(o.colour == Colour::Black && spec.background == Background::Black));
        }
    }
    assert_eq!(sizes[0], 0);
    assert!(sizes[1] > 1000 && sizes[2] > 600, "{sizes:?}");
}

#[test]
fn the_one_object_share_sets_the_mix_and_the_worlds_share_draws_the_worlds_scenes() {
    let (mut world, mut same) = (Rng::new(5), Rng::new(5));
    for _ in 0..200 {
        assert_eq!(
            sample_scene(&mut world),
            sample_scene_with(&mut same, ONE_OBJECT_SHARE)
        );
        assert_eq!(
            sample_from(&mut world, Split::Train),
            sample_from_with(&mut same, Split::Train, ONE_OBJECT_SHARE)
        );
    }
    let share_of_two = |one_object_share: f64| {
        let mut rng = Rng::new(9);
        let two = (0..2000)
            .filter(|_| {
                let (spec, _) = sample_from_with(&mut rng, Split::Train, one_object_share);
                assert!(!is_held_out(&spec));
                spec.objects.len() == 2
            })
            .count();
        two as f64 / 2000.0
    };
    assert_eq!(share_of_two(1.0), 0.0);
    assert_eq!(share_of_two(0.0), 1.0);
    // Held-out filtering rejects two-object scenes about twice as often as one-object ones,
    // so the world's 40% of two-object draws is about 36% of training scenes.
    let world = share_of_two(ONE_OBJECT_SHARE);
    assert!((0.31..0.41).contains(&world), "{world}");
    let more = share_of_two(0.3);
    assert!((0.55..0.7).contains(&more), "{more}");
}

#[test]
fn every_phrasing_parses_back() {
    let mut rng = Rng::new(5);
    let mut seen = HashSet::new();
    for _ in 0..4000 {
        let spec = sample_scene(&mut rng);
        let caption = phrase(&spec, &mut rng);
        let parsed = parse(&caption).unwrap_or_else(|e| panic!("{caption:?}: {e}"));
        assert_eq!(parsed.spec, spec, "{caption:?}");
        assert!(
            parsed.ignored.is_empty(),
            "{caption:?}: {:?}",
            parsed.ignored
        );
        seen.insert(caption);
    }
    assert!(seen.len() > 3000, "only {} distinct captions", seen.len());
    // One scene, many phrasings.
    let spec = sample(Split::Train, 0).0;
    let variants: HashSet<String> = (0..200).map(|_| phrase(&spec, &mut rng)).collect();
    assert!(variants.len() > 20, "{variants:?}");
}
