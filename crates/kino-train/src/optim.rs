//! AdamW (decoupled weight decay), optionally Muon for chosen weight matrices, and an
//! exponential moving average of the weights, with every piece of state exposed by name so
//! checkpoints restore them exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// AdamW's moment estimates for each variable, in a fixed (name-sorted) order; the variables
/// chosen by [`AdamW::with_muon`] are updated by Muon, whose momentum is their first moment
/// (their second stays zero).
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(String, Var)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// Whether each variable is updated by Muon.
    muon: Vec<bool>,
    /// Steps taken (for bias correction).
    pub steps: usize,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl AdamW {
    /// Zeroed moments for `vars` with the usual betas (0.9, 0.999).
    pub fn new(vars: Vec<(String, Var)>) -> Result<Self> {
        let first = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let second = first.clone();
        let muon = vec![false; vars.len()];
        Ok(Self {
            vars,
            first,
            second,
            muon,
            steps: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    /// Updates the matrices whose name `choose` accepts with Muon from now on.
    pub fn with_muon(mut self, choose: impl Fn(&str) -> bool) -> Self {
        for ((name, var), muon) in self.vars.iter().zip(&mut self.muon) {
            *muon = var.as_tensor().rank() == 2 && choose(name);
        }
        self
    }

    /// One update with learning rate `lr`; weight decay applies to matrices only (not to
    /// norms, biases or tables of one row).
    pub fn step(&mut self, grads: &GradStore, lr: f64, weight_decay: f64) -> Result<()> {
        self.steps += 1;
        let c1 = 1.0 - self.beta1.powi(self.steps as i32);
        let c2 = 1.0 - self.beta2.powi(self.steps as i32);
        // Muon's matrices, updated together below: `(variable index, look-ahead momentum)`.
        let mut muon = Vec::new();
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // candle leaves a variable's own gradient attached to the forward graph when the
            // variable feeds an operation directly (the Wan VAE's convolutions do): the moments
            // would then hold every step's graph, chained through the previous moments.
            let g = g.detach();
            let g = &g;
            if self.muon[i] {
                let momentum = ((&self.first[i] * MUON_MOMENTUM)? + g)?;
                let look_ahead = (g + (&momentum * MUON_MOMENTUM)?)?;
                self.first[i] = momentum;
                muon.push((i, look_ahead));
                continue;
            }
            let m = ((&self.first[i] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((&self.second[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / c1)? / ((&v / c2)?.sqrt()? + self.eps)?)?;
            let w = var.as_tensor();
            let decayed = if w.rank() >= 2 && weight_decay > 0.0 {
                (w * (1.0 - lr * weight_decay))?
            } else {
                w.clone()
            };
            var.set(&(decayed - (update * lr)?)?)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        for (indices, updates) in orthogonalise_all(muon)? {
            for (i, update) in indices.into_iter().zip(updates) {
                let var = &self.vars[i].1;
                let (rows, cols) = update.dims2()?;
                // Scaled to the root mean square of a typical AdamW update, so AdamW's
                // learning rate and weight decay apply as they are (Liu et al. 2025, "Muon is
                // Scalable for LLM Training").
                let scale = 0.2 * (rows.max(cols) as f64).sqrt();
                let decayed = (var.as_tensor() * (1.0 - lr * weight_decay))?;
                var.set(&(decayed - (update * (lr * scale))?)?)?;
            }
        }
        Ok(())
    }

    /// The moments by `m.NAME` / `v.NAME`.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("m.{name}"), self.first[i].clone());
            out.insert(format!("v.{name}"), self.second[i].clone());
        }
        out
    }

    /// Restores the moments saved by [`Self::state`]; a missing one is an error naming it.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, steps: usize) -> Result<()> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.first[i]), ("v", &mut self.second[i])] {
                let key = format!("{prefix}.{name}");
                let t = state.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("checkpoint has no optimiser state {key}"))
                })?;
                *slot = t.clone();
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// Muon's momentum (with Nesterov's look-ahead).
const MUON_MOMENTUM: f64 = 0.95;

/// [`orthogonalise`] of every matrix in `matrices` (`(index, matrix)`), the matrices of one
/// shape (a tall one counts as its transpose) stacked and done together, so a model's dozens of
/// same-sized matrices cost a few batched products; returns, per shape, the indices and the
/// orthogonalised matrices in their own orientation.
fn orthogonalise_all(matrices: Vec<(usize, Tensor)>) -> Result<Vec<(Vec<usize>, Vec<Tensor>)>> {
    /// The matrices of one wide shape: their indices, the matrices (turned wide) and
    /// whether each was turned.
    struct ShapeGroup {
        shape: (usize, usize),
        indices: Vec<usize>,
        wide: Vec<Tensor>,
        turned: Vec<bool>,
    }
    let mut groups: Vec<ShapeGroup> = Vec::new();
    for (i, m) in matrices {
        let (rows, cols) = m.dims2()?;
        let tall = rows > cols;
        let wide = if tall { m.t()?.contiguous()? } else { m };
        let shape = wide.dims2()?;
        let group = match groups.iter().position(|g| g.shape == shape) {
            Some(at) => &mut groups[at],
            None => {
                groups.push(ShapeGroup {
                    shape,
                    indices: Vec::new(),
                    wide: Vec::new(),
                    turned: Vec::new(),
                });
                groups.last_mut().expect("a group was just pushed")
            }
        };
        group.indices.push(i);
        group.wide.push(wide);
        group.turned.push(tall);
    }
    groups
        .into_iter()
        .map(|group| {
            let done = orthogonalise(&Tensor::stack(&group.wide, 0)?)?;
            let out = group
                .turned
                .iter()
                .enumerate()
                .map(|(k, &turned)| {
                    let m = done.get(k)?;
                    if turned { m.t()?.contiguous() } else { Ok(m) }
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((group.indices, out))
        })
        .collect()
}

/// The nearest semi-orthogonal matrix to each wide matrix (rows at most columns) of
/// `g` (`(batch, rows, cols)`), its singular values all brought near 1, by five steps of the
/// quintic Newton-Schulz iteration Muon uses (Jordan et al. 2024): cheap matrix products
/// instead of a singular value decomposition. The coefficients trade exactness for speed:
/// singular values land in about `[0.7, 1.2]`, which is all the update needs.
fn orthogonalise(g: &Tensor) -> Result<Tensor> {
    const COEFFICIENTS: (f64, f64, f64) = (3.4445, -4.7750, 2.0315);
    let (a, b, c) = COEFFICIENTS;
    let norm = (g.sqr()?.sum_keepdim((1, 2))?.sqrt()? + 1e-7)?;
    let mut x = g.broadcast_div(&norm)?;
    for _ in 0..5 {
        let gram = x.matmul(&x.t()?)?;
        let poly = ((&gram * b)? + (gram.matmul(&gram)? * c)?)?;
        x = ((&x * a)? + poly.matmul(&x)?)?;
    }
    Ok(x)
}

/// An exponential moving average of the weights (what gets exported and sampled).
#[derive(Debug)]
pub struct Ema {
    /// `(name, average)` in the optimiser's order.
    pub weights: Vec<(String, Tensor)>,
    decay: f64,
}

impl Ema {
    /// Starts the average at the current weights.
    pub fn new(vars: &[(String, Var)], decay: f64) -> Result<Self> {
        let weights = vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().detach().copy()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { weights, decay })
    }

    /// Moves the average towards `vars`; early steps use a smaller decay
    /// (`min(decay, (1 + n) / (10 + n))`) so the average is not dominated by the initial
    /// weights.
    pub fn update(&mut self, vars: &[(String, Var)], step: usize) -> Result<()> {
        let n = step as f64;
        let decay = self.decay.min((1.0 + n) / (10.0 + n));
        for ((_, avg), (_, var)) in self.weights.iter_mut().zip(vars) {
            *avg = ((&*avg * decay)? + (var.as_tensor().detach() * (1.0 - decay))?)?;
        }
        Ok(())
    }

    /// Replaces the averages with saved ones (`ema.NAME`).
    pub fn restore(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (name, avg) in &mut self.weights {
            let key = format!("ema.{name}");
            *avg = state
                .get(&key)
                .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint has no {key}")))?
                .clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// A `rows x cols` matrix of reproducible values spread evenly in `[-1, 1)`. (Not the
    /// pipeline's seeded Gaussian noise: a square Gaussian matrix of that draw has a singular
    /// value so small that five Newton-Schulz steps, by design, do not lift it into the band.)
    fn pseudo_random(rows: usize, cols: usize, seed: u64) -> Result<Tensor> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let values: Vec<f32> = (0..rows * cols)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        Tensor::from_vec(values, (rows, cols), &Device::Cpu)
    }

    /// The largest and smallest eigenvalues of a symmetric positive semi-definite matrix, by
    /// power iteration (on the matrix, then on `largest I - matrix`).
    fn eigen_extremes(matrix: &[Vec<f32>]) -> (f32, f32) {
        let n = matrix.len();
        let largest_of = |m: &dyn Fn(usize, usize) -> f32| {
            let mut v: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 / n as f32).collect();
            let mut value = 0.0;
            for _ in 0..500 {
                let w: Vec<f32> = (0..n)
                    .map(|i| (0..n).map(|j| m(i, j) * v[j]).sum())
                    .collect();
                value = w.iter().map(|x| x * x).sum::<f32>().sqrt();
                v = w.iter().map(|x| x / value).collect();
            }
            value
        };
        let largest = largest_of(&|i, j| matrix[i][j]);
        let gap = largest_of(&|i, j| f32::from(i == j) * largest - matrix[i][j]);
        (largest, largest - gap)
    }

    /// `x x^T` of an orthogonalised matrix is near the identity: every squared singular value
    /// lands in the iteration's band (`[0.7, 1.2]` squared, with a margin), whatever the
    /// input's scale, shape or row sizes.
    #[test]
    fn orthogonalised_matrices_have_singular_values_near_one() -> Result<()> {
        for (seed, (rows, cols, scale)) in [(8, 24, 1e-3), (24, 8, 50.0), (16, 16, 1.0)]
            .into_iter()
            .enumerate()
        {
            // Rows of sizes 1 to 4 (times `scale`).
            let sizes: Vec<f32> = (0..rows)
                .map(|r| scale * (1.0 + 3.0 * r as f32 / rows as f32))
                .collect();
            let g = pseudo_random(rows, cols, seed as u64)?.broadcast_mul(&Tensor::from_vec(
                sizes,
                (rows, 1),
                &Device::Cpu,
            )?)?;
            let x = orthogonalise_all(vec![(7, g)])?.remove(0).1.remove(0);
            assert_eq!(x.dims2()?, (rows, cols));
            let gram = if rows <= cols {
                x.matmul(&x.t()?)?
            } else {
                x.t()?.matmul(&x)?
            };
            let (largest, smallest) = eigen_extremes(&gram.to_vec2::<f32>()?);
            assert!(
                (0.4..=1.5).contains(&smallest) && (0.4..=1.5).contains(&largest),
                "{rows}x{cols}: squared singular values from {smallest} to {largest}"
            );
        }
        Ok(())
    }

    /// Matrices orthogonalised together (stacked by shape, tall ones turned) come out as
    /// each would alone, in their own orientation and order.
    #[test]
    fn stacked_matrices_are_orthogonalised_as_each_alone() -> Result<()> {
        let shapes = [(6, 10), (10, 6), (6, 10), (4, 4)];
        let matrices: Vec<(usize, Tensor)> = shapes
            .iter()
            .enumerate()
            .map(|(i, &(rows, cols))| Ok((i, pseudo_random(rows, cols, i as u64)?)))
            .collect::<Result<_>>()?;
        let together = orthogonalise_all(matrices.clone())?;
        for (indices, outs) in together {
            for (i, out) in indices.into_iter().zip(outs) {
                let alone = orthogonalise_all(vec![matrices[i].clone()])?
                    .remove(0)
                    .1
                    .remove(0);
                assert_eq!(out.dims2()?, shapes[i]);
                let diff = (out - alone)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5, "matrix {i}: {diff}");
            }
        }
        Ok(())
    }

    /// A Muon step moves a matrix by about AdamW's step size, `lr` times
    /// `0.2 sqrt(max(rows, cols))` over the root of the element count, and leaves the
    /// non-matrix variables to AdamW.
    #[test]
    fn muon_updates_only_the_chosen_matrices_by_adamw_sized_steps() -> Result<()> {
        let device = Device::Cpu;
        let w = Var::from_tensor(&Tensor::zeros((32, 128), DType::F32, &device)?)?;
        let b = Var::from_tensor(&Tensor::zeros(128, DType::F32, &device)?)?;
        let vars = vec![
            ("blocks.w".to_string(), w.clone()),
            ("blocks.b".to_string(), b.clone()),
        ];
        let mut opt = AdamW::new(vars)?.with_muon(|name| name.starts_with("blocks."));
        // The gradient of `w` is the random matrix `r`, of full rank.
        let r = pseudo_random(32, 128, 9)?;
        let loss = ((w.as_tensor() * &r)?.sum_all()? + b.as_tensor().sum_all()?)?;
        opt.step(&loss.backward()?, 1e-2, 0.0)?;
        let rms = |t: &Tensor| -> Result<f32> { t.sqr()?.mean_all()?.sqrt()?.to_scalar::<f32>() };
        // Muon: an update of root mean square 0.2 lr (a semi-orthogonal 32x128 matrix has
        // root mean square 1/sqrt(128), times 0.2 sqrt(128)).
        let moved = rms(w.as_tensor())?;
        assert!((moved - 2e-3).abs() < 0.8e-3, "muon step {moved}");
        // The bias is a vector, left to AdamW, whose first step moves each entry by lr.
        let bias = b.as_tensor().to_vec1::<f32>()?;
        assert!(
            bias.iter().all(|v| (v + 1e-2).abs() < 1e-4),
            "{:?}",
            &bias[..4]
        );
        assert_eq!(
            opt.state()["v.blocks.w"].sum_all()?.to_scalar::<f32>()?,
            0.0
        );
        Ok(())
    }
}
