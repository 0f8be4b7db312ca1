//! Softmax over the last axis in one pass forward and one pass backward, for training (candle
//! 0.11's fused softmax has no backward; built from primitives it is five full-size passes
//! forward and more back, on the largest tensor of attention: the scores).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, paired_f32, par_rows};

/// Softmax over the last axis of a contiguous f32 CPU tensor, with a fused backward.
pub(super) struct Softmax;

/// `y * (g - sum(g * y))` row by row: the backward of [`Softmax`] from its output `y`.
struct SoftmaxGrad;

/// The length of the last axis of `layout`.
fn row_len(layout: &Layout) -> Result<usize> {
    layout
        .shape()
        .dims()
        .last()
        .copied()
        .filter(|&d| d > 0)
        .ok_or_else(|| candle_core::Error::Msg("softmax: the last axis is empty".into()))
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-last-dim"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let d = row_len(layout)?;
        let mut y = vec![0f32; x.len()];
        par_rows(&mut y, d, |r, out| {
            let row = &x[r * d..(r + 1) * d];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            out.iter_mut().for_each(|o| *o *= inv);
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad_res.contiguous()?;
        Ok(Some(
            res.contiguous()?.apply_op2_no_bwd(&grad, &SoftmaxGrad)?,
        ))
    }
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax-last-dim-grad"
    }

    fn cpu_fwd(
        &self,
        y_storage: &CpuStorage,
        y_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = paired_f32((y_storage, y_layout), (g_storage, g_layout), self.name())?;
        let d = row_len(y_layout)?;
        let mut dx = vec![0f32; y.len()];
        par_rows(&mut dx, d, |r, out| {
            let (yr, gr) = (&y[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            for ((o, &yv), &gv) in out.iter_mut().zip(yr).zip(gr) {
                *o = yv * (gv - dot);
            }
        });
        Ok((CpuStorage::F32(dx), y_layout.shape().clone()))
    }
}
