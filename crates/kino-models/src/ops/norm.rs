//! RMSNorm and LayerNorm (no affine) over the last axis, one pass forward and one pass
//! backward, for training (candle 0.11's fused RMSNorm has no backward; from primitives each
//! norm is about six full-size passes forward and more back).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, paired_f32, par_rows, par_rows_with_sum, unpack_gradients};

/// The length of the last axis of `layout`, checked to divide `len`.
fn row_len(layout: &Layout, len: usize, op: &str) -> Result<usize> {
    match layout.shape().dims().last() {
        Some(&d) if d > 0 && len.is_multiple_of(d) => Ok(d),
        _ => candle_core::bail!("{op}: bad shape {:?}", layout.shape()),
    }
}

/// `x / sqrt(mean(x^2) + eps) * weight` over the last axis of contiguous f32 CPU tensors.
pub(super) struct RmsNorm {
    pub(super) eps: f32,
}

/// The backward of [`RmsNorm`] from `(x, weight, grad)`: a `(rows + 1, d)` tensor whose first
/// `rows` rows are the input's gradient and whose last row is the weight's (one output, so both
/// come from one pass).
struct RmsNormGrad {
    eps: f32,
}

/// `1 / sqrt(mean(row^2) + eps)`.
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let mean_sq = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    1.0 / (mean_sq + eps).sqrt()
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        w_storage: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let w = contiguous_f32(w_storage, w_layout, self.name())?;
        let d = row_len(x_layout, x.len(), self.name())?;
        if w.len() != d {
            candle_core::bail!("{}: weight of {} for rows of {d}", self.name(), w.len());
        }
        let mut y = vec![0f32; x.len()];
        par_rows(&mut y, d, |r, out| {
            let row = &x[r * d..(r + 1) * d];
            let inv = inv_rms(row, self.eps);
            for ((o, &v), &wv) in out.iter_mut().zip(row).zip(w) {
                *o = v * inv * wv;
            }
        });
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let both = x.contiguous()?.apply_op3_no_bwd(
            &weight.contiguous()?,
            &grad_res.contiguous()?,
            &RmsNormGrad { eps: self.eps },
        )?;
        let [dx, dw] = unpack_gradients(&both.flatten_all()?, [x, weight])?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "rms-norm-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        w_storage: &CpuStorage,
        w_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let w = contiguous_f32(w_storage, w_layout, self.name())?;
        let g = contiguous_f32(g_storage, g_layout, self.name())?;
        let d = w.len();
        if x.len() != g.len() || d == 0 || !x.len().is_multiple_of(d) {
            candle_core::bail!("{}: shapes do not fit", self.name());
        }
        let rows = x.len() / d;
        let mut out = vec![0f32; (rows + 1) * d];
        let (dx, dw_row) = out.split_at_mut(rows * d);
        // y = x r w with r = 1 / rms(x): dx = r (g w) - x r^3 mean(g w x); dw = sum g x r.
        let dw = par_rows_with_sum(dx, d, d, |r, out_row, dw| {
            let (xr, gr) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let inv = inv_rms(xr, self.eps);
            let dot = xr
                .iter()
                .zip(gr)
                .zip(w)
                .map(|((xv, gv), wv)| xv * gv * wv)
                .sum::<f32>()
                / d as f32;
            let k = inv * inv * inv * dot;
            let rows = out_row.iter_mut().zip(dw.iter_mut());
            for ((o, dwv), ((&xv, &gv), &wv)) in rows.zip(xr.iter().zip(gr).zip(w)) {
                *o = inv * gv * wv - xv * k;
                *dwv += gv * xv * inv;
            }
        });
        dw_row.copy_from_slice(&dw);
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, d))))
    }
}

/// `(x - mean) / sqrt(var + eps)` over the last axis of a contiguous f32 CPU tensor (a
/// LayerNorm without weight or bias, as Wan's `norm1` and `norm3`).
pub(super) struct LayerNorm {
    pub(super) eps: f32,
}

/// The backward of [`LayerNorm`] from `(x, grad)`.
struct LayerNormGrad {
    eps: f32,
}

/// Mean and `1 / sqrt(var + eps)` of a row, the variance from centred values (two passes).
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp1 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let d = row_len(layout, x.len(), self.name())?;
        let mut y = vec![0f32; x.len()];
        par_rows(&mut y, d, |r, out| {
            let row = &x[r * d..(r + 1) * d];
            let (mean, inv) = moments(row, self.eps);
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v - mean) * inv;
            }
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(
            &grad,
            &LayerNormGrad { eps: self.eps },
        )?))
    }
}

impl CustomOp2 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = paired_f32((x_storage, x_layout), (g_storage, g_layout), self.name())?;
        let d = row_len(x_layout, x.len(), self.name())?;
        let mut dx = vec![0f32; x.len()];
        // y = (x - mean) r: dx = r (g - mean(g) - y mean(g y)).
        par_rows(&mut dx, d, |r, out| {
            let (xr, gr) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let (mean, inv) = moments(xr, self.eps);
            let n = d as f32;
            let g_mean = gr.iter().sum::<f32>() / n;
            let gy_mean = xr
                .iter()
                .zip(gr)
                .map(|(xv, gv)| (xv - mean) * inv * gv)
                .sum::<f32>()
                / n;
            for ((o, &xv), &gv) in out.iter_mut().zip(xr).zip(gr) {
                let y = (xv - mean) * inv;
                *o = inv * (gv - g_mean - y * gy_mean);
            }
        });
        Ok((CpuStorage::F32(dx), x_layout.shape().clone()))
    }
}
