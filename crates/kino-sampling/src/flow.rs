//! The flow-matching parameterisation: what the network's output means.
//!
//! A flow model sees x_sigma = (1 - sigma) x0 + sigma noise and predicts the velocity
//! v = noise - x0 (diffusers' `prediction_type = "flow_prediction"`). In the notation of the
//! diffusion-ODE solvers (DPM-Solver, UniPC) that is x_t = alpha_t x0 + sigma_t noise with
//! alpha_t = 1 - sigma and sigma_t = sigma, and half log-SNR lambda = ln alpha_t - ln sigma_t.

use candle_core::{DType, Tensor};

use crate::error::Result;

/// (alpha_t, sigma_t) for a flow sigma: the weights of x0 and noise in x_sigma.
pub fn alpha_sigma(sigma: f64) -> (f64, f64) {
    (1.0 - sigma, sigma)
}

/// Half log-SNR lambda = ln alpha_t - ln sigma_t; +inf at sigma = 0, -inf at sigma = 1.
pub fn lambda(sigma: f64) -> f64 {
    let (alpha_t, sigma_t) = alpha_sigma(sigma);
    alpha_t.ln() - sigma_t.ln()
}

/// The data prediction x0 = x_sigma - sigma v from a velocity prediction, in float32.
///
/// diffusers: `UniPCMultistepScheduler.convert_model_output`, flow_prediction branch.
pub fn x0_from_velocity(sample: &Tensor, velocity: &Tensor, sigma: f32) -> Result<Tensor> {
    let sample = sample.to_dtype(DType::F32)?;
    let velocity = velocity.to_dtype(DType::F32)?;
    Ok((sample - velocity.affine(f64::from(sigma), 0.0)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_is_zero_at_half_and_infinite_at_the_ends() {
        assert_eq!(lambda(0.5), 0.0);
        assert_eq!(lambda(0.0), f64::INFINITY);
        assert_eq!(lambda(1.0), f64::NEG_INFINITY);
        assert!(lambda(0.2) > lambda(0.8));
    }
}
