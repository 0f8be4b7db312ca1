//! Fused operations that also train. Inference (no gradient tracked through the input) uses
//! candle's own operations (its fused kernels for softmax, RMSNorm and RoPE). Training
//! kino-mini on the CPU in f32 uses our one-pass kernels with one-pass backwards (candle 0.11's
//! fused softmax, RMSNorm and RoPE have no backward, and built from primitives each is several
//! full-size passes that dominate a small model's step). The 2D convolution and the VAE's
//! channel norm use ours on the CPU in f32 for inference too (candle's are slow forward as
//! well); the Wan 2.1 VAE parity fixtures check them there. Elsewhere (another device or dtype)
//! the same math runs from candle's operations. All paths compute the same function; the
//! tests compare values and gradients.

mod bias;
mod channel_norm;
mod conv;
mod gelu;
mod kernel;
mod modulation;
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

/// The Wan VAE's channel norm: `x` `(B, C, ...)` divided by its L2 norm over the channel axis
/// (at least 1e-12), times `scale * gamma` `(C)`, in f32. On the CPU in f32 it is two passes
/// forward and two back (see `channel_norm.rs`); elsewhere the same formula from primitives.
pub fn channel_norm(x: &Tensor, gamma: &Tensor, scale: f64) -> Result<Tensor> {
    let cpu_f32 = x.device().is_cpu() && x.dtype() == DType::F32 && gamma.dtype() == DType::F32;
    if cpu_f32 && x.rank() >= 2 && gamma.rank() == 1 {
        let op = channel_norm::ChannelNorm {
            scale: scale as f32,
        };
        return x.contiguous()?.apply_op2(&gamma.contiguous()?, op);
    }
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    // gamma (C) -> (1, C, 1, ...) for the rank of x
    let mut shape = vec![1; x.rank()];
    shape[1] = gamma.dim(0)?;
    let gamma = (gamma.to_dtype(DType::F32)?.reshape(shape)? * scale)?;
    x.broadcast_div(&norm)?
        .broadcast_mul(&gamma)?
        .to_dtype(dtype)
}

/// Whether `x` `(B, N, D)` and per-clip vectors `(B, 1, D)` are trained through on the CPU in
/// f32, where the fused modulation kernels apply.
fn fused_modulation(x: &Tensor, vectors: &[&Tensor]) -> Result<bool> {
    let all = || std::iter::once(x).chain(vectors.iter().copied());
    if !all().any(|t| t.track_op()) || !all().all(|t| t.dtype() == DType::F32) {
        return Ok(false);
    }
    let (b, _, d) = x.dims3()?;
    Ok(x.device().is_cpu() && vectors.iter().all(|v| v.dims() == [b, 1, d]))
}

/// `x * scale + shift`, `scale` and `shift` `(B, 1, D)` over `x` `(B, N, D)` (the DiT's adaLN
/// modulation with `1 + scale`, and an affine norm with `B = 1`). While a gradient is tracked
/// in f32 on the CPU it is one pass forward and one back (see `modulation.rs`).
pub fn scale_shift(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    if fused_modulation(x, &[scale, shift])? {
        let (x, scale, shift) = (x.contiguous()?, scale.contiguous()?, shift.contiguous()?);
        return x.apply_op3(&scale, &shift, modulation::ScaleShift);
    }
    x.broadcast_mul(scale)?.broadcast_add(shift)
}

/// `x + y * gate`, `gate` `(B, 1, D)` over `x` and `y` `(B, N, D)` (the DiT's gated residual
/// adds), fused for training as [`scale_shift`].
pub fn gated_add(x: &Tensor, y: &Tensor, gate: &Tensor) -> Result<Tensor> {
    if x.dims() == y.dims() && fused_modulation(x, &[gate])? && y.dtype() == DType::F32 {
        let (x, y, gate) = (x.contiguous()?, y.contiguous()?, gate.contiguous()?);
        return x.apply_op3(&y, &gate, modulation::GatedAdd);
    }
    x + y.broadcast_mul(gate)?
}

/// `x` `(rows, n)` plus `bias` `(n)` on every row. While a gradient is tracked through f32
/// on the CPU the bias' gradient is a one-pass column sum (see `bias.rs`); elsewhere this is
/// candle's `broadcast_add`.
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let tracked = x.track_op() || bias.track_op();
    let cpu_f32 = x.device().is_cpu() && x.dtype() == DType::F32 && bias.dtype() == DType::F32;
    if tracked && cpu_f32 && x.rank() == 2 && bias.rank() == 1 {
        return x
            .contiguous()?
            .apply_op2(&bias.contiguous()?, bias::AddBias);
    }
    x.broadcast_add(bias)
}

/// 2D convolution of `x` `(N, C, H, W)` by `weight` `(O, C, k_h, k_w)` plus `bias` `(O)`,
/// with the same zero `padding` on every side and the same `stride` both ways (candle's
/// `conv2d` with dilation 1 and one group, then the bias). On the CPU in f32 it runs as tiles
/// of patches times the weight, forward and backward (see `conv.rs`); elsewhere it is candle's
/// `conv2d`. Both compute the same sums, in another order.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    padding: usize,
    stride: usize,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (o, wc, kh, kw) = weight.dims4()?;
    if wc != c || bias.dims() != [o] {
        candle_core::bail!(
            "conv2d: weight {:?} and bias {:?} for an input of {c} channels",
            weight.dims(),
            bias.dims()
        );
    }
    let geometry = conv::PatchGeometry {
        batch: n,
        height: h,
        width: w,
        channels: c,
        out_channels: o,
        kernel: (kh, kw),
        stride,
        padding,
    };
    let f32s = [x, weight, bias].iter().all(|t| t.dtype() == DType::F32);
    if !(x.device().is_cpu() && f32s && geometry.is_valid()) {
        let bias = bias.reshape((1, o, 1, 1))?;
        return x
            .conv2d(weight, padding, stride, 1, 1)?
            .broadcast_add(&bias);
    }
    let (ho, wo) = geometry.output();
    // (N, C, H, W) -> (N, H, W, C); (O, C, k_h, k_w) -> (O, k_h * k_w * C), the patch order
    let x = x.permute((0, 2, 3, 1))?.contiguous()?;
    let weight = weight
        .permute((0, 2, 3, 1))?
        .reshape((o, geometry.patch_len()))?;
    // (N * H' * W', O) -> (N, H', W', O) -> (N, O, H', W')
    x.apply_op3(&weight, &bias.contiguous()?, conv::Conv2dTiles(geometry))?
        .reshape((n, ho, wo, o))?
        .permute((0, 3, 1, 2))?
        .contiguous()
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

    #[test]
    fn gathered_conv2d_matches_candles_value_and_gradients() {
        let dev = Device::Cpu;
        // (batch, channels, height, width, out, kernel, padding, stride): the autoencoder's
        // 3x3 convs, its stride-2 downsampling, a 1x1, an odd size and a wide kernel. (candle
        // 0.11's own backward needs both sides to leave the same remainder at stride 2.)
        let cases = [
            (3, 5, 9, 7, 4, (3, 3), 1, 1),
            (2, 4, 10, 8, 6, (3, 3), 0, 2),
            (2, 6, 5, 5, 3, (1, 1), 0, 1),
            (1, 3, 11, 7, 2, (3, 3), 1, 2),
            (2, 2, 8, 9, 5, (2, 5), 2, 1),
        ];
        for (n, c, h, w, o, (kh, kw), padding, stride) in cases {
            let name = format!("{n}x{c}x{h}x{w} * {o}x{kh}x{kw}, p{padding} s{stride}");
            let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &dev).unwrap();
            let k = Tensor::randn(0f32, 0.5, (o, c, kh, kw), &dev).unwrap();
            let bias = Tensor::randn(0f32, 0.5, o, &dev).unwrap();
            let (xa, ka) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&k).unwrap());
            let (xb, kb) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&k).unwrap());
            let (ba, bb) = (
                Var::from_tensor(&bias).unwrap(),
                Var::from_tensor(&bias).unwrap(),
            );
            let ya = conv2d(
                xa.as_tensor(),
                ka.as_tensor(),
                ba.as_tensor(),
                padding,
                stride,
            )
            .unwrap();
            let yb = xb
                .as_tensor()
                .conv2d(kb.as_tensor(), padding, stride, 1, 1)
                .unwrap()
                .broadcast_add(&bb.as_tensor().reshape((1, o, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(ya.dims(), yb.dims(), "{name}: shape");
            assert!(max_abs_diff(&ya, &yb) < 1e-5, "{name}: values");
            let inference = conv2d(&x, &k, &bias, padding, stride).unwrap();
            assert!(max_abs_diff(&inference, &yb) < 1e-5, "{name}: inference");
            let probe = Tensor::randn(0f32, 1.0, yb.shape(), &dev).unwrap();
            let (ga, gb) = (grads_of(&ya, &probe), grads_of(&yb, &probe));
            for (what, a, b) in [
                ("input", xa.as_tensor(), xb.as_tensor()),
                ("weight", ka.as_tensor(), kb.as_tensor()),
                ("bias", ba.as_tensor(), bb.as_tensor()),
            ] {
                let (da, db) = (ga.get(a).unwrap(), gb.get(b).unwrap());
                assert_eq!(da.dims(), db.dims(), "{name}: {what} gradient shape");
                let diff = max_abs_diff(da, db);
                assert!(diff < 1e-4, "{name}: {what} gradient off by {diff}");
            }
        }
    }

    #[test]
    fn two_pass_channel_norm_matches_the_formula_in_value_and_gradients() {
        let dev = Device::Cpu;
        // (B, C, T, H, W) with one all-zero position, whose norm is clamped.
        let x = Tensor::randn(0f32, 1.0, (3, 6, 2, 5, 7), &dev).unwrap();
        let hole = Tensor::ones((3, 6, 2, 5, 7), DType::F32, &dev)
            .unwrap()
            .slice_assign(
                &[0..1, 0..6, 1..2, 2..3, 3..4],
                &Tensor::zeros((1, 6, 1, 1, 1), DType::F32, &dev).unwrap(),
            )
            .unwrap();
        let x = (x * hole).unwrap();
        let gamma = Tensor::randn(1f32, 0.3, 6, &dev).unwrap();
        let scale = 6f64.sqrt();
        let formula = |x: &Tensor, g: &Tensor| {
            let norm = x
                .sqr()
                .unwrap()
                .sum_keepdim(1)
                .unwrap()
                .sqrt()
                .unwrap()
                .maximum(1e-12)
                .unwrap();
            let g = (g.reshape((1, 6, 1, 1, 1)).unwrap() * scale).unwrap();
            x.broadcast_div(&norm).unwrap().broadcast_mul(&g).unwrap()
        };
        let (xa, ga) = (
            Var::from_tensor(&x).unwrap(),
            Var::from_tensor(&gamma).unwrap(),
        );
        let (xb, gb) = (
            Var::from_tensor(&x).unwrap(),
            Var::from_tensor(&gamma).unwrap(),
        );
        let ya = channel_norm(xa.as_tensor(), ga.as_tensor(), scale).unwrap();
        let yb = formula(xb.as_tensor(), gb.as_tensor());
        assert!(max_abs_diff(&ya, &yb) < 1e-5, "values");
        let probe = Tensor::randn(0f32, 1.0, x.shape(), &dev).unwrap();
        let (da, db) = (grads_of(&ya, &probe), grads_of(&yb, &probe));
        for (what, a, b) in [
            ("input", xa.as_tensor(), xb.as_tensor()),
            ("gamma", ga.as_tensor(), gb.as_tensor()),
        ] {
            let diff = max_abs_diff(da.get(a).unwrap(), db.get(b).unwrap());
            assert!(diff < 1e-4, "{what} gradient off by {diff}");
        }
    }

    #[test]
    fn fused_modulations_match_the_formulas_in_value_and_gradients() {
        let dev = Device::Cpu;
        // (B, N, D) with enough rows to split across threads, per-clip vectors (B, 1, D).
        let x = Tensor::randn(0f32, 1.0, (3, 300, 40), &dev).unwrap();
        let y = Tensor::randn(0f32, 1.0, (3, 300, 40), &dev).unwrap();
        let u = Tensor::randn(1f32, 0.5, (3, 1, 40), &dev).unwrap();
        let v = Tensor::randn(0f32, 0.5, (3, 1, 40), &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, x.shape(), &dev).unwrap();
        type Op = fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Tensor;
        let cases: [(&str, Op, Op); 2] = [
            (
                "scale_shift",
                |x, _, u, v| scale_shift(x, u, v).unwrap(),
                |x, _, u, v| x.broadcast_mul(u).unwrap().broadcast_add(v).unwrap(),
            ),
            (
                "gated_add",
                |x, y, u, _| gated_add(x, y, u).unwrap(),
                |x, y, u, _| (x + y.broadcast_mul(u).unwrap()).unwrap(),
            ),
        ];
        for (name, fused, formula) in cases {
            let vars = |t: &Tensor| Var::from_tensor(t).unwrap();
            let a = [vars(&x), vars(&y), vars(&u), vars(&v)];
            let b = [vars(&x), vars(&y), vars(&u), vars(&v)];
            let ya = fused(
                a[0].as_tensor(),
                a[1].as_tensor(),
                a[2].as_tensor(),
                a[3].as_tensor(),
            );
            let yb = formula(
                b[0].as_tensor(),
                b[1].as_tensor(),
                b[2].as_tensor(),
                b[3].as_tensor(),
            );
            assert!(max_abs_diff(&ya, &yb) < 1e-5, "{name}: values");
            let untracked = fused(&x, &y, &u, &v);
            assert_eq!(max_abs_diff(&untracked, &yb), 0.0, "{name}: inference");
            let (ga, gb) = (grads_of(&ya, &probe), grads_of(&yb, &probe));
            for (i, (va, vb)) in a.iter().zip(&b).enumerate() {
                match (ga.get(va.as_tensor()), gb.get(vb.as_tensor())) {
                    (Some(da), Some(db)) => {
                        let diff = max_abs_diff(da, db);
                        assert!(diff < 1e-3, "{name}: gradient {i} off by {diff}");
                    }
                    (None, None) => {}
                    _ => panic!("{name}: gradient {i} on one side only"),
                }
            }
        }
    }
}
