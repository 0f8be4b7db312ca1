//! Flow-matching sampling for Kino: the schedulers that turn a denoiser's velocity predictions
//! into a clean latent, classifier-free guidance, and seeded starting noise.
//!
//! - [`FlowUniPcScheduler`]: UniPC multistep (predictor-corrector), Wan 2.1's sampler
//!   ([`FlowUniPcConfig::wan_2_1`]).
//! - [`FlowEulerScheduler`]: the plain flow Euler step.
//! - [`Scheduler`] / [`FlowScheduler`]: what the pipeline drives; built from a diffusers
//!   `scheduler_config.json` through [`SchedulerConfig`].
//! - [`cfg()`]: classifier-free guidance with a negative prompt, optionally rescaled
//!   ([`rescale_guided`]) or limited to a range of noise levels ([`GuidanceInterval`]);
//!   [`randn`]: seeded noise.
//!
//! The code is split as the field splits it: [`schedule`] (which sigmas and timesteps),
//! [`flow`] (the parameterisation: velocity to x0), and the solvers ([`unipc`], [`euler`]).
//! Each matches diffusers 0.42.1 step for step; tests/fixtures/sampling holds the proof, made by
//! tools/reference/make_sampling_fixtures.py.
//!
//! Not here: the network (a scheduler never sees weights), the denoising loop and progress
//! reporting (kino-pipeline), and training-time noise sampling (kino-train).

pub mod config;
pub mod error;
pub mod euler;
pub mod flow;
pub mod guidance;
pub mod noise;
pub mod schedule;
pub mod scheduler;
pub mod unipc;

pub use config::{
    FinalSigmas, FlowEulerConfig, FlowUniPcConfig, PredictionType, SchedulerConfig, SolverType,
};
pub use error::{Error, Result};
pub use euler::FlowEulerScheduler;
pub use flow::SkipPreconditioning;
pub use guidance::{GuidanceInterval, cfg, guidance_enabled, rescale_guided};
pub use noise::randn;
pub use schedule::Schedule;
pub use scheduler::{FlowScheduler, Scheduler};
pub use unipc::FlowUniPcScheduler;
