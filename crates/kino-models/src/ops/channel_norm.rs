//! The Wan VAE's channel norm, `x / max(||x||_channels, 1e-12) * sqrt(C) * gamma`, in two
//! passes forward and two back on channels-first f32 CPU tensors.
//!
//! From primitives it is a square, a sum over the channel axis (candle reduces a middle axis
//! with a strided loop, one thread), a root, a clamp and two broadcasts: a tenth of an
//! autoencoder training step and of every encode, and more backward. Here the first pass
//! takes each position's norm, running over the channels with the positions contiguous; the
//! second writes each (image, channel) row.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, paired_f32, par_rows, par_rows_with_sum, unpack_gradients};

/// The smallest norm divided by (`F.normalize`'s `eps`).
const MIN_NORM: f32 = 1e-12;

/// `x` `(B, C, ...)` over the channel axis, times `scale * gamma` `(C)`.
pub(super) struct ChannelNorm {
    pub(super) scale: f32,
}

/// The backward of [`ChannelNorm`] from `(x, gamma, grad)`: `B * C * S + C` values, the
/// input's gradient followed by gamma's.
struct ChannelNormGrad {
    scale: f32,
}

/// Images, channels and positions per channel of a channels-first layout.
fn geometry(layout: &Layout, gamma_len: usize, op: &str) -> Result<(usize, usize, usize)> {
    let dims = layout.shape().dims();
    if dims.len() < 2 || dims[1] != gamma_len || gamma_len == 0 {
        candle_core::bail!("{op}: {dims:?} against a gain of {gamma_len}");
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

/// For every image, `1 / max(norm, eps)` of each position over the channels, and with a
/// gradient also `sum_c grad * gamma * x` per position: `(B, S)` each.
fn position_sums(
    x: &[f32],
    (channels, positions): (usize, usize),
    dot_with: Option<(&[f32], &[f32])>,
) -> (Vec<f32>, Vec<f32>) {
    let images = x.len() / (channels * positions);
    let mut inv = vec![0f32; images * positions];
    par_rows(&mut inv, positions, |b, inv_row| {
        let image = &x[b * channels * positions..(b + 1) * channels * positions];
        for row in image.chunks_exact(positions) {
            inv_row.iter_mut().zip(row).for_each(|(a, v)| *a += v * v);
        }
        inv_row
            .iter_mut()
            .for_each(|a| *a = 1.0 / a.sqrt().max(MIN_NORM));
    });
    let mut dot = Vec::new();
    if let Some((gamma, grad)) = dot_with {
        dot = vec![0f32; images * positions];
        par_rows(&mut dot, positions, |b, dot_row| {
            let span = b * channels * positions..(b + 1) * channels * positions;
            let rows = x[span.clone()].chunks_exact(positions);
            for ((xr, gr), gc) in rows.zip(grad[span].chunks_exact(positions)).zip(gamma) {
                for ((d, xv), gv) in dot_row.iter_mut().zip(xr).zip(gr) {
                    *d += gv * gc * xv;
                }
            }
        });
    }
    (inv, dot)
}

impl CustomOp2 for ChannelNorm {
    fn name(&self) -> &'static str {
        "channel-norm"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let gamma = contiguous_f32(g_storage, g_layout, self.name())?;
        let (_, c, s) = geometry(x_layout, gamma.len(), self.name())?;
        let mut y = vec![0f32; x.len()];
        if s == 0 {
            return Ok((CpuStorage::F32(y), x_layout.shape().clone()));
        }
        let (inv, _) = position_sums(x, (c, s), None);
        par_rows(&mut y, s, |row, out| {
            let (b, ch) = (row / c, row % c);
            let k = gamma[ch] * self.scale;
            let xr = &x[row * s..(row + 1) * s];
            for ((o, xv), iv) in out.iter_mut().zip(xr).zip(&inv[b * s..(b + 1) * s]) {
                *o = xv * iv * k;
            }
        });
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = x.contiguous()?.apply_op3_no_bwd(
            &gamma.contiguous()?,
            &grad_res.contiguous()?,
            &ChannelNormGrad { scale: self.scale },
        )?;
        let [dx, dgamma] = unpack_gradients(&both, [x, gamma])?;
        Ok((dx, dgamma))
    }
}

impl CustomOp3 for ChannelNormGrad {
    fn name(&self) -> &'static str {
        "channel-norm-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
        d_storage: &CpuStorage,
        d_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, grad) = paired_f32((x_storage, x_layout), (d_storage, d_layout), self.name())?;
        let gamma = contiguous_f32(g_storage, g_layout, self.name())?;
        let (_, c, s) = geometry(x_layout, gamma.len(), self.name())?;
        let mut out = vec![0f32; x.len() + c];
        if s == 0 {
            return Ok((CpuStorage::F32(out), Shape::from(x.len() + c)));
        }
        // y = x r k_c with r = 1 / max(|x|, eps), k_c = scale gamma_c: where the norm is
        // above eps, dx_c = scale (gamma_c g_c r - x_c r^3 sum_j g_j gamma_j x_j); below it r
        // is a constant and only the first term is left. dgamma_c = scale sum g_c x_c r.
        let (inv, dot) = position_sums(x, (c, s), Some((gamma, grad)));
        let (dx, dgamma_row) = out.split_at_mut(x.len());
        let dgamma = par_rows_with_sum(dx, s, c, |row, out_row, dgamma| {
            let (b, ch) = (row / c, row % c);
            let k = gamma[ch] * self.scale;
            let span = row * s..(row + 1) * s;
            let (xr, gr) = (&x[span.clone()], &grad[span]);
            let (ir, dr) = (&inv[b * s..(b + 1) * s], &dot[b * s..(b + 1) * s]);
            let mut sum = 0f32;
            for (i, o) in out_row.iter_mut().enumerate() {
                let r = ir[i];
                let tail = if r < 1.0 / MIN_NORM {
                    xr[i] * r * r * r * dr[i]
                } else {
                    0.0
                };
                *o = k * gr[i] * r - self.scale * tail;
                sum += gr[i] * xr[i] * r;
            }
            dgamma[ch] += self.scale * sum;
        });
        dgamma_row.copy_from_slice(&dgamma);
        Ok((CpuStorage::F32(out), Shape::from(x.len() + c)))
    }
}
