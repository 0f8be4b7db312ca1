//! AdamW (decoupled weight decay) and an exponential moving average of the weights, with
//! every piece of state exposed by name so checkpoints restore them exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// AdamW's moment estimates for each variable, in a fixed (name-sorted) order.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(String, Var)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
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
        Ok(Self {
            vars,
            first,
            second,
            steps: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    /// One update with learning rate `lr`; weight decay applies to matrices only (not to
    /// norms, biases or tables of one row).
    pub fn step(&mut self, grads: &GradStore, lr: f64, weight_decay: f64) -> Result<()> {
        self.steps += 1;
        let c1 = 1.0 - self.beta1.powi(self.steps as i32);
        let c2 = 1.0 - self.beta2.powi(self.steps as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // candle leaves a variable's own gradient attached to the forward graph when the
            // variable feeds an operation directly (the Wan VAE's convolutions do): the moments
            // would then hold every step's graph, chained through the previous moments.
            let g = g.detach();
            let g = &g;
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
