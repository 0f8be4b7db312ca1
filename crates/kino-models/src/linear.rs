//! `Linear`: a dense layer that multiplies every leading position at once.
//!
//! candle_nn's `Linear` multiplies a `(B, N, in)` input by the weight broadcast to `B` copies:
//! `B` small products forward, and backward `B` weight gradients summed by a strided
//! reduction that was a tenth of a kino-mini training step. This one folds the leading axes
//! into the rows of one matrix product, forward and backward, and adds the bias through
//! [`crate::ops::add_bias`]. The sums are the same.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// `y = x W^T + b` over the last axis of `x`, as `torch.nn.Linear`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `(out, in)`.
    weight: Tensor,
    /// `(out)`.
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from its weight `(out, in)` and optional bias `(out)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }
}

impl Module for Linear {
    /// `x` `(..., in)` -> `(..., out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (out, inputs) = self.weight.dims2()?;
        let mut dims = x.dims().to_vec();
        let Some(last) = dims.last_mut() else {
            candle_core::bail!("Linear: a scalar input");
        };
        if *last != inputs {
            candle_core::bail!("Linear: input of {last} features for a weight of {inputs}");
        }
        *last = out;
        let rows = x.elem_count() / inputs.max(1);
        let y = x.reshape((rows, inputs))?.matmul(&self.weight.t()?)?;
        let y = match &self.bias {
            Some(bias) => crate::ops::add_bias(&y, bias)?,
            None => y,
        };
        y.reshape(dims)
    }
}

/// Loads `weight` `(out_dim, in_dim)` and `bias` `(out_dim)` from `vb`.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = vb.get(out_dim, "bias")?;
    Ok(Linear::new(weight, Some(bias)))
}

/// Loads `weight` `(out_dim, in_dim)` from `vb`: a layer without bias.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(Linear::new(vb.get((out_dim, in_dim), "weight")?, None))
}
