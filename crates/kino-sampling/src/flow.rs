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

/// A skip path for a network whose output stands for the clean sample: the prediction is
/// `x0 = c_skip(sigma) x_sigma + (1 - c_skip(sigma) alpha) F` with `alpha = 1 - sigma`, where
/// `c_skip = alpha d^2 / (alpha^2 d^2 + sigma^2)` is the least-squares weight for carrying
/// detail of standard deviation `d` (`detail_std`) through noise `sigma` (Karras et al.
/// 2022, "Elucidating the Design Space of Diffusion-Based Generative Models", section 5, with
/// the detail a small network cannot draw in place of the whole image). At pure noise
/// `c_skip = 0` and the network draws the clip alone; towards no noise `c_skip` goes to 1 and
/// the input passes through. When the network's output is the clean clip, so is the
/// prediction, up to the carried noise `c_skip sigma e`; unlike EDM's `c_out`, the network's
/// output keeps the scale of the clip, so a model without a skip path is the case `d = 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkipPreconditioning {
    /// The standard deviation of the detail the skip path carries (0: no skip path).
    pub detail_std: f64,
}

impl SkipPreconditioning {
    /// `(c_skip, c_out)` at flow sigma `sigma` in `[0, 1]`.
    pub fn coefficients(&self, sigma: f64) -> (f64, f64) {
        let (alpha, d2) = (1.0 - sigma, self.detail_std * self.detail_std);
        let total = alpha * alpha * d2 + sigma * sigma;
        if total == 0.0 {
            return (0.0, 1.0);
        }
        let skip = alpha * d2 / total;
        (skip, 1.0 - skip * alpha)
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
        let p = SkipPreconditioning { detail_std: 0.2 };
        assert_eq!(p.coefficients(0.0), (1.0, 0.0));
        assert_eq!(p.coefficients(1.0), (0.0, 1.0));
        assert_eq!(
            SkipPreconditioning { detail_std: 0.0 }.coefficients(0.3),
            (0.0, 1.0)
        );
        // In between, c_skip is the least-squares weight for detail of variance d^2 in noise:
        // E[(d - c (alpha d + s e))^2] = d^2 - 2 c alpha d^2 + c^2 (alpha^2 d^2 + s^2) is least
        // there; and an output equal to the clean value gives the clean value back (c_skip
        // alpha + c_out = 1).
        for sigma in [0.1, 0.5, 0.9] {
            let (skip, out) = p.coefficients(sigma);
            let alpha = 1.0 - sigma;
            let residual = |c: f64| {
                0.04 - 2.0 * c * alpha * 0.04 + c * c * (alpha * alpha * 0.04 + sigma * sigma)
            };
            assert!(residual(skip) < residual(skip + 1e-3));
            assert!(residual(skip) < residual(skip - 1e-3));
            assert!((skip * alpha + out - 1.0).abs() < 1e-12, "sigma {sigma}");
        }
    }
}
