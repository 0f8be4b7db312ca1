//! The interface the pipeline drives: any scheduler, chosen by config.

use candle_core::Tensor;

use crate::config::SchedulerConfig;
use crate::error::Result;
use crate::euler::FlowEulerScheduler;
use crate::unipc::FlowUniPcScheduler;

/// A sampler the denoising loop can drive without knowing which one it is:
/// `set_timesteps(n)`, then for each `(i, t)` in `timesteps()`, call the network at `t` and
/// `step(output, i, sample)`.
pub trait Scheduler {
    /// Computes the schedule for `steps` steps and resets any per-run state.
    fn set_timesteps(&mut self, steps: usize) -> Result<()>;
    /// The timesteps to give the network, one per step.
    fn timesteps(&self) -> &[f64];
    /// The sigmas, one per step plus the final one.
    fn sigmas(&self) -> &[f32];
    /// Takes step `step_index` (the next one) from the network's velocity at `sample`.
    fn step(&mut self, model_output: &Tensor, step_index: usize, sample: &Tensor)
    -> Result<Tensor>;
    /// Starts the run at step `index` (after `set_timesteps`), from a sample already at
    /// `sigmas()[index]`, with no history.
    fn set_begin_index(&mut self, index: usize) -> Result<()>;
    /// Seeds the fresh noise a stochastic sampler draws at each step; a deterministic one
    /// ignores it.
    fn set_noise_seed(&mut self, _seed: u64) {}
}

impl Scheduler for FlowUniPcScheduler {
    fn set_timesteps(&mut self, steps: usize) -> Result<()> {
        FlowUniPcScheduler::set_timesteps(self, steps)
    }
    fn timesteps(&self) -> &[f64] {
        FlowUniPcScheduler::timesteps(self)
    }
    fn sigmas(&self) -> &[f32] {
        FlowUniPcScheduler::sigmas(self)
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        FlowUniPcScheduler::step(self, model_output, step_index, sample)
    }
    fn set_begin_index(&mut self, index: usize) -> Result<()> {
        FlowUniPcScheduler::set_begin_index(self, index)
    }
}

impl Scheduler for FlowEulerScheduler {
    fn set_timesteps(&mut self, steps: usize) -> Result<()> {
        FlowEulerScheduler::set_timesteps(self, steps)
    }
    fn timesteps(&self) -> &[f64] {
        FlowEulerScheduler::timesteps(self)
    }
    fn sigmas(&self) -> &[f32] {
        FlowEulerScheduler::sigmas(self)
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        FlowEulerScheduler::step(self, model_output, step_index, sample)
    }
    fn set_begin_index(&mut self, index: usize) -> Result<()> {
        FlowEulerScheduler::set_begin_index(self, index)
    }
    fn set_noise_seed(&mut self, seed: u64) {
        FlowEulerScheduler::set_noise_seed(self, seed)
    }
}

/// One of the schedulers, built from a [`SchedulerConfig`] (for example a model's
/// `scheduler/scheduler_config.json`).
#[derive(Debug, Clone)]
pub enum FlowScheduler {
    /// Flow-matching UniPC multistep.
    UniPc(FlowUniPcScheduler),
    /// Flow-matching Euler.
    Euler(FlowEulerScheduler),
}

impl FlowScheduler {
    /// Builds the scheduler that `config` describes.
    pub fn new(config: SchedulerConfig) -> Result<Self> {
        Ok(match config {
            SchedulerConfig::UniPc(c) => Self::UniPc(FlowUniPcScheduler::new(c)?),
            SchedulerConfig::Euler(c) => Self::Euler(FlowEulerScheduler::new(c)?),
        })
    }

    fn inner(&self) -> &dyn Scheduler {
        match self {
            Self::UniPc(s) => s,
            Self::Euler(s) => s,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Scheduler {
        match self {
            Self::UniPc(s) => s,
            Self::Euler(s) => s,
        }
    }
}

impl Scheduler for FlowScheduler {
    fn set_timesteps(&mut self, steps: usize) -> Result<()> {
        self.inner_mut().set_timesteps(steps)
    }
    fn timesteps(&self) -> &[f64] {
        self.inner().timesteps()
    }
    fn sigmas(&self) -> &[f32] {
        self.inner().sigmas()
    }
    fn step(
        &mut self,
        model_output: &Tensor,
        step_index: usize,
        sample: &Tensor,
    ) -> Result<Tensor> {
        self.inner_mut().step(model_output, step_index, sample)
    }
    fn set_begin_index(&mut self, index: usize) -> Result<()> {
        self.inner_mut().set_begin_index(index)
    }
    fn set_noise_seed(&mut self, seed: u64) {
        self.inner_mut().set_noise_seed(seed)
    }
}
