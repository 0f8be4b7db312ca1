//! Fused operations that also train: each uses candle's fused kernel when no gradient is being
//! tracked through its input (inference), and the same math from differentiable primitives when
//! one is (training kino-mini), because candle 0.11's fused softmax, RMSNorm and RoPE kernels
//! have no backward pass. Both paths compute the same function; the tests compare them.

use candle_core::{D, DType, Result, Tensor};

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
}
