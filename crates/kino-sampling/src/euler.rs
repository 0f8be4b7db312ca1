//! The flow Euler scheduler: one network call per step, x_next = x + (sigma_next - sigma) v.
//!
//! Mirrors diffusers' `FlowMatchEulerDiscreteScheduler` (schedulers/
//! scheduling_flow_match_euler_discrete.py, 0.42.1) with a fixed shift and no stochastic
//! sampling. Simple and exact for straight flows; what kino-mini trains against.

use candle_core::{DType, Tensor};

use crate::PredictionType;
use crate::config::FlowEulerConfig;
use crate::error::{Error, Result};
use crate::schedule::{Schedule, flow_euler_schedule};

/// The flow-matching Euler scheduler.
#[derive(Debug, Clone)]
pub struct FlowEulerScheduler {
    config: FlowEulerConfig,
    schedule: Option<Schedule>,
    step_index: usize,
}

impl FlowEulerScheduler {
    /// A scheduler for `config`; call [`Self::set_timesteps`] before stepping.
    pub fn new(config: FlowEulerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            schedule: None,
            step_index: 0,
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

    /// Takes step `step_index` (which must be the next one): returns
    /// `sample + (sigma_next - sigma) * model_output`, computed in float32 and returned in
    /// `model_output`'s dtype, as the reference does.
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
        let velocity = match self.config.prediction_type {
            PredictionType::FlowPrediction => model_output.to_dtype(DType::F32)?,
            // v = (x_sigma - x0) / sigma; sigma > 0 at every step taken.
            PredictionType::Sample => {
                let sigma = f64::from(schedule.sigmas[step_index]);
                ((sample.to_dtype(DType::F32)? - model_output.to_dtype(DType::F32)?)? / sigma)?
            }
        };
        let prev = (sample.to_dtype(DType::F32)? + velocity.affine(f64::from(dt), 0.0)?)?;
        self.step_index += 1;
        Ok(prev.to_dtype(out_dtype)?)
    }
}
