//! kino-mini as a trainable whole: the Wan DiT and the umT5 text encoder of kino-models, built
//! on one `VarMap` (names prefixed `transformer.` and `text_encoder.`, then the reference's
//! tensor names), with seeded initial weights.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::dit::WanTransformer3D;
use kino_models::text::Umt5Encoder;
use kino_models::{Umt5Config, WanTransformerConfig};
use kino_world::Rng;

use crate::caption_parse::{CAPTION_PARSE, CaptionParseHead};
use crate::layout::LAYOUT_GENERATOR;
use crate::recipe::Recipe;
use crate::token_read::{TOKEN_READ, TokenReadHead};

/// The DiT's prefix in the `VarMap`, and its folder in a model directory.
pub const TRANSFORMER: &str = "transformer";
/// The text encoder's prefix in the `VarMap`, and its folder in a model directory.
pub const TEXT_ENCODER: &str = "text_encoder";

/// The networks of kino-mini and the variables they are made of.
pub struct MiniModel {
    /// The denoiser.
    pub dit: WanTransformer3D,
    /// The prompt encoder.
    pub text: Umt5Encoder,
    /// The training-only caption-parse head ([`Recipe::caption_parse_weight`] above 0).
    pub caption_parse: Option<CaptionParseHead>,
    /// The training-only token-read head ([`Recipe::token_read_weight`] above 0).
    pub token_read: Option<TokenReadHead>,
    /// The layout stage's path generator ([`Recipe::layout_planes`]).
    pub layout_generator: Option<kino_models::layout::PathGenerator>,
    /// Every trainable tensor, by `prefix.reference_name`.
    pub varmap: VarMap,
}

impl std::fmt::Debug for MiniModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniModel")
            .field("parameters", &self.parameter_count())
            .finish()
    }
}

/// Parses a config document through the same typed struct the loader uses.
fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| candle_core::Error::Msg(format!("kino-mini {what} config: {e}")))
}

impl MiniModel {
    /// Builds the networks for `recipe` with a text vocabulary of `vocab_size` tokens and
    /// initialises every weight from `recipe.seed`.
    pub fn new(recipe: &Recipe, vocab_size: usize, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let dit_cfg: WanTransformerConfig = typed(recipe.transformer_config(), "transformer")?;
        let text_cfg: Umt5Config = typed(recipe.text_encoder_config(vocab_size), "text encoder")?;
        let dit = WanTransformer3D::new(&dit_cfg, vb.pp(TRANSFORMER))?;
        // Create `shared.weight` first so the encoder takes T5's canonical name for it.
        vb.pp(TEXT_ENCODER)
            .pp("shared")
            .get((vocab_size, recipe.text_dim), "weight")?;
        let text = Umt5Encoder::new(&text_cfg, vb.pp(TEXT_ENCODER))?;
        let caption_parse = if recipe.caption_parse_weight > 0.0 {
            Some(CaptionParseHead::new(
                recipe.text_dim,
                vb.pp(CAPTION_PARSE),
            )?)
        } else {
            None
        };
        recipe.validate().map_err(candle_core::Error::Msg)?;
        let token_read = if recipe.token_read_weight > 0.0 {
            Some(TokenReadHead::new(
                recipe.dim,
                recipe.frames,
                vb.pp(TOKEN_READ),
            )?)
        } else {
            None
        };
        let layout_generator = if recipe.layout_planes {
            Some(kino_models::layout::PathGenerator::new(
                &crate::layout::layout_config(recipe),
                vb.pp(LAYOUT_GENERATOR),
            )?)
        } else {
            None
        };
        let model = Self {
            dit,
            text,
            caption_parse,
            token_read,
            layout_generator,
            varmap,
        };
        model.initialise(recipe)?;
        Ok(model)
    }

    /// Sets the variables of `component` ([`TRANSFORMER`] or [`TEXT_ENCODER`]) to the weights
    /// of an exported model folder's `component/file`, cast to f32; a missing tensor is an
    /// error that names it and the file.
    pub fn load_exported(&self, model_dir: &std::path::Path, component: &str) -> Result<()> {
        let file = if component == TRANSFORMER {
            "diffusion_pytorch_model.safetensors"
        } else {
            "model.safetensors"
        };
        let path = model_dir.join(component).join(file);
        let stored = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))?;
        for (name, var) in self.named_vars() {
            if let Some(key) = name.strip_prefix(&format!("{component}.")) {
                let tensor = stored.get(key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("{}: no tensor {key}", path.display()))
                })?;
                var.set(&tensor.to_dtype(DType::F32)?)?;
            }
        }
        Ok(())
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.varmap
            .all_vars()
            .iter()
            .map(|v| v.as_tensor().elem_count())
            .sum()
    }

    /// The variables sorted by name (a stable order for the optimiser and checkpoints).
    pub fn named_vars(&self) -> Vec<(String, candle_core::Var)> {
        sorted_vars(&self.varmap)
    }

    /// Seeded initial weights: norms 1 (the attention query/key norms the recipe's gains),
    /// biases 0, the output projection 0 (the untrained model predicts zero flow), modulation
    /// tables N(0, 1/dim), token embeddings N(0, 1), the relative-position bias 0, and every
    /// other matrix N(0, 1/fan_in). The caption-parse head draws from a stream of its own, so
    /// the networks start the same with or without it.
    fn initialise(&self, recipe: &Recipe) -> Result<()> {
        let mut networks = Rng::new(kino_world::mix64(recipe.seed ^ 0x696e_6974)); // "init"
        let mut head = Rng::new(kino_world::mix64(recipe.seed ^ 0x7061_7273)); // "pars"
        let mut token_head = Rng::new(kino_world::mix64(recipe.seed ^ 0x746f_6b65)); // "toke"
        let mut layout = Rng::new(kino_world::mix64(recipe.seed ^ 0x7061_7468)); // "path"
        let dit_cfg: WanTransformerConfig = typed(recipe.transformer_config(), "transformer")?;
        let biases = attention_biases(recipe, dit_cfg.rope_dims());
        for (name, var) in self.named_vars() {
            let dims = var.as_tensor().dims().to_vec();
            let n: usize = dims.iter().product();
            let rng = if name.starts_with(&format!("{CAPTION_PARSE}.")) {
                &mut head
            } else if name.starts_with(&format!("{TOKEN_READ}.")) {
                &mut token_head
            } else if name.starts_with(&format!("{LAYOUT_GENERATOR}.")) {
                &mut layout
            } else {
                &mut networks
            };
            let values: Vec<f32> = match initial_value(&name, &dims, recipe, &biases) {
                Initial::Constant(value) => vec![value as f32; n],
                Initial::Normal(std) => (0..n).map(|_| (gaussian(rng) * std) as f32).collect(),
                Initial::Values(values) => values.to_vec(),
            };
            var.set(&Tensor::from_vec(values, dims, var.as_tensor().device())?)?;
        }
        Ok(())
    }

    /// The text encoder's output for token ids and masks `(B, L)`, zero past each prompt's
    /// `</s>` as the pipeline's prompt encoder returns it.
    pub fn encode_text(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let hidden = self.text.forward(ids, mask)?;
        let keep = mask
            .to_dtype(DType::F32)?
            .unsqueeze(2)?
            .broadcast_as(hidden.shape())?;
        hidden * keep
    }
}

/// The variables of `varmap` sorted by name (a stable order for the optimiser and
/// checkpoints).
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().expect(
        "the VarMap lock is only taken here and in candle, never poisoned by a panic we keep",
    );
    let mut vars: Vec<(String, candle_core::Var)> =
        data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// The self-attention query and key biases one block starts with (each `recipe.dim` long,
/// head after head; zeros for a head that starts plain).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAttentionBias {
    /// `attn1.to_q.bias`.
    pub query: Vec<f32>,
    /// `attn1.to_k.bias`.
    pub key: Vec<f32>,
    /// `attn1.norm_q.weight` and `attn1.norm_k.weight` (the same gains for both).
    pub gain: Vec<f32>,
}

/// Where a shift head looks: the token one frame patch back (or on) and `aside` tokens aside,
/// where content moving one way was (or will be). `(frame, row, column)` offsets of the key
/// from the query, in tokens. With `aside` 0 there are only two places, the query's own one
/// frame patch back (even combinations) and on (odd ones): neighbour-frame heads.
pub fn shift_offset(combination: usize, aside: usize) -> [i64; 3] {
    if aside == 0 {
        return if combination.is_multiple_of(2) {
            [-1, 0, 0]
        } else {
            [1, 0, 0]
        };
    }
    let a = aside as i64;
    // Left, right, up, down: a content's place one frame patch back is `aside` tokens against
    // its motion; one frame patch on, along it.
    let back = match combination % 4 {
        0 => [-1, 0, a],
        1 => [-1, 0, -a],
        2 => [-1, a, 0],
        _ => [-1, -a, 0],
    };
    if (combination / 4).is_multiple_of(2) {
        back
    } else {
        back.map(|d| -d)
    }
}

/// The starting self-attention biases of every block, for a DiT whose RoPE splits a head into
/// `rope_dims` (frame, row, column; `WanTransformerConfig::rope_dims`).
///
/// The first `recipe.local_heads` heads of a block are local heads (see
/// [`local_attention_bias`]); the next `recipe.shift_heads` are shift heads, the same pattern
/// centred on [`shift_offset`] rather than on the query: block `b`'s `i`-th shift head takes
/// combination `b * shift_heads + i` of the eight (four directions, back or on), so the
/// blocks between them cover each. World objects travel half their region over a clip, one
/// 4-pixel token per 4-frame patch in a 32x32 frame of 16 frames, so a shift head starts out
/// copying a moving object's last (or next) place, which a head built only from RoPE's
/// separable relative positions would otherwise have to find on its own.
///
/// The query/key norms (RMS over every head at once) start at `recipe.self_attention_gain`,
/// except with a [`Recipe::shift_energy`] above the local heads' 3: the shift heads' larger
/// biases raise the shared RMS, so the other heads' gains grow by as much as it does (for
/// inputs of unit variance) and those heads start as they would at 3, while the shift heads'
/// dimensions take [`Recipe::shift_gain`].
pub fn attention_biases(recipe: &Recipe, rope_dims: [usize; 3]) -> Vec<BlockAttentionBias> {
    let local = local_attention_bias(recipe, rope_dims);
    let head_dim = recipe.dim / recipe.heads;
    let first = recipe.local_heads.min(recipe.heads);
    let last = (first + recipe.shift_heads).min(recipe.heads);
    let shift_energy = recipe.shift_energy * head_dim as f64;
    // Expected squared RMS of a query: unit-variance content in every dimension plus the
    // biases' energy, against what it would be with the shift heads at the local energy.
    let local_energy = LOCAL_ENERGY * head_dim as f64;
    let energy = |per_shift_head: f64| {
        let local: f64 = local.iter().map(|&v| f64::from(v).powi(2)).sum();
        (recipe.dim as f64 + local + (last - first) as f64 * per_shift_head) / recipe.dim as f64
    };
    let compensation = (energy(shift_energy) / energy(local_energy)).sqrt();
    let other_gain = (recipe.self_attention_gain * compensation) as f32;
    let shift_gain = recipe.shift_gain.map_or(other_gain, |g| g as f32);
    (0..recipe.layers)
        .map(|block| {
            let (mut query, mut key) = (local.clone(), local.clone());
            let mut gain = vec![other_gain; recipe.dim];
            for (i, head) in (first..last).enumerate() {
                let offset = shift_offset(block * recipe.shift_heads + i, recipe.shift_aside);
                let shares: &[Share] = if recipe.shift_aside == 0 {
                    &NEIGHBOUR_FRAME_SHARES
                } else {
                    &LOCAL_SHARES
                };
                let (q, k) = head_pattern(recipe, rope_dims, shares, offset, recipe.shift_energy);
                let span = head * head_dim..(head + 1) * head_dim;
                query[span.clone()].copy_from_slice(&q);
                key[span.clone()].copy_from_slice(&k);
                gain[span].fill(shift_gain);
            }
            BlockAttentionBias { query, key, gain }
        })
        .collect()
}

/// A local head's bias energy, in multiples of the head width (see [`head_pattern`]).
const LOCAL_ENERGY: f64 = 3.0;

/// An axis's RoPE pair and its share of a patterned head's bias energy.
type Share = (Axis, usize, f64);

/// A RoPE axis.
#[derive(Debug, Clone, Copy)]
enum Axis {
    Frame,
    Row,
    Column,
}

/// The local heads' (and shift heads') pattern that also tells frame patches apart: the
/// highest frame frequency, and the two highest of the row and column axes (1 and about 0.16
/// a token: the first alone would repeat every 6 tokens).
const LOCAL_SHARES: [Share; 5] = [
    (Axis::Frame, 0, 0.2),
    (Axis::Row, 0, 0.15),
    (Axis::Row, 1, 0.25),
    (Axis::Column, 0, 0.15),
    (Axis::Column, 1, 0.25),
];

/// The neighbour-frame heads' pattern (shift heads with no offset aside): most of the energy
/// on the two highest frame frequencies (1 and about 0.2 a frame patch: the first alone would
/// peak again 6 frame patches on), so the neighbouring frame patch wins over the query's own
/// and the others, and the rest on the row and column axes, to keep to the same place.
const NEIGHBOUR_FRAME_SHARES: [Share; 6] = [
    (Axis::Frame, 0, 0.35),
    (Axis::Frame, 1, 0.25),
    (Axis::Row, 0, 0.1),
    (Axis::Row, 1, 0.1),
    (Axis::Column, 0, 0.1),
    (Axis::Column, 1, 0.1),
];

/// The local heads' pattern that looks at every frame patch alike.
const SPATIAL_SHARES: [Share; 4] = [
    (Axis::Row, 0, 0.2),
    (Axis::Row, 1, 0.3),
    (Axis::Column, 0, 0.2),
    (Axis::Column, 1, 0.3),
];

/// One head's query and key bias (`head_dim` each) whose RoPE logit peaks where the key sits
/// at `offset` (frame, row, column tokens) from the query.
///
/// Wan's 3D RoPE rotates interleaved pairs of a head's dimensions, frame pairs first, then row
/// and column pairs, pair `k` of an axis of `n` dimensions at `10000^(-2k / n)` radians a
/// token. A query holding `(a, 0)` in a pair and a key holding `a (cos wd, -sin wd)` add
/// `a^2 cos(w (j - i - d))` to their logit at key offset `j - i`: a peak at offset `d`. The
/// bias carries `energy` times the energy of a head's random part (its projection of
/// unit-variance inputs, about `head_dim`; [`LOCAL_ENERGY`] for local heads), so the pattern
/// leads at first and the learnt content part takes over as training sharpens it.
fn head_pattern(
    recipe: &Recipe,
    rope_dims: [usize; 3],
    shares: &[Share],
    offset: [i64; 3],
    energy: f64,
) -> (Vec<f32>, Vec<f32>) {
    let head_dim = recipe.dim / recipe.heads;
    let energy = energy * head_dim as f64;
    let (mut query, mut key) = (vec![0f32; head_dim], vec![0f32; head_dim]);
    for &(axis, k, share) in shares {
        let (start, axis_dims, d) = match axis {
            Axis::Frame => (0, rope_dims[0], offset[0]),
            Axis::Row => (rope_dims[0] / 2, rope_dims[1], offset[1]),
            Axis::Column => ((rope_dims[0] + rope_dims[1]) / 2, rope_dims[2], offset[2]),
        };
        let pair = start + k;
        let w = 10000f64.powf(-2.0 * k as f64 / axis_dims as f64);
        let a = (energy * share).sqrt();
        query[2 * pair] = a as f32;
        if d == 0 {
            // The same vector as the query's (as local heads always were).
            key[2 * pair] = a as f32;
        } else {
            key[2 * pair] = (a * (w * d as f64).cos()) as f32;
            key[2 * pair + 1] = (-a * (w * d as f64).sin()) as f32;
        }
    }
    (query, key)
}

/// The self-attention query and key bias (the same vector for both) that starts the first
/// `recipe.local_heads` heads of a block as local heads (all zeros with none), for a DiT whose
/// RoPE splits a head into `rope_dims` (frame, row, column; `WanTransformerConfig::rope_dims`).
///
/// Each head's logit then peaks at the query's own place and falls off around it (see
/// `head_pattern`), at the same frame patch (even heads) or at every frame patch (odd
/// heads, which hold no frame frequency).
pub fn local_attention_bias(recipe: &Recipe, rope_dims: [usize; 3]) -> Vec<f32> {
    let head_dim = recipe.dim / recipe.heads;
    let mut bias = vec![0f32; recipe.dim];
    for head in 0..recipe.local_heads.min(recipe.heads) {
        let shares: &[Share] = if head % 2 == 0 {
            &LOCAL_SHARES
        } else {
            &SPATIAL_SHARES
        };
        let (query, _) = head_pattern(recipe, rope_dims, shares, [0; 3], LOCAL_ENERGY);
        bias[head * head_dim..(head + 1) * head_dim].copy_from_slice(&query);
    }
    bias
}

/// How one variable starts.
enum Initial<'a> {
    /// Every element this value (draws nothing from the seed's stream).
    Constant(f64),
    /// Independent normal draws of this standard deviation.
    Normal(f64),
    /// These values, in order (draws nothing from the seed's stream).
    Values(&'a [f32]),
}

/// The initial value of the variable `name` of shape `dims` (see [`MiniModel::new`]);
/// `biases` is [`attention_biases`] for the recipe.
fn initial_value<'a>(
    name: &str,
    dims: &[usize],
    recipe: &Recipe,
    biases: &'a [BlockAttentionBias],
) -> Initial<'a> {
    let leaf = name.rsplit('.').next().unwrap_or("");
    let block = || -> Option<&'a BlockAttentionBias> {
        let index = name.split(".blocks.").nth(1)?.split('.').next()?;
        biases.get(index.parse::<usize>().ok()?)
    };
    let query = name.contains(".attn1.to_q.bias");
    let key = name.contains(".attn1.to_k.bias");
    if let Some(bias) = (query || key).then(block).flatten() {
        Initial::Values(if query { &bias.query } else { &bias.key })
    } else if name.ends_with("norm_q.weight") || name.ends_with("norm_k.weight") {
        if name.contains(".attn1.")
            && let Some(bias) = block()
        {
            Initial::Values(&bias.gain)
        } else {
            Initial::Constant(if name.contains(".attn1.") {
                recipe.self_attention_gain
            } else {
                recipe.cross_attention_gain
            })
        }
    } else if name.ends_with("norm2.weight") || name.ends_with("layer_norm.weight") {
        Initial::Constant(1.0)
    } else if leaf == "bias"
        || name.starts_with(&format!("{TRANSFORMER}.proj_out."))
        || name.contains("relative_attention_bias")
    {
        Initial::Constant(0.0)
    } else if leaf == "scale_shift_table" {
        Initial::Normal(1.0 / (recipe.dim as f64).sqrt())
    } else if name.ends_with("shared.weight") {
        Initial::Normal(1.0)
    } else {
        let fan_in: usize = dims.iter().skip(1).product::<usize>().max(1);
        Initial::Normal(1.0 / (fan_in as f64).sqrt())
    }
}

/// One standard normal draw (Box-Muller).
pub fn gaussian(rng: &mut Rng) -> f64 {
    let u1 = rng.next_f64().max(1e-300);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;

    fn weights(recipe: &Recipe) -> Vec<(String, Vec<f32>)> {
        let model = MiniModel::new(recipe, 40, &Device::Cpu).unwrap();
        model
            .named_vars()
            .into_iter()
            .map(|(name, var)| {
                let values = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
                (name, values)
            })
            .collect()
    }

    #[test]
    fn the_caption_parse_head_leaves_the_networks_initial_weights_alone() {
        let plain = weights(&Recipe::tiny());
        let with_head = weights(&Recipe {
            caption_parse_weight: 0.5,
            ..Recipe::tiny()
        });
        let (head, networks): (Vec<_>, Vec<_>) = with_head
            .into_iter()
            .partition(|(name, _)| name.starts_with("caption_parse."));
        // Pooling queries, then the object and background classifiers' weights and biases.
        assert_eq!(head.len(), 5);
        assert_eq!(networks, plain);
    }

    #[test]
    fn attention_gains_set_the_query_key_norms_and_nothing_else() {
        let plain = Recipe {
            self_attention_gain: 1.0,
            cross_attention_gain: 1.0,
            local_heads: 0,
            ..Recipe::tiny()
        };
        let sharp = Recipe {
            self_attention_gain: 1.7,
            cross_attention_gain: 1.3,
            ..plain.clone()
        };
        let mut norms = 0;
        for ((name, a), (_, b)) in weights(&plain).into_iter().zip(weights(&sharp)) {
            if name.ends_with("norm_q.weight") || name.ends_with("norm_k.weight") {
                norms += 1;
                assert!(a.iter().all(|&v| v == 1.0), "{name}");
                let gain = if name.contains(".attn1.") { 1.7 } else { 1.3 };
                assert!(b.iter().all(|&v| v == gain), "{name}: {:?}", &b[..4]);
            } else {
                // Every other weight draws the same values from the seed's stream.
                assert_eq!(a, b, "{name}");
            }
        }
        // Self- and cross-attention, query and key, in each of the recipe's blocks.
        assert_eq!(norms, 4 * plain.layers);
    }

    /// The RoPE logit between block `block`'s query bias rotated to token `i` and its key bias
    /// rotated to token `j`, per head, computed with the model's own rotary tables (so a
    /// wrong pair layout or rotation sense fails here).
    fn positional_logits(recipe: &Recipe, block: usize) -> (Vec<[usize; 3]>, Vec<Vec<Vec<f32>>>) {
        let cfg: WanTransformerConfig = typed(recipe.transformer_config(), "transformer").unwrap();
        let grid = [
            recipe.frames / recipe.patch[0],
            recipe.height / recipe.patch[1],
            recipe.width / recipe.patch[2],
        ];
        let tables = kino_models::dit::WanRotaryPosEmbed::new(&cfg)
            .forward(grid, &Device::Cpu)
            .unwrap();
        let cos: Vec<Vec<f32>> = tables.cos.to_vec2().unwrap();
        let sin: Vec<Vec<f32>> = tables.sin.to_vec2().unwrap();
        let biases = &attention_biases(recipe, cfg.rope_dims())[block];
        let head_dim = recipe.dim / recipe.heads;
        let positions: Vec<[usize; 3]> = (0..grid[0])
            .flat_map(|f| (0..grid[1]).flat_map(move |h| (0..grid[2]).map(move |w| [f, h, w])))
            .collect();
        let rotated = |bias: &[f32], token: usize, head: usize| -> Vec<f32> {
            let b = &bias[head * head_dim..(head + 1) * head_dim];
            let mut out = vec![0f32; head_dim];
            for p in 0..head_dim / 2 {
                let (c, s) = (cos[token][p], sin[token][p]);
                out[2 * p] = b[2 * p] * c - b[2 * p + 1] * s;
                out[2 * p + 1] = b[2 * p] * s + b[2 * p + 1] * c;
            }
            out
        };
        let logits = (0..recipe.heads)
            .map(|head| {
                (0..positions.len())
                    .map(|i| {
                        let q = rotated(&biases.query, i, head);
                        (0..positions.len())
                            .map(|j| {
                                let k = rotated(&biases.key, j, head);
                                q.iter().zip(k).map(|(a, b)| a * b).sum()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        (positions, logits)
    }

    #[test]
    fn local_heads_start_looking_around_the_query_and_the_others_start_plain() {
        // Frame patches of 4, so the clip has several frame positions to tell apart.
        let recipe = Recipe {
            local_heads: 2,
            patch: [4, 4, 4],
            ..Recipe::default()
        };
        let (positions, logits) = positional_logits(&recipe, 0);
        let query = positions.iter().position(|&p| p == [1, 3, 4]).unwrap();
        let distance = |a: [usize; 3], b: [usize; 3]| {
            let d = |k: usize| a[k].abs_diff(b[k]);
            (d(0), d(1).max(d(2)))
        };
        for (head, same_frame_only) in [(0, true), (1, false)] {
            let row = &logits[head][query];
            let own = row[query];
            let mut far = Vec::new();
            for (j, &value) in row.iter().enumerate() {
                let (frames, space) = distance(positions[query], positions[j]);
                if space == 0 && (frames == 0 || !same_frame_only) {
                    assert!(
                        (value - own).abs() < 1e-3,
                        "head {head}: key {j} {value} vs {own}"
                    );
                } else if space >= 2 || (same_frame_only && frames >= 1) {
                    assert!(
                        value < 0.91 * own,
                        "head {head}: key {:?} {value} vs {own}",
                        positions[j]
                    );
                    far.push(value / own);
                }
            }
            // On average the far keys score well below: with the gains of a local recipe
            // (1.7) a logit ratio of 0.8 is about 4 logits, a factor of 50 in weight.
            let mean = far.iter().sum::<f32>() / far.len() as f32;
            assert!(
                mean < 0.8,
                "head {head}: far keys at {mean} of the query's own logit"
            );
            // A direct neighbour in space ranks between.
            let side = positions.iter().position(|&p| p == [1, 3, 5]).unwrap();
            let ratio = row[side] / own;
            assert!(
                ratio > 0.89 && ratio < 0.95,
                "head {head}: neighbour at {ratio}"
            );
        }
        // Heads past local_heads start with no bias at all.
        assert!(logits[2][query].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn shift_heads_start_looking_where_moving_content_was_or_will_be() {
        let recipe = Recipe {
            local_heads: 1,
            shift_heads: 3,
            patch: [4, 4, 4],
            ..Recipe::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for block in 0..recipe.layers {
            let (positions, logits) = positional_logits(&recipe, block);
            // A query in the middle of the clip, so every offset has a key.
            let query = positions.iter().position(|&p| p == [1, 3, 4]).unwrap();
            for i in 0..recipe.shift_heads {
                let head = recipe.local_heads + i;
                let offset = shift_offset(block * recipe.shift_heads + i, recipe.shift_aside);
                seen.insert(offset);
                let row = &logits[head][query];
                let target = positions
                    .iter()
                    .position(|p| {
                        (0..3).all(|a| p[a] as i64 == positions[query][a] as i64 + offset[a])
                    })
                    .unwrap();
                // The shifted key wins, with a margin over every other key, the query's own
                // place (still content) among them.
                for (j, &value) in row.iter().enumerate() {
                    if j != target {
                        assert!(
                            value < 0.97 * row[target],
                            "block {block} head {head} offset {offset:?}: key {:?} {value} vs {}",
                            positions[j],
                            row[target]
                        );
                    }
                }
                assert!(row[query] < 0.9 * row[target], "block {block} head {head}");
            }
            // The local head is as local heads always were.
            let (_, plain) = positional_logits(
                &Recipe {
                    shift_heads: 0,
                    ..recipe.clone()
                },
                block,
            );
            assert_eq!(logits[0], plain[0]);
        }
        // The blocks between them cover all eight shifts: four directions, back and on.
        assert_eq!(seen.len(), 8);
    }

    /// The weight a head's query at `query` puts on each key when every token's content is
    /// alike (zero input to the projections, so the biases alone): the biases RMS-normed over
    /// all heads with the model's eps, times the norm gains, rotated by the model's RoPE,
    /// scaled by `1 / sqrt(head_dim)` and softmaxed, as the attention computes it.
    fn bias_attention(
        recipe: &Recipe,
        block: usize,
        head: usize,
        query: [usize; 3],
    ) -> Vec<(usize, f32)> {
        let cfg: WanTransformerConfig = typed(recipe.transformer_config(), "transformer").unwrap();
        let grid = [
            recipe.frames / recipe.patch[0],
            recipe.height / recipe.patch[1],
            recipe.width / recipe.patch[2],
        ];
        let tables = kino_models::dit::WanRotaryPosEmbed::new(&cfg)
            .forward(grid, &Device::Cpu)
            .unwrap();
        let cos: Vec<Vec<f32>> = tables.cos.to_vec2().unwrap();
        let sin: Vec<Vec<f32>> = tables.sin.to_vec2().unwrap();
        let init = &attention_biases(recipe, cfg.rope_dims())[block];
        let head_dim = recipe.dim / recipe.heads;
        let normed = |bias: &[f32]| -> Vec<f32> {
            let ms = bias.iter().map(|v| v * v).sum::<f32>() / bias.len() as f32;
            let scale = 1.0 / (ms + cfg.eps as f32).sqrt();
            bias.iter()
                .zip(&init.gain)
                .map(|(v, g)| v * scale * g)
                .collect()
        };
        let (q, k) = (normed(&init.query), normed(&init.key));
        let rotated = |v: &[f32], token: usize| -> Vec<f32> {
            let b = &v[head * head_dim..(head + 1) * head_dim];
            (0..head_dim / 2)
                .flat_map(|p| {
                    let (c, s) = (cos[token][p], sin[token][p]);
                    [
                        b[2 * p] * c - b[2 * p + 1] * s,
                        b[2 * p] * s + b[2 * p + 1] * c,
                    ]
                })
                .collect()
        };
        let index = |p: [usize; 3]| (p[0] * grid[1] + p[1]) * grid[2] + p[2];
        let qv = rotated(&q, index(query));
        let tokens = grid.iter().product::<usize>();
        let logits: Vec<f32> = (0..tokens)
            .map(|j| {
                let kv = rotated(&k, j);
                qv.iter().zip(&kv).map(|(a, b)| a * b).sum::<f32>() / (head_dim as f32).sqrt()
            })
            .collect();
        let top = logits.iter().cloned().fold(f32::MIN, f32::max);
        let total: f32 = logits.iter().map(|l| (l - top).exp()).sum();
        logits
            .iter()
            .enumerate()
            .map(|(j, l)| (j, (l - top).exp() / total))
            .collect()
    }

    #[test]
    fn energetic_shift_heads_start_sharp_and_leave_the_other_heads_as_they_were() {
        let soft = Recipe {
            local_heads: 2,
            shift_heads: 2,
            ..Recipe::default()
        };
        let sharp = Recipe {
            shift_energy: 30.0,
            shift_gain: Some(3.5),
            ..soft.clone()
        };
        let cfg: WanTransformerConfig = typed(soft.transformer_config(), "transformer").unwrap();
        let head_dim = soft.dim / soft.heads;
        // The energy-3 recipe starts every gain at the self-attention gain (as before the
        // fields existed).
        for init in attention_biases(&soft, cfg.rope_dims()) {
            assert!(
                init.gain
                    .iter()
                    .all(|&g| g == soft.self_attention_gain as f32)
            );
        }
        let inits = attention_biases(&sharp, cfg.rope_dims());
        // Block 0's shift heads look one frame patch back and one token right, then left.
        let query = [2, 3, 4];
        for (head, target) in [(2, [1, 3, 5]), (3, [1, 3, 3])] {
            let index = (target[0] * 8 + target[1]) * 8 + target[2];
            let weight = |recipe: &Recipe| bias_attention(recipe, 0, head, query)[index].1;
            assert!(
                weight(&sharp) > 0.9,
                "sharp head {head}: {}",
                weight(&sharp)
            );
            assert!(weight(&soft) < 0.5, "soft head {head}: {}", weight(&soft));
            let span = head * head_dim..(head + 1) * head_dim;
            assert!(inits[0].gain[span].iter().all(|&g| g == 3.5));
        }
        // The local heads' gains grow with the shared norm: for unit-variance content their
        // query is what it was (gain over expected RMS unchanged).
        let expected_rms = |init: &BlockAttentionBias| {
            let energy: f32 = init.query.iter().map(|v| v * v).sum();
            ((soft.dim as f32 + energy) / soft.dim as f32).sqrt()
        };
        let before = &attention_biases(&soft, cfg.rope_dims())[0];
        let after = &inits[0];
        for head in 0..2 {
            let dim = head * head_dim;
            let ratio = |init: &BlockAttentionBias| init.gain[dim] / expected_rms(init);
            assert!(
                (ratio(before) - ratio(after)).abs() < 1e-4,
                "local head {head}"
            );
            assert_eq!(
                before.query[dim..dim + head_dim],
                after.query[dim..dim + head_dim]
            );
        }
    }

    #[test]
    fn neighbour_frame_heads_start_on_the_same_place_one_frame_back_and_on() {
        // Frame tokens (one frame's 8x8 cell a token: a 16 x 4 x 4 grid), sharp shift heads
        // with nothing aside, as recipes/frame-neighbours.json has them.
        let recipe = Recipe {
            patch: [1, 8, 8],
            local_heads: 1,
            shift_heads: 2,
            shift_aside: 0,
            shift_energy: 30.0,
            shift_gain: Some(3.5),
            ..Recipe::default()
        };
        let index = |p: [usize; 3]| (p[0] * 4 + p[1]) * 4 + p[2];
        for block in 0..recipe.layers {
            for (head, step) in [(1, -1i64), (2, 1)] {
                assert_eq!(
                    shift_offset(block * recipe.shift_heads + head - 1, 0),
                    [step, 0, 0]
                );
                for query in [[8, 1, 2], [1, 0, 0], [14, 3, 3]] {
                    let target = [(query[0] as i64 + step) as usize, query[1], query[2]];
                    let weights = bias_attention(&recipe, block, head, query);
                    let on_target = weights[index(target)].1;
                    let own = weights[index(query)].1;
                    assert!(
                        on_target > 0.8,
                        "block {block} head {head} query {query:?}: {on_target} on {target:?}"
                    );
                    assert!(
                        own < 0.1,
                        "block {block} head {head}: {own} on its own place"
                    );
                }
            }
        }
    }
}
