//! The UniPC multistep solver (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector
//! Framework for Fast Sampling of Diffusion Models"), in its flow-matching form.
//!
//! Each step takes the network's output at the current sample and
//! 1. turns it into a data prediction x0 (the parameterisation, [`crate::flow`]);
//! 2. corrects the current sample with it (UniC), using the previous step's predictor inputs;
//! 3. predicts the next sample (UniP) from the last `solver_order` x0 predictions.
//!
//! Mirrors diffusers' `UniPCMultistepScheduler` (schedulers/scheduling_unipc_multistep.py,
//! 0.42.1) with `predict_x0 = true`: `step`, `multistep_uni_p_bh_update` and
//! `multistep_uni_c_bh_update`. Coefficients are computed in float64 from the float32 sigmas
//! (diffusers computes them in float32); tensors are float32.
//!
//! One deliberate difference: with bh1 and a final sigma of 0, diffusers' last step computes
//! B(h) * 0 with B(h) = -inf for a correction term that first order does not have, and returns
//! NaN; we leave the absent term out and return the x0 prediction, as bh2 does. (The other
//! non-finite case, `lower_order_final = false` towards sigma 0, is refused by the config.)

use std::collections::VecDeque;

use candle_core::{DType, Tensor};

use crate::PredictionType;
use crate::config::{FlowUniPcConfig, SolverType};
use crate::error::{Error, Result};
use crate::flow::{alpha_sigma, lambda, x0_from_velocity};
use crate::schedule::{Schedule, flow_unipc_schedule};

/// The flow-matching UniPC multistep scheduler: Wan 2.1's sampler.
///
/// ```no_run
/// # use kino_sampling::{FlowUniPcConfig, FlowUniPcScheduler};
/// # fn model(x: &candle_core::Tensor, t: f64) -> candle_core::Tensor { x.clone() }
/// # fn run(mut latents: candle_core::Tensor) -> kino_sampling::Result<()> {
/// let mut scheduler = FlowUniPcScheduler::new(FlowUniPcConfig::wan_2_1())?;
/// scheduler.set_timesteps(50)?;
/// for (i, &t) in scheduler.timesteps().to_vec().iter().enumerate() {
///     let velocity = model(&latents, t);
///     latents = scheduler.step(&velocity, i, &latents)?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FlowUniPcScheduler {
    config: FlowUniPcConfig,
    schedule: Option<Schedule>,
    /// x0 predictions of the last `solver_order` steps, oldest first.
    history: VecDeque<Tensor>,
    /// The (corrected) input of the previous step: the corrector's starting point.
    last_sample: Option<Tensor>,
    /// The order the previous step's predictor used; the corrector uses it too.
    this_order: usize,
    /// Steps taken so far, capped at `solver_order`: the warm-up of the multistep method.
    lower_order_nums: usize,
    step_index: usize,
}

impl FlowUniPcScheduler {
    /// A scheduler for `config`; call [`Self::set_timesteps`] before stepping.
    pub fn new(config: FlowUniPcConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            schedule: None,
            history: VecDeque::new(),
            last_sample: None,
            this_order: 0,
            lower_order_nums: 0,
            step_index: 0,
        })
    }

    /// The config this scheduler was built with.
    pub fn config(&self) -> &FlowUniPcConfig {
        &self.config
    }

    /// Computes the schedule for `steps` steps and forgets any previous run's history.
    pub fn set_timesteps(&mut self, steps: usize) -> Result<()> {
        if steps == 0 {
            return Err(Error::ZeroSteps);
        }
        let c = &self.config;
        self.schedule = Some(flow_unipc_schedule(
            steps,
            c.num_train_timesteps,
            c.flow_shift,
            c.final_sigmas_type,
        ));
        self.history.clear();
        self.last_sample = None;
        self.this_order = 0;
        self.lower_order_nums = 0;
        self.step_index = 0;
        Ok(())
    }

    /// The timesteps to give the network, one per step (integers: diffusers truncates them).
    pub fn timesteps(&self) -> &[f64] {
        self.schedule.as_ref().map_or(&[], |s| &s.timesteps)
    }

    /// The sigmas, one per step plus the final one.
    pub fn sigmas(&self) -> &[f32] {
        self.schedule.as_ref().map_or(&[], |s| &s.sigmas)
    }

    /// The index of the next step to take.
    pub fn step_index(&self) -> usize {
        self.step_index
    }

    /// Starts the run at step `index` instead of 0, with no history (diffusers'
    /// `set_begin_index`): video-to-video denoises only the last steps of the schedule, from
    /// a sample already at `sigmas()[index]`. Call after [`Self::set_timesteps`].
    pub fn set_begin_index(&mut self, index: usize) -> Result<()> {
        let schedule = self.schedule.as_ref().ok_or(Error::NoTimesteps)?;
        schedule.check_begin(index)?;
        self.history.clear();
        self.last_sample = None;
        self.this_order = 0;
        self.lower_order_nums = 0;
        self.step_index = index;
        Ok(())
    }

    /// Takes step `step_index` (which must be the next one): from the network's velocity
    /// prediction `model_output` at `sample`, returns the sample at the next sigma, in
    /// `sample`'s dtype.
    pub fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        let schedule = self.schedule.as_ref().ok_or(Error::NoTimesteps)?;
        schedule.check_step(step_index, self.step_index)?;
        let steps = schedule.len();
        let sigmas: Vec<f64> = schedule.sigmas.iter().map(|&s| f64::from(s)).collect();
        let out_dtype = sample.dtype();
        let i = step_index;

        let x0 = match self.config.prediction_type {
            PredictionType::FlowPrediction => {
                x0_from_velocity(sample, model_output, schedule.sigmas[i])?
            }
            PredictionType::Sample => model_output.to_dtype(DType::F32)?,
        };
        let mut sample = sample.to_dtype(DType::F32)?;

        let use_corrector = i > 0 && !self.config.disable_corrector.contains(&(i - 1));
        if let (true, Some(last_sample)) = (use_corrector, &self.last_sample) {
            sample = self.corrector(&x0, last_sample, &sigmas, i)?;
        }

        self.history.push_back(x0);
        while self.history.len() > self.config.solver_order {
            self.history.pop_front();
        }

        let order = if self.config.lower_order_final {
            self.config.solver_order.min(steps - i)
        } else {
            self.config.solver_order
        };
        self.this_order = order.min(self.lower_order_nums + 1);

        let prev_sample = self.predictor(&sample, &sigmas, i)?;
        self.last_sample = Some(sample);
        self.lower_order_nums = (self.lower_order_nums + 1).min(self.config.solver_order);
        self.step_index += 1;
        Ok(prev_sample.to_dtype(out_dtype)?)
    }

    /// UniP-p: x at sigmas[i + 1] from x at sigmas[i] and the last p x0 predictions.
    /// (diffusers: `multistep_uni_p_bh_update`.)
    fn predictor(&self, x: &Tensor, sigmas: &[f64], i: usize) -> Result<Tensor> {
        let order = self.this_order;
        let m0 = self.newest(0);
        let lambda_s0 = lambda(sigmas[i]);
        let h = lambda(sigmas[i + 1]) - lambda_s0;
        // Older predictions m_k at sigmas[i - k], as ratios r_k of the step in lambda.
        let older: Vec<(f64, &Tensor)> = (1..order)
            .map(|k| ((lambda(sigmas[i - k]) - lambda_s0) / h, self.newest(k)))
            .collect();
        let c = Coefficients::new(-h, order, self.config.solver_type);
        let rhos = match order {
            1 => Vec::new(),
            // diffusers uses 1/2 for order 2 rather than solving the 1x1 system.
            2 => vec![0.5],
            _ => {
                let rks: Vec<f64> = older.iter().map(|&(r, _)| r).collect();
                solve(vandermonde(&rks, order - 1), c.b[..order - 1].to_vec())
            }
        };
        let update = self.update_base(x, m0, sigmas[i], sigmas[i + 1], &c)?;
        if older.is_empty() {
            return Ok(update);
        }
        let residual = weighted_differences(&rhos, &older, m0)?;
        let (alpha_t, _) = alpha_sigma(sigmas[i + 1]);
        Ok((update - residual.affine(alpha_t * c.b_h, 0.0)?)?)
    }

    /// UniC-p: corrects x at sigmas[i] (the previous predictor's output) using the new x0
    /// prediction there. (diffusers: `multistep_uni_c_bh_update`.)
    fn corrector(
        &self,
        x0_t: &Tensor,
        last_sample: &Tensor,
        sigmas: &[f64],
        i: usize,
    ) -> Result<Tensor> {
        let order = self.this_order;
        let m0 = self.newest(0);
        let lambda_s0 = lambda(sigmas[i - 1]);
        let h = lambda(sigmas[i]) - lambda_s0;
        // Older predictions m_k at sigmas[i - 1 - k].
        let older: Vec<(f64, &Tensor)> = (1..order)
            .map(|k| ((lambda(sigmas[i - 1 - k]) - lambda_s0) / h, self.newest(k)))
            .collect();
        let c = Coefficients::new(-h, order, self.config.solver_type);
        let rhos = if order == 1 {
            // diffusers uses 1/2 for order 1 rather than solving the 1x1 system.
            vec![0.5]
        } else {
            let mut rks: Vec<f64> = older.iter().map(|&(r, _)| r).collect();
            rks.push(1.0);
            solve(vandermonde(&rks, order), c.b.clone())
        };
        let update = self.update_base(last_sample, m0, sigmas[i - 1], sigmas[i], &c)?;
        let (rho_t, rhos_older) = rhos.split_last().expect("rhos has `order` >= 1 entries");
        let mut residual = (x0_t - m0)?.affine(*rho_t, 0.0)?;
        if !older.is_empty() {
            residual = (weighted_differences(rhos_older, &older, m0)? + residual)?;
        }
        let (alpha_t, _) = alpha_sigma(sigmas[i]);
        Ok((update - residual.affine(alpha_t * c.b_h, 0.0)?)?)
    }

    /// The first-order (DPM-Solver++(1) / DDIM) part of both updates, from sigma_s to sigma_t:
    /// (sigma_t / sigma_s) x - alpha_t (e^-h - 1) m0.
    fn update_base(
        &self,
        x: &Tensor,
        m0: &Tensor,
        sigma_s: f64,
        sigma_t: f64,
        c: &Coefficients,
    ) -> Result<Tensor> {
        let (alpha_t, _) = alpha_sigma(sigma_t);
        Ok((x.affine(sigma_t / sigma_s, 0.0)? - m0.affine(alpha_t * c.h_phi_1, 0.0)?)?)
    }

    /// The k-th newest x0 prediction (0 = this step's).
    fn newest(&self, k: usize) -> &Tensor {
        &self.history[self.history.len() - 1 - k]
    }
}

/// The scalar coefficients of a UniPC update for a step hh = -h in lambda (data prediction).
struct Coefficients {
    /// h phi_1(hh) = e^hh - 1.
    h_phi_1: f64,
    /// B(h): hh for bh1, e^hh - 1 for bh2.
    b_h: f64,
    /// b_k = k! h phi_{k+1}(hh) / B(h), k = 1..=order: the right-hand side for the rhos.
    b: Vec<f64>,
}

impl Coefficients {
    fn new(hh: f64, order: usize, solver_type: SolverType) -> Self {
        let h_phi_1 = hh.exp_m1();
        let b_h = match solver_type {
            SolverType::Bh1 => hh,
            SolverType::Bh2 => hh.exp_m1(),
        };
        // phi_{k+1} by the recurrence phi_{k+1}(h) = (phi_k(h) - 1/k!) / h.
        let mut h_phi_k = h_phi_1 / hh - 1.0;
        let mut factorial = 1.0;
        let mut b = Vec::with_capacity(order);
        for k in 1..=order {
            b.push(h_phi_k * factorial / b_h);
            factorial *= (k + 1) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }
        Self { h_phi_1, b_h, b }
    }
}

/// sum_k rho_k (m_k - m0) / r_k: the higher-order residual (diffusers' einsum over `D1s`).
fn weighted_differences(rhos: &[f64], older: &[(f64, &Tensor)], m0: &Tensor) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (&rho, &(r, m)) in rhos.iter().zip(older) {
        let d1 = ((m - m0)? / r)?;
        let term = d1.affine(rho, 0.0)?;
        total = Some(match total {
            None => term,
            Some(t) => (t + term)?,
        });
    }
    Ok(total.expect("called with at least one older prediction"))
}

/// The n x n matrix R[row][col] = rks[col]^row.
fn vandermonde(rks: &[f64], n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|row| rks[..n].iter().map(|r| r.powi(row as i32)).collect())
        .collect()
}

/// Solves a x = b by Gaussian elimination with partial pivoting (n is the solver order: tiny).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .expect("col < n");
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_recovers_a_known_solution() {
        let a = vec![
            vec![1.0, 1.0, 1.0],
            vec![0.5, -2.0, 1.0],
            vec![0.25, 4.0, 1.0],
        ];
        let x = [0.3, -0.7, 2.0];
        let b: Vec<f64> = a
            .iter()
            .map(|row| row.iter().zip(&x).map(|(p, q)| p * q).sum())
            .collect();
        let got = solve(a, b);
        for (g, w) in got.iter().zip(&x) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn coefficients_at_the_final_zero_sigma_are_finite() {
        // h = +inf when stepping to sigma 0: bh2 gives e^-inf - 1 = -1, the x0 prediction.
        let c = Coefficients::new(f64::NEG_INFINITY, 1, SolverType::Bh2);
        assert_eq!(c.h_phi_1, -1.0);
        assert_eq!(c.b_h, -1.0);
    }
}
