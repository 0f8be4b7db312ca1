//! Fused operations that also train. Inference (no gradient tracked through the input) uses
//! candle's fused kernels, so the engine's parity with the reference is untouched. Training
//! kino-mini on the CPU in f32 uses our one-pass kernels with one-pass backwards (candle 0.11's
//! fused softmax, RMSNorm and RoPE have no backward, and built from primitives each is several
//! full-size passes that dominate a small model's step). Elsewhere (another device or dtype
//! while training) the same math runs from differentiable primitives. All paths compute the
//! same function; the tests compare values and gradients.

mod gelu;
mod kernel;
mod norm;
mod rope;
mod softmax;

use candle_core::{D, DType, Result, Tensor};

/// Whether `x` is being trained through on the CPU in f32, where the fused kernels apply.
fn fused_training(x: &Tensor) -> bool {
    x.track_op() && x.dtype() == DType::F32 && x.device().is_cpu()
}

/// Softmax over the last axis.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !x.track_op() {
        return candle_nn::ops::softmax_last_dim(x);
    }
    if fused_training(x) {
        return x.contiguous()?.apply_op1(softmax::Softmax);
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
    if x.dtype() == DType::F32 && weight.dtype() == DType::F32 && x.device().is_cpu() {
        return x
            .contiguous()?
            .apply_op2(&weight.contiguous()?, norm::RmsNorm { eps });
    }
    let dtype = x.dtype();
    let x32 = x.to_dtype(DType::F32)?;
    let rms = (x32.sqr()?.mean_keepdim(D::Minus1)? + f64::from(eps))?.sqrt()?;
    x32.broadcast_div(&rms)?
        .to_dtype(dtype)?
        .broadcast_mul(weight)
}

/// LayerNorm without weight or bias over the last axis of f32 `x`, for training:
/// `(x - mean) / sqrt(var + eps)` in one pass (and one pass back) on the CPU. Returns `None`
/// where the fused kernel does not apply (no gradient tracked, another device or dtype): the
/// caller's own formula is the reference there.
pub fn layer_norm_for_training(x: &Tensor, eps: f64) -> Result<Option<Tensor>> {
    if !fused_training(x) {
        return Ok(None);
    }
    Ok(Some(
        x.contiguous()?
            .apply_op1(norm::LayerNorm { eps: eps as f32 })?,
    ))
}

/// Rotates interleaved channel pairs of `x` `(B, H, N, d)` by the tables' angles `(N, d/2)`:
/// `(x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)` (candle's `rope_i`).
pub fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    if !x.track_op() {
        return candle_nn::rotary_emb::rope_i(&x, cos, sin);
    }
    if fused_training(&x) && cos.dtype() == DType::F32 {
        return x.apply_op3(
            &cos.contiguous()?,
            &sin.contiguous()?,
            rope::RopeInterleaved { inverse: false },
        );
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
    if !fused_training(x) {
        return x.gelu();
    }
    x.contiguous()?.apply_op1(gelu::GeluTanh)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use candle_core::{Device, Var};
    use kino_testkit::max_abs_diff;

    /// `sum(y * probe)` backpropagated: the gradient of a random linear read-out of `y`.
    fn grads_of(y: &Tensor, probe: &Tensor) -> candle_core::backprop::GradStore {
        (y * probe).unwrap().sum_all().unwrap().backward().unwrap()
    }

    /// The textbook formulas from candle primitives (differentiated by candle's autograd).
    mod primitives {
        use super::*;
        pub fn softmax(x: &Tensor) -> Tensor {
            let e = x.exp().unwrap();
            e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap()
        }
        pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
            let rms = (x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + eps)
                .unwrap()
                .sqrt()
                .unwrap();
            x.broadcast_div(&rms).unwrap().broadcast_mul(w).unwrap()
        }
        pub fn layer_norm(x: &Tensor, eps: f64) -> Tensor {
            let c = x
                .broadcast_sub(&x.mean_keepdim(D::Minus1).unwrap())
                .unwrap();
            let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            c.broadcast_div(&(var + eps).unwrap().sqrt().unwrap())
                .unwrap()
        }
        pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
            let (b, h, n, d) = x.dims4().unwrap();
            let pairs = x.reshape((b, h, n, d / 2, 2)).unwrap();
            let x0 = pairs.narrow(4, 0, 1).unwrap().squeeze(4).unwrap();
            let x1 = pairs.narrow(4, 1, 1).unwrap().squeeze(4).unwrap();
            let (c, s) = (
                cos.reshape((1, 1, n, d / 2)).unwrap(),
                sin.reshape((1, 1, n, d / 2)).unwrap(),
            );
            let y0 = (x0.broadcast_mul(&c).unwrap() - x1.broadcast_mul(&s).unwrap()).unwrap();
            let y1 = (x0.broadcast_mul(&s).unwrap() + x1.broadcast_mul(&c).unwrap()).unwrap();
            Tensor::stack(&[y0, y1], 4)
                .unwrap()
                .reshape((b, h, n, d))
                .unwrap()
        }
    }

    /// Values and gradients of a fused training kernel against the primitive formula, and its
    /// value against candle's fused inference kernel.
    #[test]
    fn training_kernels_match_the_formulas_in_value_and_gradient() {
        let dev = Device::Cpu;
        // Rows of 40 over enough rows to split across threads.
        let x = Tensor::randn(0f32, 2.0, (3, 4, 300, 40), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.3, 40, &dev).unwrap();
        let angles = Tensor::randn(0f32, 2.0, (300, 20), &dev).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        let probe = Tensor::randn(0f32, 1.0, x.shape(), &dev).unwrap();

        type Op<'a> = Box<dyn Fn(&Tensor, &Tensor) -> Tensor + 'a>;
        let cases: Vec<(&str, Op, Op, Option<Tensor>)> = vec![
            (
                "softmax",
                Box::new(|x, _| softmax_last_dim(x).unwrap()),
                Box::new(|x, _| primitives::softmax(x)),
                Some(candle_nn::ops::softmax_last_dim(&x).unwrap()),
            ),
            (
                "rms_norm",
                Box::new(|x, w| rms_norm(x, w, 1e-6).unwrap()),
                Box::new(|x, w| primitives::rms_norm(x, w, 1e-6)),
                Some(candle_nn::ops::rms_norm(&x, &w, 1e-6).unwrap()),
            ),
            (
                "layer_norm",
                Box::new(|x, _| layer_norm_for_training(x, 1e-6).unwrap().unwrap()),
                Box::new(|x, _| primitives::layer_norm(x, 1e-6)),
                None,
            ),
            (
                "rope",
                Box::new(|x, _| rope_interleaved(x, &cos, &sin).unwrap()),
                Box::new(|x, _| primitives::rope(x, &cos, &sin)),
                Some(candle_nn::rotary_emb::rope_i(&x, &cos, &sin).unwrap()),
            ),
        ];
        for (name, fused, formula, inference) in &cases {
            let (xa, wa) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
            let (xb, wb) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
            let ya = fused(xa.as_tensor(), wa.as_tensor());
            let yb = formula(xb.as_tensor(), wb.as_tensor());
            assert!(max_abs_diff(&ya, &yb) < 1e-5, "{name}: values");
            if let Some(inference) = inference {
                assert!(max_abs_diff(&ya, inference) < 1e-5, "{name}: inference");
            }
            let (ga, gb) = (grads_of(&ya, &probe), grads_of(&yb, &probe));
            let (dxa, dxb) = (
                ga.get(xa.as_tensor()).unwrap(),
                gb.get(xb.as_tensor()).unwrap(),
            );
            let scale = dxb
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(scale > 0.0, "{name}: no gradient");
            let diff = max_abs_diff(dxa, dxb);
            assert!(
                diff < 1e-4 * scale.max(1.0),
                "{name}: input gradient off by {diff}"
            );
            if let Some(dwb) = gb.get(wb.as_tensor()) {
                let dwa = ga.get(wa.as_tensor()).unwrap();
                let diff = max_abs_diff(dwa, dwb);
                let scale = dwb
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(
                    diff < 1e-4 * scale.max(1.0),
                    "{name}: weight gradient off by {diff}"
                );
            }
        }
    }

    #[test]
    fn inference_keeps_candles_kernels_and_layer_norm_defers_to_the_caller() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (2, 3, 5, 8), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.1, 8, &dev).unwrap();
        assert_eq!(
            max_abs_diff(
                &softmax_last_dim(&x).unwrap(),
                &candle_nn::ops::softmax_last_dim(&x).unwrap()
            ),
            0.0
        );
        assert_eq!(
            max_abs_diff(
                &rms_norm(&x, &w, 1e-6).unwrap(),
                &candle_nn::ops::rms_norm(&x, &w, 1e-6).unwrap()
            ),
            0.0
        );
        assert!(layer_norm_for_training(&x, 1e-6).unwrap().is_none());
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
        assert!(max_abs_diff(&y_ours, &y_theirs) < 1e-5);
        assert!(max_abs_diff(&gelu_tanh(&x).unwrap(), &y_theirs) == 0.0);
        let weights = Tensor::randn(0f32, 1.0, (5, 7000), &dev).unwrap();
        let g_ours = grads_of(&y_ours, &weights);
        let g_theirs = grads_of(&y_theirs, &weights);
        let (a, b) = (
            g_ours.get(ours.as_tensor()).unwrap(),
            g_theirs.get(theirs.as_tensor()).unwrap(),
        );
        assert!(max_abs_diff(a, b) < 1e-4, "{}", max_abs_diff(a, b));
    }
}
