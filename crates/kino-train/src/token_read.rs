//! The token-read objective ([`crate::Recipe::token_read_weight`]): a training-only linear
//! head that reads, out of each DiT patch token part-way through the blocks, what the clean
//! clip holds at that token's place.
//!
//! The denoising loss asks for the clip's pixels (or latents), where an object's motion is a
//! faint pattern of small values. This head asks the tokens for it outright, from the world's
//! ground truth: the colour, shape and motion of the object that covers the token most over
//! the clip (or "none"), and in which of the clip's frames any object covers it (the path
//! over the token grid). So a token must learn, from the noisy clip and the caption, which
//! object is at its place and how that object moves: binding and layout, in the place the
//! later blocks draw from. Like representation alignment (REPA, Yu et al. 2024), with the
//! world's exact labels in place of a pretrained encoder's features. The head is not
//! exported; the shipped model folder is the same Wan layout with or without it.

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::VarBuilder;
use kino_world::{BBox, Colour, Motion, SceneSpec, Shape};

use crate::caption_parse::{COLOURS, MOTIONS, SHAPES, index_of};
use crate::data::ObjectBoxes;
use kino_models::linear::{Linear, linear};

/// The head's prefix in the model's `VarMap` (not a component of the exported folder).
pub const TOKEN_READ: &str = "token_read";

/// Overlap, in square pixels, from which an object counts as covering a token in a frame.
const MIN_COVER: f32 = 1.0;

/// The training-only head: one linear map from a token to its class and presence logits.
#[derive(Debug, Clone)]
pub struct TokenReadHead {
    read: Linear,
    frames: usize,
}

/// What the head must read out of one clip's tokens, token by token in the DiT's order.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenTargets {
    /// Per token: colour, shape and motion class of the object covering it most over the
    /// clip (the last class of each: no object).
    pub classes: Vec<[u32; 3]>,
    /// Per token, per frame: 1 where some object covers the token in that frame.
    pub presence: Vec<f32>,
}

/// Area shared by `bbox` and the pixel rectangle `[x0, x1) x [y0, y1)`.
fn overlap(bbox: &BBox, [x0, y0, x1, y1]: [f32; 4]) -> f32 {
    let w = (bbox.x1.min(x1) - bbox.x0.max(x0)).max(0.0);
    let h = (bbox.y1.min(y1) - bbox.y0.max(y0)).max(0.0);
    w * h
}

impl TokenTargets {
    /// The targets of a clip of `spec` whose objects lie at `boxes` (per frame, per object),
    /// for a `rows x cols` token grid over a `width x height` frame (one token row-major per
    /// grid cell; every frame folded into each token, as in a latent recipe).
    pub fn of(
        spec: &SceneSpec,
        boxes: &ObjectBoxes,
        (rows, cols): (usize, usize),
        (width, height): (usize, usize),
    ) -> Self {
        let none = [
            Colour::ALL.len() as u32,
            Shape::ALL.len() as u32,
            Motion::ALL.len() as u32,
        ];
        let frames = boxes.len();
        let (cell_w, cell_h) = (width as f32 / cols as f32, height as f32 / rows as f32);
        let mut classes = Vec::with_capacity(rows * cols);
        let mut presence = Vec::with_capacity(rows * cols * frames);
        for row in 0..rows {
            for col in 0..cols {
                let cell = [
                    col as f32 * cell_w,
                    row as f32 * cell_h,
                    (col + 1) as f32 * cell_w,
                    (row + 1) as f32 * cell_h,
                ];
                let mut cover = vec![0f32; spec.objects.len()];
                for frame in boxes {
                    let mut present = false;
                    for (k, bbox) in frame.iter().enumerate().take(spec.objects.len()) {
                        let area = overlap(bbox, cell);
                        if area >= MIN_COVER {
                            cover[k] += area;
                            present = true;
                        }
                    }
                    presence.push(if present { 1.0 } else { 0.0 });
                }
                let most = cover
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0.0)
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(k, _)| k);
                classes.push(match most {
                    Some(k) => {
                        let object = &spec.objects[k];
                        [
                            index_of(&Colour::ALL, &object.colour),
                            index_of(&Shape::ALL, &object.shape),
                            index_of(&Motion::ALL, &object.motion),
                        ]
                    }
                    None => none,
                });
            }
        }
        Self { classes, presence }
    }
}

impl TokenReadHead {
    /// Creates the head's variables under `vb` for tokens of width `dim` and clips of
    /// `frames` frames.
    pub fn new(dim: usize, frames: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            read: linear(dim, COLOURS + SHAPES + MOTIONS + frames, vb.pp("read"))?,
            frames,
        })
    }

    /// The logits `(B * N, classes + frames)` of tokens `(B, N, dim)`.
    fn logits(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, n, dim) = tokens.dims3()?;
        let normed =
            kino_models::dit::block::layer_norm(&tokens.to_dtype(DType::F32)?, None, 1e-6)?;
        self.read.forward(&normed.reshape((b * n, dim))?)
    }

    /// The objective on `tokens` `(B, N, dim)`: the mean cross-entropy of each token's
    /// colour, shape and motion class, plus the mean binary cross-entropy of its presence in
    /// each frame.
    pub fn loss(&self, tokens: &Tensor, targets: &[TokenTargets]) -> Result<Tensor> {
        let (b, n, _) = tokens.dims3()?;
        if targets.len() != b
            || targets
                .iter()
                .any(|t| t.classes.len() != n || t.presence.len() != n * self.frames)
        {
            candle_core::bail!(
                "token read: targets do not match {b} clips of {n} tokens and {} frames",
                self.frames
            );
        }
        let device = tokens.device();
        let logits = self.logits(tokens)?;
        let mut total = Tensor::zeros((), DType::F32, device)?;
        let mut start = 0;
        for (attribute, classes) in [COLOURS, SHAPES, MOTIONS].into_iter().enumerate() {
            let target: Vec<u32> = targets
                .iter()
                .flat_map(|t| t.classes.iter().map(move |c| c[attribute]))
                .collect();
            let target = Tensor::new(target.as_slice(), device)?;
            let part = logits.narrow(1, start, classes)?.contiguous()?;
            total = (total + candle_nn::loss::cross_entropy(&part, &target)?)?;
            start += classes;
        }
        let presence: Vec<f32> = targets
            .iter()
            .flat_map(|t| t.presence.iter().copied())
            .collect();
        let presence = Tensor::from_vec(presence, (b * n, self.frames), device)?;
        let z = logits.narrow(1, start, self.frames)?;
        // Binary cross-entropy with logits, stable: max(z, 0) - z y + log(1 + exp(-|z|)).
        let bce = ((z.relu()? - (&z * &presence)?)? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?
            .mean_all()?;
        total + bce
    }

    /// What the head reads out of tokens `(B, N, dim)`, token by token (clip-major): each
    /// token's colour, shape and motion class, and per token and frame whether an object
    /// covers it.
    pub fn read(&self, tokens: &Tensor) -> Result<(Vec<[u32; 3]>, Vec<bool>)> {
        let logits = self.logits(tokens)?;
        let mut start = 0;
        let mut argmax = Vec::new();
        for classes in [COLOURS, SHAPES, MOTIONS] {
            argmax.push(
                logits
                    .narrow(1, start, classes)?
                    .argmax(D::Minus1)?
                    .to_vec1::<u32>()?,
            );
            start += classes;
        }
        let classes = (0..argmax[0].len())
            .map(|i| [argmax[0][i], argmax[1][i], argmax[2][i]])
            .collect();
        let present = logits
            .narrow(1, start, self.frames)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|z| z > 0.0)
            .collect();
        Ok((classes, present))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use candle_core::Device;
    use kino_world::{Background, Object};

    fn bbox(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    #[test]
    fn targets_name_the_object_covering_each_token_most_and_its_path() {
        let spec = SceneSpec::new(
            vec![
                Object::new(Colour::Red, Shape::Star, Motion::Right),
                Object::new(Colour::Blue, Shape::Square, Motion::Still),
            ],
            Background::Sea,
        );
        // A 2 x 2 grid over 8 x 8 pixels. The red star crosses the top row left to right;
        // the blue square sits on the bottom-right token and reaches a sliver (half a pixel
        // of area) into the top-right one.
        let boxes: ObjectBoxes = vec![
            vec![bbox(0.0, 0.0, 3.0, 3.0), bbox(5.0, 3.75, 8.0, 8.0)],
            vec![bbox(5.0, 0.0, 8.0, 3.0), bbox(5.0, 3.75, 8.0, 8.0)],
        ];
        let t = TokenTargets::of(&spec, &boxes, (2, 2), (8, 8));
        let red = [
            index_of(&Colour::ALL, &Colour::Red),
            index_of(&Shape::ALL, &Shape::Star),
            index_of(&Motion::ALL, &Motion::Right),
        ];
        let blue = [
            index_of(&Colour::ALL, &Colour::Blue),
            index_of(&Shape::ALL, &Shape::Square),
            index_of(&Motion::ALL, &Motion::Still),
        ];
        let none = [
            Colour::ALL.len() as u32,
            Shape::ALL.len() as u32,
            Motion::ALL.len() as u32,
        ];
        assert_eq!(t.classes, vec![red, red, none, blue]);
        // Per token, per frame: the star is top-left in frame 0 and top-right in frame 1.
        assert_eq!(t.presence, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn the_larger_cover_wins_a_shared_token() {
        let spec = SceneSpec::new(
            vec![
                Object::new(Colour::Red, Shape::Ball, Motion::Up),
                Object::new(Colour::Green, Shape::Ball, Motion::Down),
            ],
            Background::Sea,
        );
        let boxes: ObjectBoxes = vec![vec![bbox(0.0, 0.0, 2.0, 4.0), bbox(1.0, 0.0, 4.0, 4.0)]];
        let t = TokenTargets::of(&spec, &boxes, (1, 1), (4, 4));
        assert_eq!(t.classes[0][0], index_of(&Colour::ALL, &Colour::Green));
        assert_eq!(t.presence, vec![1.0]);
    }

    #[test]
    fn the_head_learns_targets_its_tokens_carry_and_rejects_a_mismatch() {
        let device = Device::Cpu;
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let head = TokenReadHead::new(8, 2, vb).unwrap();
        let spec = SceneSpec::new(
            vec![Object::new(Colour::Red, Shape::Star, Motion::Right)],
            Background::Sea,
        );
        let boxes: ObjectBoxes = vec![
            vec![bbox(0.0, 0.0, 3.0, 3.0)],
            vec![bbox(5.0, 0.0, 8.0, 3.0)],
        ];
        let targets = vec![TokenTargets::of(&spec, &boxes, (2, 2), (8, 8))];
        // Tokens that say plainly what is where: one-hot by class and presence.
        let mut values = vec![0f32; 4 * 8];
        for (i, c) in targets[0].classes.iter().enumerate() {
            values[i * 8 + usize::from(c[0] != Colour::ALL.len() as u32)] = 3.0;
            for f in 0..2 {
                values[i * 8 + 2 + f] = 3.0 * targets[0].presence[i * 2 + f];
            }
        }
        let tokens = Tensor::from_vec(values, (1, 4, 8), &device).unwrap();
        let before = head
            .loss(&tokens, &targets)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let mut optimiser = crate::optim::AdamW::new(
            varmap
                .all_vars()
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        )
        .unwrap();
        for _ in 0..300 {
            let loss = head.loss(&tokens, &targets).unwrap();
            optimiser
                .step(&loss.backward().unwrap(), 3e-2, 0.0)
                .unwrap();
        }
        let after = head
            .loss(&tokens, &targets)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(after < before / 10.0, "loss {before} -> {after}");
        let (classes, present) = head.read(&tokens).unwrap();
        assert_eq!(classes, targets[0].classes);
        let expected: Vec<bool> = targets[0].presence.iter().map(|&p| p > 0.5).collect();
        assert_eq!(present, expected);
        let other = vec![TokenTargets::of(&spec, &boxes, (1, 2), (8, 8))];
        assert!(head.loss(&tokens, &other).is_err());
    }
}
