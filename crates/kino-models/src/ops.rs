//! Fused operations that also train: each uses candle's fused kernel when no gradient is being
//! tracked through its input (inference), and the same math from differentiable primitives when
//! one is (training kino-mini), because candle 0.11's fused softmax, RMSNorm and RoPE kernels
//! have no backward pass. Both paths compute the same function; the tests compare them.
//! [`gelu_tanh`] goes the other way: candle's GELU trains, but its backward is a dozen
//! full-size tensor operations (`powf`, `tanh`, ...), so training uses a one-pass kernel.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, DType, Layout, Result, Shape, Tensor};

/// Softmax over the last axis.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !x.track_op() {
        return candle_nn::ops::softmax_last_dim(x);
    }
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// RMSNorm over the last axis: `x / sqrt(mean(x^2) + eps) * weight`, accumulated in f32.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    if !x.track_op() && !weight.track_op() {
        return candle_nn::ops::rms_norm(x, weight, eps);
    }
    let dtype = x.dtype();
    let x32 = x.to_dtype(DType::F32)?;
    let rms = (x32.sqr()?.mean_keepdim(D::Minus1)? + f64::from(eps))?.sqrt()?;
    x32.broadcast_div(&rms)?
        .to_dtype(dtype)?
        .broadcast_mul(weight)
}

/// Rotates interleaved channel pairs of `x` `(B, H, N, d)` by the tables' angles `(N, d/2)`:
/// `(x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)` (candle's `rope_i`).
pub fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    if !x.track_op() {
        return candle_nn::rotary_emb::rope_i(&x, cos, sin);
    }
    let (b, h, n, d) = x.dims4()?;
    // (B, H, N, d) -> (B, H, N, d/2, 2)
    let pairs = x.reshape((b, h, n, d / 2, 2))?;
    let x0 = pairs.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
    let x1 = pairs.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
    let (cos, sin) = (
        cos.reshape((1, 1, n, d / 2))?,
        sin.reshape((1, 1, n, d / 2))?,
    );
    let y0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
    let y1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
    Tensor::stack(&[y0, y1], D::Minus1)?.reshape((b, h, n, d))
}

/// GELU, tanh approximation (candle's `gelu`, diffusers' `gelu-approximate`). While a gradient
/// is tracked through f32 input it runs as one pass forward and one pass backward.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    if !x.track_op() || x.dtype() != DType::F32 || !x.device().is_cpu() {
        return x.gelu();
    }
    x.contiguous()?.apply_op1(GeluTanh)
}

/// `sqrt(2 / pi)`.
const GELU_K: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation.
const GELU_C: f32 = 0.044_715;

/// One-pass GELU (tanh) on contiguous f32 CPU tensors, with a one-pass backward.
struct GeluTanh;

/// `grad * gelu'(x)` in one pass: the backward of [`GeluTanh`].
struct GeluTanhGrad;

/// The f32 slice of a contiguous CPU storage.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op}: f32 only");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: contiguous input only");
    };
    Ok(&values[start..end])
}

/// Maps `input` into a new vector with `f`, in chunks across candle's CPU threads.
fn par_map(input: &[f32], f: impl Fn(usize, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; input.len()];
    let threads = candle_core::utils::get_num_threads().max(1);
    let chunk = input.len().div_ceil(threads).max(1 << 14);
    std::thread::scope(|scope| {
        for (i, (src, dst)) in input.chunks(chunk).zip(out.chunks_mut(chunk)).enumerate() {
            let f = &f;
            scope.spawn(move || {
                for (j, (&x, y)) in src.iter().zip(dst.iter_mut()).enumerate() {
                    *y = f(i * chunk + j, x);
                }
            });
        }
    });
    out
}

impl CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "gelu-tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let y = par_map(x, |_, x| {
            0.5 * x * (1.0 + (GELU_K * (x + GELU_C * x * x * x)).tanh())
        });
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
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let g = contiguous_f32(g_storage, g_layout, self.name())?;
        if x.len() != g.len() {
            candle_core::bail!("{}: {} values against {}", self.name(), x.len(), g.len());
        }
        // d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2),
        // t = tanh(k (x + c x^3))
        let dx = par_map(x, |i, x| {
            let x2 = x * x;
            let t = (GELU_K * (x + GELU_C * x2 * x)).tanh();
            let slope =
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * x2);
            g[i] * slope
        });
        Ok((CpuStorage::F32(dx), x_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn differentiable_paths_match_fused_kernels_and_have_gradients() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (2, 3, 5, 8), &dev).unwrap();
        let var = Var::from_tensor(&x).unwrap();
        let w = Tensor::randn(1f32, 0.1, 8, &dev).unwrap();
        let angles = Tensor::randn(0f32, 1.0, (5, 4), &dev).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());

        let pairs = [
            (
                softmax_last_dim(&x).unwrap(),
                softmax_last_dim(var.as_tensor()).unwrap(),
            ),
            (
                rms_norm(&x, &w, 1e-6).unwrap(),
                rms_norm(var.as_tensor(), &w, 1e-6).unwrap(),
            ),
            (
                rope_interleaved(&x, &cos, &sin).unwrap(),
                rope_interleaved(var.as_tensor(), &cos, &sin).unwrap(),
            ),
        ];
        for (fused, traced) in &pairs {
            assert!(traced.track_op());
            assert!(max_diff(fused, traced) < 1e-5);
            let grads = traced.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let g = grads.get(var.as_tensor()).unwrap();
            assert!(
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            );
        }
    }

    #[test]
    fn one_pass_gelu_matches_candles_value_and_gradient() {
        let dev = Device::Cpu;
        // Large enough to split across threads.
        let x = Tensor::randn(0f32, 3.0, (5, 7000), &dev).unwrap();
        let ours = Var::from_tensor(&x).unwrap();
        let theirs = Var::from_tensor(&x).unwrap();
        let y_ours = gelu_tanh(ours.as_tensor()).unwrap();
        let y_theirs = theirs.as_tensor().gelu().unwrap();
        assert!(max_diff(&y_ours, &y_theirs) < 1e-5);
        assert!(max_diff(&gelu_tanh(&x).unwrap(), &y_theirs) == 0.0);
        let weights = Tensor::randn(0f32, 1.0, (5, 7000), &dev).unwrap();
        let g_ours = (y_ours * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_theirs = (y_theirs * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (a, b) = (
            g_ours.get(ours.as_tensor()).unwrap(),
            g_theirs.get(theirs.as_tensor()).unwrap(),
        );
        assert!(max_diff(a, b) < 1e-4, "{}", max_diff(a, b));
    }
}
