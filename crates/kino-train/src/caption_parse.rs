//! The caption-parse objective ([`crate::Recipe::caption_parse_weight`]): a training-only head
//! that reads the text encoder's output back into the scene the caption describes.
//!
//! kino-mini's text encoder starts from nothing and learns only from the denoising loss, in
//! which a motion word or the pairing of a colour with its object is a faint signal. The head
//! asks of the encoder what a pretrained one would give: three learned queries pool the
//! caption's tokens (softmax attention over the real tokens); the first two pooled vectors
//! must name the colour, shape and motion of the caption's first and second object (or
//! "none" where a one-object caption has no second), the third the background. The queries
//! are fixed vectors, so they can only find an object's words if the encoder marks which
//! object each token belongs to: binding, put where the DiT's cross-attention reads it. The
//! head is not exported; the shipped model folder is the same Wan layout with or without it.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use kino_models::layout::CaptionReader;
use kino_world::{Background, Colour, Motion, Rng, SceneSpec, Shape, Split, sample_from_with};

/// The head's prefix in the model's `VarMap` (not a component of the exported folder).
pub const CAPTION_PARSE: &str = "caption_parse";

/// Object slots the head reads (the world draws at most this many objects).
pub const OBJECT_SLOTS: usize = kino_world::MAX_OBJECTS;

/// Classes of one object slot: each attribute's values plus "no such object".
pub(crate) const COLOURS: usize = Colour::ALL.len() + 1;
pub(crate) const SHAPES: usize = Shape::ALL.len() + 1;
pub(crate) const MOTIONS: usize = Motion::ALL.len() + 1;

/// The training-only head: the layout stage's caption reader
/// ([`kino_models::layout::CaptionReader`]), which a recipe with `layout_planes` exports.
#[derive(Debug, Clone)]
pub struct CaptionParseHead {
    reader: CaptionReader,
}

/// The class targets of one caption, slot by slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseTargets {
    /// Per object slot: colour, shape and motion class (the last class of each: no object).
    pub objects: [[u32; 3]; OBJECT_SLOTS],
    /// Background class.
    pub background: u32,
}

pub(crate) fn index_of<T: PartialEq>(all: &[T], value: &T) -> u32 {
    all.iter().position(|v| v == value).unwrap_or(all.len()) as u32
}

impl ParseTargets {
    /// What the head must read out of a caption of `spec`.
    pub fn of(spec: &SceneSpec) -> Self {
        let mut objects = [[
            Colour::ALL.len() as u32,
            Shape::ALL.len() as u32,
            Motion::ALL.len() as u32,
        ]; OBJECT_SLOTS];
        for (slot, object) in spec.objects.iter().take(OBJECT_SLOTS).enumerate() {
            objects[slot] = [
                index_of(&Colour::ALL, &object.colour),
                index_of(&Shape::ALL, &object.shape),
                index_of(&Motion::ALL, &object.motion),
            ];
        }
        Self {
            objects,
            background: index_of(&Background::ALL, &spec.background),
        }
    }
}

/// How well the head reads a set of captions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseReads {
    /// Captions read.
    pub captions: usize,
    /// Captions read entirely right: every slot's three attributes (an empty slot as "no
    /// object") and the background.
    pub whole: usize,
    /// Objects the captions name.
    pub objects: usize,
    /// Of those, how many had their colour, shape and motion read right (in their slot).
    pub colour: usize,
    /// See [`ParseReads::colour`].
    pub shape: usize,
    /// See [`ParseReads::colour`].
    pub motion: usize,
    /// Captions whose background was read right.
    pub background: usize,
}

/// `n` captions drawn from `split` at the world's mix of one- and two-object scenes, lower case
/// as training sees them, with their targets.
pub fn sample_captions(split: Split, n: usize, rng: &mut Rng) -> (Vec<String>, Vec<ParseTargets>) {
    sample_captions_with(split, n, kino_world::ONE_OBJECT_SHARE, rng)
}

/// [`sample_captions`] with one-object scenes drawn at chance `one_object_share` (before the
/// held-out filter; see [`crate::Recipe::one_object_share`]).
pub fn sample_captions_with(
    split: Split,
    n: usize,
    one_object_share: f64,
    rng: &mut Rng,
) -> (Vec<String>, Vec<ParseTargets>) {
    (0..n)
        .map(|_| {
            let (spec, caption) = sample_from_with(rng, split, one_object_share);
            (caption.to_lowercase(), ParseTargets::of(&spec))
        })
        .unzip()
}

impl CaptionParseHead {
    /// Creates the head's variables under `vb` for a text encoder of width `text_dim`.
    pub fn new(text_dim: usize, vb: VarBuilder) -> Result<Self> {
        let config = kino_models::layout::SceneLayoutConfig {
            text_dim,
            ..crate::layout::layout_config(&crate::Recipe::default())
        };
        Ok(Self {
            reader: CaptionReader::new(&config, vb)?,
        })
    }

    /// The pooled slots `(B, OBJECT_SLOTS + 1, text_dim)` of encoder output `text`
    /// `(B, L, text_dim)` with token mask `mask` `(B, L)` (1 on real tokens).
    fn pool(&self, text: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.reader.pool(text, mask)
    }

    /// The mean cross-entropy of reading each caption's scene out of `text` (encoder output
    /// `(B, L, text_dim)`, token mask `(B, L)`), over the clips whose `keep` is true (a
    /// dropped caption says nothing); zero when none is kept.
    pub fn loss(
        &self,
        text: &Tensor,
        mask: &Tensor,
        targets: &[ParseTargets],
        keep: &[bool],
    ) -> Result<Tensor> {
        let device = text.device();
        let b = text.dim(0)?;
        if targets.len() != b || keep.len() != b {
            candle_core::bail!(
                "caption parse: {} targets and {} flags for {b} captions",
                targets.len(),
                keep.len()
            );
        }
        let kept: Vec<u32> = (0..b as u32).filter(|&i| keep[i as usize]).collect();
        if kept.is_empty() {
            return Tensor::zeros((), DType::F32, device);
        }
        let index = Tensor::new(kept.as_slice(), device)?;
        let pooled = self.pool(
            &text.index_select(&index, 0)?,
            &mask.index_select(&index, 0)?,
        )?;
        let n = kept.len();
        let logits = self
            .reader
            .object_logits(&pooled)?
            .reshape((n * OBJECT_SLOTS, ()))?;
        let column = |attribute: usize| -> Vec<u32> {
            kept.iter()
                .flat_map(|&i| {
                    let t = &targets[i as usize];
                    (0..OBJECT_SLOTS).map(move |slot| t.objects[slot][attribute])
                })
                .collect()
        };
        let mut total = Tensor::zeros((), DType::F32, device)?;
        let mut start = 0;
        for (attribute, classes) in [COLOURS, SHAPES, MOTIONS].into_iter().enumerate() {
            let target = Tensor::new(column(attribute).as_slice(), device)?;
            let part = logits.narrow(1, start, classes)?.contiguous()?;
            total = (total + candle_nn::loss::cross_entropy(&part, &target)?)?;
            start += classes;
        }
        let background_logits = self.reader.background_logits(&pooled)?;
        let background_target: Vec<u32> = kept
            .iter()
            .map(|&i| targets[i as usize].background)
            .collect();
        let background_target = Tensor::new(background_target.as_slice(), device)?;
        total = (total + candle_nn::loss::cross_entropy(&background_logits, &background_target)?)?;
        total / 4.0
    }

    /// How well the head reads `targets` out of `text` (encoder output `(B, L, text_dim)`,
    /// token mask `(B, L)`): a check of what the encoder holds.
    pub fn reads(
        &self,
        text: &Tensor,
        mask: &Tensor,
        targets: &[ParseTargets],
    ) -> Result<ParseReads> {
        let b = text.dim(0)?;
        if targets.len() != b {
            candle_core::bail!("caption parse: {} targets for {b} captions", targets.len());
        }
        let pooled = self.pool(text, mask)?;
        let logits = self
            .reader
            .object_logits(&pooled)?
            .reshape((b * OBJECT_SLOTS, ()))?;
        let mut argmax = Vec::new();
        let mut start = 0;
        for classes in [COLOURS, SHAPES, MOTIONS] {
            argmax.push(
                logits
                    .narrow(1, start, classes)?
                    .argmax(1)?
                    .to_vec1::<u32>()?,
            );
            start += classes;
        }
        let background = self
            .reader
            .background_logits(&pooled)?
            .argmax(1)?
            .to_vec1::<u32>()?;
        let mut reads = ParseReads {
            captions: b,
            ..ParseReads::default()
        };
        for (i, t) in targets.iter().enumerate() {
            let mut whole = background[i] == t.background;
            reads.background += usize::from(background[i] == t.background);
            for slot in 0..OBJECT_SLOTS {
                let got = |a: usize| argmax[a][i * OBJECT_SLOTS + slot];
                let right: [bool; 3] = std::array::from_fn(|a| got(a) == t.objects[slot][a]);
                whole &= right.iter().all(|&r| r);
                if t.objects[slot][0] == Colour::ALL.len() as u32 {
                    continue; // no object in this slot
                }
                reads.objects += 1;
                reads.colour += usize::from(right[0]);
                reads.shape += usize::from(right[1]);
                reads.motion += usize::from(right[2]);
            }
            reads.whole += usize::from(whole);
        }
        Ok(reads)
    }
}

/// Captions a warm-up step reads.
pub const WARM_UP_BATCH: usize = 64;
/// The warm-up's learning rate (AdamW, constant, no weight decay).
pub const WARM_UP_LEARNING_RATE: f64 = 3e-3;

/// Trains `model`'s text encoder and caption-parse head alone on the objective for
/// [`crate::Recipe::caption_parse_warm_up`] steps of [`WARM_UP_BATCH`] training-split
/// captions, before the DiT's first step: the encoder then says which word belongs to which
/// object from the DiT's first step on. Seeded by the recipe; the DiT is untouched.
pub fn warm_up(
    model: &crate::MiniModel,
    tokenizer: &kino_models::text::WanTokenizer,
    recipe: &crate::Recipe,
) -> Result<()> {
    let Some(head) = &model.caption_parse else {
        candle_core::bail!("caption_parse_warm_up needs caption_parse_weight above 0");
    };
    let vars: Vec<_> = model
        .named_vars()
        .into_iter()
        .filter(|(name, _)| {
            name.starts_with(&format!("{}.", crate::model::TEXT_ENCODER))
                || name.starts_with(&format!("{CAPTION_PARSE}."))
        })
        .collect();
    let device = vars
        .first()
        .map(|(_, v)| v.as_tensor().device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let mut optimiser = crate::optim::AdamW::new(vars)?;
    let mut rng = Rng::new(kino_world::mix64(recipe.seed ^ 0x7761_726d)); // "warm"
    let keep = [true; WARM_UP_BATCH];
    for _ in 0..recipe.caption_parse_warm_up {
        let (texts, targets) = sample_captions_with(
            Split::Train,
            WARM_UP_BATCH,
            recipe.one_object_share,
            &mut rng,
        );
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (ids, mask) =
            crate::flow::tokenize(tokenizer, &texts, recipe.max_sequence_length, &device)?;
        let text = model.encode_text(&ids, &mask)?;
        let loss = head.loss(&text, &mask, &targets, &keep)?;
        optimiser.step(&loss.backward()?, WARM_UP_LEARNING_RATE, 0.0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use crate::{MiniModel, Recipe, flow, vocabulary};
    use candle_core::Device;
    use kino_world::Object;

    #[test]
    fn targets_follow_the_captions_order_and_mark_a_missing_second_object() {
        let one = SceneSpec::new(
            vec![Object::new(Colour::Red, Shape::Star, Motion::Up)],
            Background::Sea,
        );
        let t = ParseTargets::of(&one);
        let none = [
            Colour::ALL.len() as u32,
            Shape::ALL.len() as u32,
            Motion::ALL.len() as u32,
        ];
        assert_eq!(t.objects[1], none);
        assert_eq!(Colour::ALL[t.objects[0][0] as usize], Colour::Red);
        assert_eq!(Shape::ALL[t.objects[0][1] as usize], Shape::Star);
        assert_eq!(Motion::ALL[t.objects[0][2] as usize], Motion::Up);
        assert_eq!(Background::ALL[t.background as usize], Background::Sea);

        let two = SceneSpec::new(
            vec![
                Object::new(Colour::Blue, Shape::Ball, Motion::Left),
                Object::new(Colour::Red, Shape::Square, Motion::Down),
            ],
            Background::White,
        );
        let t = ParseTargets::of(&two);
        assert_eq!(Colour::ALL[t.objects[0][0] as usize], Colour::Blue);
        assert_eq!(Colour::ALL[t.objects[1][0] as usize], Colour::Red);
        assert_eq!(Motion::ALL[t.objects[1][2] as usize], Motion::Down);
    }

    /// The objective teaches a fresh encoder which words belong to which object: after a
    /// 200-step warm-up on training-split captions, the head reads a quarter of held-out captions (unseen
    /// combinations, free phrasings) entirely right and half their objects' colours, where
    /// the untrained pair reads almost none.
    #[test]
    fn the_warm_up_teaches_a_fresh_encoder_to_parse_held_out_captions() {
        let recipe = Recipe {
            text_dim: 32,
            text_layers: 2,
            caption_parse_weight: 1.0,
            caption_parse_warm_up: 200,
            ..Recipe::tiny()
        };
        let device = Device::Cpu;
        let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &device).unwrap();
        let head = model.caption_parse.as_ref().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, vocabulary::tokenizer_json().to_string()).unwrap();
        let tokenizer = kino_models::text::WanTokenizer::from_file(&path).unwrap();
        let tokens = |texts: &[String]| {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            flow::tokenize(&tokenizer, &texts, recipe.max_sequence_length, &device).unwrap()
        };
        let (held, held_targets) = sample_captions(Split::HeldOut, 128, &mut Rng::new(7));
        let (held_ids, held_mask) = tokens(&held);
        let read = || {
            let text = model.encode_text(&held_ids, &held_mask).unwrap();
            head.reads(&text, &held_mask, &held_targets).unwrap()
        };
        let before = read();
        warm_up(&model, &tokenizer, &recipe).unwrap();
        let after = read();
        assert!(before.whole < 8, "{before:?}");
        // 200 steps is the start of the climb (the 64-wide encoder of the shipped recipe, at
        // batch 64, reads 99% right after 1,000: `examples/caption_probe.rs`).
        assert!(after.whole > 32, "{after:?}");
        assert!(after.colour * 2 > after.objects, "{after:?}");
        assert!(after.motion * 5 > after.objects * 2, "{after:?}");
        assert_eq!(after.captions, 128);
    }

    /// A dropped caption ("" in training) says nothing about the clip, so it adds nothing.
    #[test]
    fn dropped_captions_add_nothing_to_the_loss() {
        let recipe = Recipe {
            caption_parse_weight: 1.0,
            ..Recipe::tiny()
        };
        let device = Device::Cpu;
        let model = MiniModel::new(&recipe, vocabulary::pieces().len(), &device).unwrap();
        let head = model.caption_parse.as_ref().unwrap();
        let text = Tensor::ones((2, 5, recipe.text_dim), DType::F32, &device).unwrap();
        let mask = Tensor::ones((2, 5), DType::U32, &device).unwrap();
        let (_, targets) = sample_captions(Split::Train, 2, &mut Rng::new(3));
        let none = head.loss(&text, &mask, &targets, &[false, false]).unwrap();
        assert_eq!(none.to_scalar::<f32>().unwrap(), 0.0);
        let first = head.loss(&text, &mask, &targets, &[true, false]).unwrap();
        let alone = head
            .loss(
                &text.narrow(0, 0, 1).unwrap(),
                &mask.narrow(0, 0, 1).unwrap(),
                &targets[..1],
                &[true],
            )
            .unwrap();
        assert_eq!(
            first.to_scalar::<f32>().unwrap(),
            alone.to_scalar::<f32>().unwrap()
        );
        assert!(
            head.loss(&text, &mask, &targets[..1], &[true, true])
                .is_err()
        );
    }
}
