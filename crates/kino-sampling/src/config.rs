//! Scheduler configs, mirroring diffusers' `scheduler/scheduler_config.json` field by field.
//!
//! The file a user downloads is the contract: we read the same keys with the same defaults as
//! diffusers 0.42.1, ignore keys that do not matter for flow matching (the beta schedule, for
//! one), and refuse, naming the key, any value that would make us sample differently from the
//! reference without saying so.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// Which B(h) the UniPC update uses (`solver_type` in the config).
///
/// UniPC paper, section 3.2: B1(h) = h and B2(h) = e^h - 1. diffusers recommends bh1 for
/// unconditional sampling under 10 steps and bh2 otherwise; Wan ships bh2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverType {
    /// B(h) = h.
    Bh1,
    /// B(h) = e^h - 1.
    Bh2,
}

/// What the network predicts (`prediction_type` in the config).
///
/// With flow sigmas, x_sigma = (1 - sigma) x0 + sigma noise. Wan predicts the velocity;
/// kino-mini, a pixel-space model, predicts the clean sample (a velocity is as
/// high-dimensional as the noise, a clean clip is not, and a 4x4x4-pixel patch has more values
/// than the model is wide). diffusers' `epsilon` and `v_prediction` are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PredictionType {
    /// The network predicts v = noise - x0 (`"flow_prediction"`).
    #[default]
    FlowPrediction,
    /// The network predicts x0 itself (`"sample"`; diffusers' UniPC then uses it as its data
    /// prediction unchanged).
    Sample,
}

/// The sigma appended after the last timestep (`final_sigmas_type` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalSigmas {
    /// End at sigma = 0: the last step lands on the clean sample.
    Zero,
    /// End at the smallest sigma of the schedule (the last step then repeats it).
    SigmaMin,
}

/// The flow-matching UniPC multistep scheduler's config: diffusers' `UniPCMultistepScheduler`
/// with `use_flow_sigmas = true` and `prediction_type = "flow_prediction"`.
///
/// Deserialise it from a diffusers `scheduler_config.json` (unknown keys are ignored; keys
/// that are absent take diffusers' defaults), or start from [`FlowUniPcConfig::wan_2_1`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawUniPc")]
pub struct FlowUniPcConfig {
    /// Training timesteps; timesteps given to the network are `sigma * num_train_timesteps`.
    pub num_train_timesteps: usize,
    /// UniPC order p (the corrector makes the effective order p + 1). Wan: 2.
    pub solver_order: usize,
    /// What the network predicts.
    pub prediction_type: PredictionType,
    /// B(h) variant.
    pub solver_type: SolverType,
    /// Use lower orders on the last steps (always first order on the very last one).
    pub lower_order_final: bool,
    /// Step indices after which the corrector is skipped (diffusers: `step_index - 1` in it).
    pub disable_corrector: Vec<usize>,
    /// The shift s in sigma' = s sigma / (1 + (s - 1) sigma). Wan: 3.0 at 480p, 5.0 at 720p.
    pub flow_shift: f64,
    /// What the schedule ends at.
    pub final_sigmas_type: FinalSigmas,
}

impl FlowUniPcConfig {
    /// Wan 2.1 T2V: `scheduler/scheduler_config.json` of
    /// Wan-AI/Wan2.1-T2V-1.3B-Diffusers (written by diffusers 0.33.0.dev0; committed as
    /// tests/fixtures/sampling/wan2.1_t2v_1.3b_scheduler_config.json), read by
    /// diffusers/schedulers/scheduling_unipc_multistep.py.
    pub fn wan_2_1() -> Self {
        Self {
            num_train_timesteps: 1000,
            solver_order: 2,
            prediction_type: PredictionType::FlowPrediction,
            solver_type: SolverType::Bh2,
            lower_order_final: true,
            disable_corrector: Vec::new(),
            flow_shift: 3.0,
            final_sigmas_type: FinalSigmas::Zero,
        }
    }

    /// Parses a diffusers `scheduler_config.json` text.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(json_error)?;
        parse_raw::<RawUniPc>(value)?.try_into()
    }

    /// Checks the values that the types alone cannot.
    pub fn validate(&self) -> Result<()> {
        if self.num_train_timesteps == 0 {
            return Err(invalid("num_train_timesteps", "must be at least 1"));
        }
        if self.solver_order == 0 {
            return Err(invalid("solver_order", "must be at least 1"));
        }
        if !(self.flow_shift.is_finite() && self.flow_shift > 0.0) {
            return Err(invalid(
                "flow_shift",
                format!("must be a positive number, got {}", self.flow_shift),
            ));
        }
        if !self.lower_order_final
            && self.solver_order > 1
            && self.final_sigmas_type == FinalSigmas::Zero
        {
            // The last step would be of order > 1 towards sigma = 0, where the step size h in
            // log-SNR is infinite: diffusers returns inf there. Refuse rather than copy it.
            return Err(invalid(
                "lower_order_final",
                "false with solver_order > 1 and final_sigmas_type \"zero\" makes the last step \
                 infinite (diffusers returns inf); use true, or final_sigmas_type \"sigma_min\"",
            ));
        }
        Ok(())
    }
}

/// The flow Euler scheduler's config: diffusers' `FlowMatchEulerDiscreteScheduler` without
/// dynamic shifting, stochastic sampling or the alternative sigma spacings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawEuler")]
pub struct FlowEulerConfig {
    /// Training timesteps; timesteps given to the network are `sigma * num_train_timesteps`.
    pub num_train_timesteps: usize,
    /// The shift s in sigma' = s sigma / (1 + (s - 1) sigma).
    pub shift: f64,
    /// What the network predicts (diffusers' Euler knows only the velocity; a `"sample"`
    /// prediction is turned into one as v = (x_sigma - x0) / sigma).
    pub prediction_type: PredictionType,
    /// diffusers' `stochastic_sampling`: each step re-noises the step's clean estimate to the
    /// next noise level with fresh noise, `x_next = (1 - s_next) x0 + s_next z`, instead of
    /// following the velocity (the noise comes from [`crate::FlowEulerScheduler::set_noise_seed`]).
    pub stochastic_sampling: bool,
}

impl FlowEulerConfig {
    /// Euler with the same shift, training timesteps and prediction as a UniPC config: how
    /// Wan would use it.
    pub fn like_unipc(unipc: &FlowUniPcConfig) -> Self {
        Self {
            num_train_timesteps: unipc.num_train_timesteps,
            shift: unipc.flow_shift,
            prediction_type: unipc.prediction_type,
            stochastic_sampling: false,
        }
    }

    /// Parses a diffusers `scheduler_config.json` text.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(json_error)?;
        parse_raw::<RawEuler>(value)?.try_into()
    }

    /// Checks the values that the types alone cannot.
    pub fn validate(&self) -> Result<()> {
        if self.num_train_timesteps == 0 {
            return Err(invalid("num_train_timesteps", "must be at least 1"));
        }
        if !(self.shift.is_finite() && self.shift > 0.0) {
            return Err(invalid(
                "shift",
                format!("must be a positive number, got {}", self.shift),
            ));
        }
        Ok(())
    }
}

/// Either scheduler's config, chosen by the file's `_class_name` as diffusers does.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerConfig {
    /// `"_class_name": "UniPCMultistepScheduler"`.
    UniPc(FlowUniPcConfig),
    /// `"_class_name": "FlowMatchEulerDiscreteScheduler"`.
    Euler(FlowEulerConfig),
}

impl SchedulerConfig {
    /// Parses a diffusers `scheduler_config.json` text, dispatching on `_class_name`.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(json_error)?;
        Self::from_value(value)
    }

    /// Reads a diffusers `scheduler_config.json` file, dispatching on `_class_name`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::InvalidConfig { .. } => e,
            other => Error::ConfigFile {
                path: path.to_owned(),
                message: other.to_string(),
            },
        })
    }

    /// Builds from an already parsed JSON object, dispatching on `_class_name`.
    pub fn from_value(value: Value) -> Result<Self> {
        let class = match value.get("_class_name") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(invalid(
                    "_class_name",
                    format!("expected a string, got {other}"),
                ));
            }
            None => {
                return Err(invalid(
                    "_class_name",
                    "missing: cannot tell which scheduler this is",
                ));
            }
        };
        match class.as_str() {
            "UniPCMultistepScheduler" => Ok(Self::UniPc(parse_raw::<RawUniPc>(value)?.try_into()?)),
            "FlowMatchEulerDiscreteScheduler" => {
                Ok(Self::Euler(parse_raw::<RawEuler>(value)?.try_into()?))
            }
            other => Err(invalid(
                "_class_name",
                format!(
                    "unsupported scheduler {other:?} (expected \"UniPCMultistepScheduler\" or \
                     \"FlowMatchEulerDiscreteScheduler\")"
                ),
            )),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Deserialises a raw config; a key of the wrong JSON type is named in the error (serde's own
/// message does not say which key it was, so each key is tried alone to find it).
fn parse_raw<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value::<T>(value.clone()).map_err(|e| {
        let culprit = value.as_object().and_then(|object| {
            object.iter().find(|&(key, v)| {
                let alone = serde_json::Map::from_iter([(key.clone(), v.clone())]);
                serde_json::from_value::<T>(Value::Object(alone)).is_err()
            })
        });
        match culprit {
            Some((key, _)) => invalid(key, e.to_string()),
            None => json_error(e),
        }
    })
}

fn json_error(e: serde_json::Error) -> Error {
    Error::Json(e.to_string())
}

/// Parses a string-valued key into one of `choices`, or names the key and the choices.
fn choose<T: Copy>(field: &str, value: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|&(_, t)| t)
        .ok_or_else(|| {
            let expected: Vec<String> = choices
                .iter()
                .map(|(name, _)| format!("{name:?}"))
                .collect();
            invalid(
                field,
                format!(
                    "unknown value {value:?} (expected one of {})",
                    expected.join(", ")
                ),
            )
        })
}

/// Refuses keys whose non-default value would change the sampling in a way we do not implement:
/// `(key, is set, message)`.
fn refuse_set(flags: &[(&'static str, bool, &str)]) -> Result<()> {
    match flags.iter().find(|(_, set, _)| *set) {
        Some(&(field, _, why)) => Err(invalid(field, why)),
        None => Ok(()),
    }
}

/// `scheduler_config.json` of a UniPCMultistepScheduler as written. Absent keys take
/// diffusers' defaults (`UniPCMultistepScheduler.__init__`, diffusers 0.42.1), applied in
/// `try_from` below.
#[derive(Deserialize)]
struct RawUniPc {
    num_train_timesteps: Option<usize>,
    solver_order: Option<usize>,
    prediction_type: Option<String>,
    #[serde(default)]
    thresholding: bool,
    predict_x0: Option<bool>,
    solver_type: Option<String>,
    lower_order_final: Option<bool>,
    #[serde(default)]
    disable_corrector: Vec<usize>,
    #[serde(default)]
    solver_p: Value,
    #[serde(default)]
    use_karras_sigmas: bool,
    #[serde(default)]
    use_exponential_sigmas: bool,
    #[serde(default)]
    use_beta_sigmas: bool,
    #[serde(default)]
    use_flow_sigmas: bool,
    flow_shift: Option<f64>,
    timestep_spacing: Option<String>,
    final_sigmas_type: Option<String>,
    #[serde(default)]
    use_dynamic_shifting: bool,
    #[serde(default)]
    shift_terminal: Value,
}

impl TryFrom<RawUniPc> for FlowUniPcConfig {
    type Error = Error;

    fn try_from(raw: RawUniPc) -> Result<Self> {
        let Some(prediction_type) = raw.prediction_type.as_deref() else {
            return Err(invalid(
                "prediction_type",
                "missing, which diffusers reads as \"epsilon\" (expected \"flow_prediction\")",
            ));
        };
        let prediction_type = choose(
            "prediction_type",
            prediction_type,
            &[
                ("flow_prediction", PredictionType::FlowPrediction),
                ("sample", PredictionType::Sample),
            ],
        )?;
        // diffusers maps the DPM-Solver names onto bh2 (UniPCMultistepScheduler.__init__).
        let solver_type = choose(
            "solver_type",
            raw.solver_type.as_deref().unwrap_or("bh2"),
            &[
                ("bh1", SolverType::Bh1),
                ("bh2", SolverType::Bh2),
                ("midpoint", SolverType::Bh2),
                ("heun", SolverType::Bh2),
                ("logrho", SolverType::Bh2),
            ],
        )?;
        let final_sigmas_type = choose(
            "final_sigmas_type",
            raw.final_sigmas_type.as_deref().unwrap_or("zero"),
            &[
                ("zero", FinalSigmas::Zero),
                ("sigma_min", FinalSigmas::SigmaMin),
            ],
        )?;
        // With flow sigmas the timesteps come from the sigmas: the spacing is only checked.
        choose(
            "timestep_spacing",
            raw.timestep_spacing.as_deref().unwrap_or("linspace"),
            &[("linspace", ()), ("leading", ()), ("trailing", ())],
        )?;
        refuse_set(&[
            (
                "use_flow_sigmas",
                !raw.use_flow_sigmas,
                "false is not supported: this is the flow-matching UniPC (expected true)",
            ),
            (
                "predict_x0",
                !raw.predict_x0.unwrap_or(true),
                "false is not supported with flow_prediction (diffusers refuses it too)",
            ),
            (
                "thresholding",
                raw.thresholding,
                "true is not supported: dynamic thresholding is not implemented",
            ),
            (
                "use_karras_sigmas",
                raw.use_karras_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
            (
                "use_exponential_sigmas",
                raw.use_exponential_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
            (
                "use_beta_sigmas",
                raw.use_beta_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
            (
                "use_dynamic_shifting",
                raw.use_dynamic_shifting,
                "true is not supported: use a fixed flow_shift",
            ),
            (
                "shift_terminal",
                !raw.shift_terminal.is_null(),
                "must be null: terminal stretching is not implemented",
            ),
            (
                "solver_p",
                !raw.solver_p.is_null(),
                "must be null: an external predictor is not supported",
            ),
        ])?;
        let config = Self {
            num_train_timesteps: raw.num_train_timesteps.unwrap_or(1000),
            solver_order: raw.solver_order.unwrap_or(2),
            prediction_type,
            solver_type,
            lower_order_final: raw.lower_order_final.unwrap_or(true),
            disable_corrector: raw.disable_corrector,
            flow_shift: raw.flow_shift.unwrap_or(1.0),
            final_sigmas_type,
        };
        config.validate()?;
        Ok(config)
    }
}

/// `scheduler_config.json` of a FlowMatchEulerDiscreteScheduler as written. Absent keys take
/// diffusers' defaults (`FlowMatchEulerDiscreteScheduler.__init__`, diffusers 0.42.1).
#[derive(Deserialize)]
struct RawEuler {
    num_train_timesteps: Option<usize>,
    shift: Option<f64>,
    #[serde(default)]
    use_dynamic_shifting: bool,
    #[serde(default)]
    invert_sigmas: bool,
    #[serde(default)]
    shift_terminal: Value,
    #[serde(default)]
    use_karras_sigmas: bool,
    #[serde(default)]
    use_exponential_sigmas: bool,
    #[serde(default)]
    use_beta_sigmas: bool,
    #[serde(default)]
    stochastic_sampling: bool,
}

impl TryFrom<RawEuler> for FlowEulerConfig {
    type Error = Error;

    fn try_from(raw: RawEuler) -> Result<Self> {
        refuse_set(&[
            (
                "use_dynamic_shifting",
                raw.use_dynamic_shifting,
                "true is not supported: use a fixed shift",
            ),
            (
                "invert_sigmas",
                raw.invert_sigmas,
                "true is not supported: inverted sigmas are not implemented",
            ),
            (
                "shift_terminal",
                !raw.shift_terminal.is_null(),
                "must be null: terminal stretching is not implemented",
            ),
            (
                "use_karras_sigmas",
                raw.use_karras_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
            (
                "use_exponential_sigmas",
                raw.use_exponential_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
            (
                "use_beta_sigmas",
                raw.use_beta_sigmas,
                "true is not supported: only the flow sigma schedule is implemented",
            ),
        ])?;
        let config = Self {
            num_train_timesteps: raw.num_train_timesteps.unwrap_or(1000),
            shift: raw.shift.unwrap_or(1.0),
            prediction_type: PredictionType::FlowPrediction,
            stochastic_sampling: raw.stochastic_sampling,
        };
        config.validate()?;
        Ok(config)
    }
}
