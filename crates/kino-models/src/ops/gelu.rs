//! GELU (tanh approximation) in one pass forward and one pass backward, for training: candle's
//! own GELU backward is a dozen full-size tensor operations (`powf`, `tanh`, ...).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, paired_f32, par_map, par_zip_map};

/// `sqrt(2 / pi)`.
const GELU_K: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation.
const GELU_C: f32 = 0.044_715;

/// `e^x` for f32 without a libm call, so loops over it vectorise: `x = k ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its degree-6 Taylor polynomial (relative error below 2e-7),
/// times `2^k` built in the exponent bits. Inputs are clamped to `[-87, 87]`.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 87.0);
    // Round to nearest by the float-addition trick (1.5 * 2^23): plain SSE2, no `floorf` call.
    const ROUND: f32 = 12_582_912.0;
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * std::f32::consts::LN_2;
    let p = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

/// `tanh(z) = 1 - 2 / (e^(2z) + 1)` through [`exp`] (absolute error about 1e-7, which is all
/// GELU's `1 + tanh` needs; libm's `tanhf` was a tenth of a training step).
#[inline(always)]
fn tanh(z: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * z) + 1.0)
}

/// GELU (tanh approximation) of `x`.
#[inline(always)]
fn value(x: f32) -> f32 {
    0.5 * x * (1.0 + tanh(GELU_K * (x + GELU_C * x * x * x)))
}

/// The derivative of [`value`] at `x`:
/// `d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)`, `t = tanh(k (x + c x^3))`.
#[inline(always)]
fn slope(x: f32) -> f32 {
    let x2 = x * x;
    let t = tanh(GELU_K * (x + GELU_C * x2 * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * x2)
}

/// One-pass GELU (tanh) on contiguous f32 CPU tensors, with a one-pass backward.
pub(super) struct GeluTanh;

/// `grad * gelu'(x)` in one pass: the backward of [`GeluTanh`].
struct GeluTanhGrad;

impl CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "gelu-tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let y = par_map(x, value);
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(
            arg.contiguous()?.apply_op2_no_bwd(&grad, &GeluTanhGrad)?,
        ))
    }
}

impl CustomOp2 for GeluTanhGrad {
    fn name(&self) -> &'static str {
        "gelu-tanh-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = paired_f32((x_storage, x_layout), (g_storage, g_layout), self.name())?;
        let dx = par_zip_map(x, g, |x, g| g * slope(x));
        Ok((CpuStorage::F32(dx), x_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threaded maps (AVX2 where the CPU has it) give the same bits as a plain loop.
    #[test]
    fn threaded_wide_maps_give_the_plain_loops_bits() {
        let x: Vec<f32> = (0..70_001).map(|i| (i as f32 * 0.37).sin() * 6.0).collect();
        let g: Vec<f32> = (0..70_001).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain_value: Vec<u32> = x.iter().map(|&x| value(x).to_bits()).collect();
        let plain_grad: Vec<u32> = x
            .iter()
            .zip(&g)
            .map(|(&x, &g)| (g * slope(x)).to_bits())
            .collect();
        let value_bits: Vec<u32> = par_map(&x, value).iter().map(|v| v.to_bits()).collect();
        let grad_bits: Vec<u32> = par_zip_map(&x, &g, |x, g| g * slope(x))
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert!(value_bits == plain_value);
        assert!(grad_bits == plain_grad);
    }
}
