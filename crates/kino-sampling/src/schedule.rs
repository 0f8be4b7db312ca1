//! Schedules: which noise levels (sigmas) a sampler visits, and which timesteps the network sees.
//!
//! In flow matching x_sigma = (1 - sigma) x0 + sigma noise, so sigma runs from 1 (pure noise) to
//! 0 (clean). Both reference schedulers space sigma linearly and then apply the same "shift"
//! s sigma / (1 + (s - 1) sigma), which spends more steps at high noise for s > 1. They differ
//! in the details below, which we copy because they change the timesteps the network sees.
//!
//! Arithmetic follows the reference: numpy float64 for the schedule, stored as float32 sigmas
//! (diffusers keeps `scheduler.sigmas` as a float32 tensor).

use crate::config::FinalSigmas;
use crate::error::{Error, Result};

/// A sampling schedule: `timesteps[i]` is what the network is given at step i, `sigmas[i]` the
/// noise level of step i's input, and `sigmas[steps]` the level the last step lands on.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// One per step, in the units of the training timesteps (0..num_train_timesteps).
    pub timesteps: Vec<f64>,
    /// One per step plus the final sigma.
    pub sigmas: Vec<f32>,
}

impl Schedule {
    /// The number of steps.
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// Checks that a run may begin at step `index`: it must be inside the schedule.
    pub fn check_begin(&self, index: usize) -> Result<()> {
        let steps = self.len();
        if index >= steps {
            return Err(Error::StepPastEnd { step: index, steps });
        }
        Ok(())
    }

    /// Checks that a sampler whose next step is `expected` may take `step_index`: it must be
    /// that step, and inside the schedule.
    pub fn check_step(&self, step_index: usize, expected: usize) -> Result<()> {
        let steps = self.len();
        if step_index >= steps {
            return Err(Error::StepPastEnd {
                step: step_index,
                steps,
            });
        }
        if step_index != expected {
            return Err(Error::StepOutOfOrder {
                expected,
                got: step_index,
            });
        }
        Ok(())
    }
}

/// The flow-matching timestep shift: sigma' = s sigma / (1 + (s - 1) sigma).
///
/// Keeps 0 and 1 fixed; s > 1 moves every other sigma towards 1 (more time at high noise).
pub fn shift_sigma(sigma: f64, shift: f64) -> f64 {
    shift * sigma / (1.0 + (shift - 1.0) * sigma)
}

/// `numpy.linspace(start, stop, num)` with the same rounding: start + i * ((stop - start) / (num
/// - 1)), and the last element exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut values: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = values.last_mut() {
        *last = stop;
    }
    values
}

/// The schedule of diffusers' `UniPCMultistepScheduler.set_timesteps` with `use_flow_sigmas`
/// (diffusers 0.42.1):
/// - sigmas `linspace(1, 1/N, steps + 1)` without the last, then shifted;
/// - a first sigma of exactly 1 is lowered by 1e-6 (log(1 - sigma) would be -inf);
/// - timesteps are `sigma * N` truncated towards zero to integers (999, not 1000, at the start);
/// - the final sigma is 0, or the last sigma again for `FinalSigmas::SigmaMin`.
pub fn flow_unipc_schedule(
    steps: usize,
    num_train_timesteps: usize,
    shift: f64,
    final_sigmas: FinalSigmas,
) -> Schedule {
    let n = num_train_timesteps as f64;
    let mut sigmas: Vec<f64> = linspace(1.0, 1.0 / n, steps + 1)[..steps]
        .iter()
        .map(|&s| shift_sigma(s, shift))
        .collect();
    if let Some(first) = sigmas.first_mut()
        && (*first - 1.0).abs() < 1e-6
    {
        *first -= 1e-6;
    }
    let timesteps = sigmas.iter().map(|&s| (s * n).trunc()).collect();
    let last = match final_sigmas {
        FinalSigmas::Zero => 0.0,
        FinalSigmas::SigmaMin => sigmas.last().copied().unwrap_or(0.0),
    };
    sigmas.push(last);
    Schedule {
        timesteps,
        sigmas: sigmas.iter().map(|&s| s as f32).collect(),
    }
}

/// The schedule of diffusers' `FlowMatchEulerDiscreteScheduler.set_timesteps` with a fixed
/// shift (diffusers 0.42.1):
/// - its constructor builds the training sigmas `t / N` for t = N..1 in float32 and shifts them
///   in float32; `sigma_max` and `sigma_min` are the first and last of those (already shifted);
/// - `set_timesteps` spaces `linspace(sigma_max N, sigma_min N, steps) / N` in float64 and
///   shifts again, so the smallest sigma is shifted twice (0.0089 for s = 3, not 0.003);
/// - timesteps are the float32 sigmas times N, in float32 (not rounded to integers);
/// - the final sigma is 0.
pub fn flow_euler_schedule(steps: usize, num_train_timesteps: usize, shift: f64) -> Schedule {
    let shift_f32 = |sigma: f32| -> f32 {
        // torch float32 tensor arithmetic with Python-float scalars.
        (shift as f32) * sigma / (1.0 + ((shift - 1.0) as f32) * sigma)
    };
    let n32 = num_train_timesteps as f32;
    // The first training sigma is N / N = 1 exactly, the last 1 / N.
    let sigma_max = f64::from(shift_f32(1.0));
    let sigma_min = f64::from(shift_f32(1.0 / n32));
    let n = num_train_timesteps as f64;
    let mut sigmas: Vec<f32> = linspace(sigma_max * n, sigma_min * n, steps)
        .iter()
        .map(|&t| shift_sigma(t / n, shift) as f32)
        .collect();
    let timesteps = sigmas.iter().map(|&s| f64::from(s * n32)).collect();
    sigmas.push(0.0);
    Schedule { timesteps, sigmas }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy_endpoints() {
        let v = linspace(1.0, 0.001, 51);
        assert_eq!(v.len(), 51);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[50], 0.001);
        assert_eq!(linspace(3.0, 7.0, 1), vec![3.0]);
    }

    #[test]
    fn shift_keeps_ends_and_raises_the_middle() {
        assert_eq!(shift_sigma(0.0, 3.0), 0.0);
        assert_eq!(shift_sigma(1.0, 3.0), 1.0);
        assert_eq!(shift_sigma(0.5, 3.0), 0.75);
        assert_eq!(shift_sigma(0.3, 1.0), 0.3);
    }

    #[test]
    fn unipc_schedule_starts_below_one_and_ends_at_zero() {
        let s = flow_unipc_schedule(50, 1000, 3.0, FinalSigmas::Zero);
        assert_eq!(s.len(), 50);
        assert_eq!(s.sigmas.len(), 51);
        assert_eq!(s.timesteps[0], 999.0);
        assert_eq!(s.sigmas[0], (1.0f64 - 1e-6) as f32);
        assert_eq!(s.sigmas[50], 0.0);
        assert!(s.sigmas.windows(2).all(|w| w[0] > w[1]));
    }
}
