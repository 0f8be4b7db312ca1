//! kino-mini as a trainable whole: the Wan DiT and the umT5 text encoder of kino-models, built
//! on one `VarMap` (names prefixed `transformer.` and `text_encoder.`, then the reference's
//! tensor names), with seeded initial weights.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::dit::WanTransformer3D;
use kino_models::text::Umt5Encoder;
use kino_models::{Umt5Config, WanTransformerConfig};
use kino_world::Rng;

use crate::recipe::Recipe;

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
        let model = Self { dit, text, varmap };
        model.initialise(recipe)?;
        Ok(model)
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
        let data = self.varmap.data().lock().expect(
            "the VarMap lock is only taken here and in candle, never poisoned by a panic we keep",
        );
        let mut vars: Vec<(String, candle_core::Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Seeded initial weights: norms 1 (the attention query/key norms the recipe's gains),
    /// biases 0, the output projection 0 (the untrained model predicts zero flow), modulation
    /// tables N(0, 1/dim), token embeddings N(0, 1), the relative-position bias 0, and every
    /// other matrix N(0, 1/fan_in).
    fn initialise(&self, recipe: &Recipe) -> Result<()> {
        let mut rng = Rng::new(kino_world::mix64(recipe.seed ^ 0x696e_6974)); // "init"
        let dit_cfg: WanTransformerConfig = typed(recipe.transformer_config(), "transformer")?;
        let local_bias = local_attention_bias(recipe, dit_cfg.rope_dims());
        for (name, var) in self.named_vars() {
            let dims = var.as_tensor().dims().to_vec();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = match initial_value(&name, &dims, recipe, &local_bias) {
                Initial::Constant(value) => vec![value as f32; n],
                Initial::Normal(std) => (0..n).map(|_| (gaussian(&mut rng) * std) as f32).collect(),
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

/// The self-attention query and key bias (the same vector for both) that starts the first
/// `recipe.local_heads` heads of a block as local heads (all zeros with none), for a DiT whose
/// RoPE splits a head into `rope_dims` (frame, row, column; `WanTransformerConfig::rope_dims`).
///
/// Wan's 3D RoPE rotates interleaved pairs of a head's dimensions, frame pairs first, then row
/// and column pairs, each axis at frequencies `1 / 10000^(2k / axis_dims)`. A query and key
/// holding the same bias `b` in pair `p` add `|b_p|^2 cos(w_p d)` to their logit at offset `d`
/// along that pair's axis: a peak at the query's own place, falling off around it. The
/// pattern uses the two highest frequencies of the row and column axes (1 and about 0.16 a
/// token: the first alone would repeat every 6 tokens) and, for the even heads, the highest
/// frame frequency too (the same frame patch; odd heads look at every frame patch alike).
/// The bias carries three times the energy of a head's random part (its projection of
/// unit-variance inputs, about `head_dim`), so the pattern leads at first and the learnt
/// content part takes over as training sharpens it.
pub fn local_attention_bias(recipe: &Recipe, rope_dims: [usize; 3]) -> Vec<f32> {
    let head_dim = recipe.dim / recipe.heads;
    let [frame_dims, row_dims, _] = rope_dims;
    // The first pair of each axis, and the second of the row and column axes.
    let (frame, row, column) = (0, frame_dims / 2, (frame_dims + row_dims) / 2);
    let energy = 3.0 * head_dim as f64;
    let mut bias = vec![0f32; recipe.dim];
    for head in 0..recipe.local_heads.min(recipe.heads) {
        let shares: &[(usize, f64)] = if head % 2 == 0 {
            &[
                (frame, 0.2),
                (row, 0.15),
                (row + 1, 0.25),
                (column, 0.15),
                (column + 1, 0.25),
            ]
        } else {
            &[(row, 0.2), (row + 1, 0.3), (column, 0.2), (column + 1, 0.3)]
        };
        for &(pair, share) in shares {
            // The pair's first (cosine) component; its second stays 0.
            bias[head * head_dim + 2 * pair] = (energy * share).sqrt() as f32;
        }
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
/// `local_bias` is [`local_attention_bias`] for the recipe.
fn initial_value<'a>(
    name: &str,
    dims: &[usize],
    recipe: &Recipe,
    local_bias: &'a [f32],
) -> Initial<'a> {
    let leaf = name.rsplit('.').next().unwrap_or("");
    if name.contains(".attn1.to_q.bias") || name.contains(".attn1.to_k.bias") {
        Initial::Values(local_bias)
    } else if name.ends_with("norm_q.weight") || name.ends_with("norm_k.weight") {
        Initial::Constant(if name.contains(".attn1.") {
            recipe.self_attention_gain
        } else {
            recipe.cross_attention_gain
        })
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

    /// The RoPE logit between the bias rotated to token `i` and to token `j`, per head,
    /// computed with the model's own rotary tables (so a wrong pair layout fails here).
    fn positional_logits(recipe: &Recipe) -> (Vec<[usize; 3]>, Vec<Vec<Vec<f32>>>) {
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
        let bias = local_attention_bias(recipe, cfg.rope_dims());
        let head_dim = recipe.dim / recipe.heads;
        let positions: Vec<[usize; 3]> = (0..grid[0])
            .flat_map(|f| (0..grid[1]).flat_map(move |h| (0..grid[2]).map(move |w| [f, h, w])))
            .collect();
        let rotated = |token: usize, head: usize| -> Vec<f32> {
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
                        let q = rotated(i, head);
                        (0..positions.len())
                            .map(|j| q.iter().zip(rotated(j, head)).map(|(a, b)| a * b).sum())
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
        let (positions, logits) = positional_logits(&recipe);
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
}
