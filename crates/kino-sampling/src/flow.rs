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

/// A skip path for a network whose output stands for the clean sample (Karras et al. 2022,
/// "Elucidating the Design Space of Diffusion-Based Generative Models", section 5, with the
/// flow's `x_sigma = (1 - sigma) x0 + sigma noise`): the prediction is
/// `x0 = c_skip(sigma) x_sigma + c_out(sigma) F`, where `c_skip x_sigma` is the best linear
/// guess of `x0` from `x_sigma` for data of standard deviation `sigma_data` and `c_out` the
/// standard deviation of what that guess leaves. At low noise the input passes through and the
/// network only corrects it; at pure noise (`c_skip = 0`) it draws the clip alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipPreconditioning {
    /// The data's standard deviation (EDM's `sigma_data`, 0.5 for images in `[-1, 1]`).
    pub sigma_data: f64,
}

impl SkipPreconditioning {
    /// `(c_skip, c_out)` at flow sigma `sigma` in `[0, 1]`.
    pub fn coefficients(&self, sigma: f64) -> (f64, f64) {
        let (alpha, sd2) = (1.0 - sigma, self.sigma_data * self.sigma_data);
        let total = alpha * alpha * sd2 + sigma * sigma;
        (alpha * sd2 / total, self.sigma_data * sigma / total.sqrt())
    }

    /// The clean-sample prediction `c_skip x_sigma + c_out output`, in float32.
    pub fn x0(&self, sample: &Tensor, output: &Tensor, sigma: f64) -> Result<Tensor> {
        let (skip, out) = self.coefficients(sigma);
        let sample = sample.to_dtype(DType::F32)?;
        let output = output.to_dtype(DType::F32)?;
        Ok((sample.affine(skip, 0.0)? + output.affine(out, 0.0)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skip_passes_a_clean_input_through_and_leaves_pure_noise_to_the_network() {
        let p = SkipPreconditioning { sigma_data: 0.5 };
        assert_eq!(p.coefficients(0.0), (1.0, 0.0));
        let (skip, out) = p.coefficients(1.0);
        assert_eq!((skip, out), (0.0, 0.5));
        // In between, the skip is the linear least-squares guess: E[(x0 - c x)^2] is least at
        // c_skip, and what it leaves has standard deviation c_out (checked by its formula
        // E[(x0 - c x)^2] = sd^2 - 2 c alpha sd^2 + c^2 (alpha^2 sd^2 + s^2)).
        for sigma in [0.1, 0.5, 0.9] {
            let (skip, out) = p.coefficients(sigma);
            let alpha = 1.0 - sigma;
            let residual = |c: f64| {
                0.25 - 2.0 * c * alpha * 0.25 + c * c * (alpha * alpha * 0.25 + sigma * sigma)
            };
            assert!(
                residual(skip) < residual(skip + 1e-3) && residual(skip) < residual(skip - 1e-3)
            );
            assert!((residual(skip) - out * out).abs() < 1e-12, "sigma {sigma}");
        }
    }

    #[test]
    fn lambda_is_zero_at_half_and_infinite_at_the_ends() {
        assert_eq!(lambda(0.5), 0.0);
        assert_eq!(lambda(0.0), f64::INFINITY);
        assert_eq!(lambda(1.0), f64::NEG_INFINITY);
        assert!(lambda(0.2) > lambda(0.8));
    }
}
