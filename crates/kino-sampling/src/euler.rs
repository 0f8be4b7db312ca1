//! The flow Euler scheduler: one network call per step, x_next = x + (sigma_next - sigma) v.
//!
//! Mirrors diffusers' `FlowMatchEulerDiscreteScheduler` (schedulers/
//! scheduling_flow_match_euler_discrete.py, 0.42.1) with a fixed shift, including its
//! `stochastic_sampling` step (the clean estimate re-noised with fresh noise). Simple and exact
//! for straight flows; what kino-mini trains against.

use candle_core::{DType, Tensor};

use crate::PredictionType;
use crate::config::FlowEulerConfig;
use crate::error::{Error, Result};
use crate::noise::randn;
use crate::schedule::{Schedule, flow_euler_schedule};

/// The flow-matching Euler scheduler.
#[derive(Debug, Clone)]
pub struct FlowEulerScheduler {
    config: FlowEulerConfig,
    schedule: Option<Schedule>,
    step_index: usize,
    noise_seed: u64,
}

impl FlowEulerScheduler {
    /// A scheduler for `config`; call [`Self::set_timesteps`] before stepping.
    pub fn new(config: FlowEulerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            schedule: None,
            step_index: 0,
            noise_seed: 0,
        })
    }

    /// The config this scheduler was built with.
    pub fn config(&self) -> &FlowEulerConfig {
        &self.config
    }

    /// Computes the schedule for `steps` steps and restarts at step 0.
    pub fn set_timesteps(&mut self, steps: usize) -> Result<()> {
        if steps == 0 {
            return Err(Error::ZeroSteps);
        }
        self.schedule = Some(flow_euler_schedule(
            steps,
            self.config.num_train_timesteps,
            self.config.shift,
        ));
        self.step_index = 0;
        Ok(())
    }

    /// The timesteps to give the network, one per step (not integers: sigma * N in float32).
    pub fn timesteps(&self) -> &[f64] {
        self.schedule.as_ref().map_or(&[], |s| &s.timesteps)
    }

    /// The sigmas, one per step plus the final 0.
    pub fn sigmas(&self) -> &[f32] {
        self.schedule.as_ref().map_or(&[], |s| &s.sigmas)
    }

    /// The index of the next step to take.
    pub fn step_index(&self) -> usize {
        self.step_index
    }

    /// Starts the run at step `index` instead of 0 (diffusers' `set_begin_index`), from a
    /// sample already at `sigmas()[index]`. Call after [`Self::set_timesteps`].
    pub fn set_begin_index(&mut self, index: usize) -> Result<()> {
        let schedule = self.schedule.as_ref().ok_or(Error::NoTimesteps)?;
        schedule.check_begin(index)?;
        self.step_index = index;
        Ok(())
    }

    /// Seeds the fresh noise of stochastic sampling: step `i` draws
    /// [`randn`]`(shape, step_noise_seed(seed, i))`, so a run is the same for the same seed.
    /// Deterministic sampling draws nothing.
    pub fn set_noise_seed(&mut self, seed: u64) {
        self.noise_seed = seed;
    }

    /// Takes step `step_index` (which must be the next one): returns
    /// `sample + (sigma_next - sigma) * velocity`, or with `stochastic_sampling`
    /// `(1 - sigma_next) * x0 + sigma_next * noise` for the step's clean estimate `x0`; computed
    /// in float32 and returned in `model_output`'s dtype, as the reference does.
    pub fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        let schedule = self.schedule.as_ref().ok_or(Error::NoTimesteps)?;
        schedule.check_step(step_index, self.step_index)?;
        // The float32 difference of two float32 sigmas, as torch computes `sigma_next - sigma`.
        let dt = schedule.sigmas[step_index + 1] - schedule.sigmas[step_index];
        let out_dtype = model_output.dtype();
        let sigma = f64::from(schedule.sigmas[step_index]);
        let prev = if self.config.stochastic_sampling {
            // The step's clean estimate: the output itself for a "sample" prediction,
            // x0 = x_sigma - sigma v for a velocity.
            let x0 = match self.config.prediction_type {
                PredictionType::FlowPrediction => {
                    (sample.to_dtype(DType::F32)?
                        - model_output.to_dtype(DType::F32)?.affine(sigma, 0.0)?)?
                }
                PredictionType::Sample => model_output.to_dtype(DType::F32)?,
            };
            let next = f64::from(schedule.sigmas[step_index + 1]);
            let noise = randn(
                sample.dims(),
                step_noise_seed(self.noise_seed, step_index),
                sample.device(),
            )?;
            (x0.affine(1.0 - next, 0.0)? + noise.affine(next, 0.0)?)?
        } else {
            let velocity = match self.config.prediction_type {
                PredictionType::FlowPrediction => model_output.to_dtype(DType::F32)?,
                // v = (x_sigma - x0) / sigma; sigma > 0 at every step taken.
                PredictionType::Sample => {
                    ((sample.to_dtype(DType::F32)? - model_output.to_dtype(DType::F32)?)? / sigma)?
                }
            };
            (sample.to_dtype(DType::F32)? + velocity.affine(f64::from(dt), 0.0)?)?
        };
        self.step_index += 1;
        Ok(prev.to_dtype(out_dtype)?)
    }
}

/// The seed of step `step`'s fresh noise in a run seeded `seed`: apart from the starting noise's
/// stream (which uses `seed` itself) and from every other step's.
fn step_noise_seed(seed: u64, step: usize) -> u64 {
    seed ^ 0x5354_4f43_4841_5354_u64.wrapping_mul(step as u64 + 1)
}
