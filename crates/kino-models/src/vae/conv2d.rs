//! `Conv2d`: a per-frame 2D convolution layer on [`crate::ops::conv2d`].

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

/// An `nn.Conv2d` with a bias, one group, dilation 1 (the reference's per-frame convs: the
/// resamplers' 3x3s and the attention block's 1x1s).
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// `(O, I, k, k)`.
    weight: Tensor,
    /// `(O)`.
    bias: Tensor,
    padding: usize,
    stride: usize,
}

impl Conv2d {
    /// Loads `weight` `(out_dim, in_dim, kernel, kernel)` and `bias` `(out_dim)` from `vb`.
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        kernel: usize,
        padding: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim, kernel, kernel), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self {
            weight,
            bias,
            padding,
            stride,
        })
    }
}

impl Module for Conv2d {
    /// `x` `(N, I, H, W)` -> `(N, O, H', W')`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::conv2d(x, &self.weight, &self.bias, self.padding, self.stride)
    }
}
