//! Interleaved rotary embedding in one pass, for training (candle 0.11's `rope_i` has no
//! backward). The backward of a rotation is the rotation by the opposite angle, so one kernel
//! serves both directions.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, par_rows};

/// Rotates the interleaved pairs of `x` `(B, H, N, d)` by `(cos, sin)` `(N, d/2)`, or by the
/// opposite angles when `inverse`.
pub(super) struct RopeInterleaved {
    pub(super) inverse: bool,
}

impl CustomOp3 for RopeInterleaved {
    fn name(&self) -> &'static str {
        "rope-interleaved"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        cos_storage: &CpuStorage,
        cos_layout: &Layout,
        sin_storage: &CpuStorage,
        sin_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let cos = contiguous_f32(cos_storage, cos_layout, self.name())?;
        let sin = contiguous_f32(sin_storage, sin_layout, self.name())?;
        let (_, _, n, d) = x_layout.shape().dims4()?;
        if !d.is_multiple_of(2) || cos.len() != n * d / 2 || sin.len() != cos.len() {
            candle_core::bail!(
                "{}: x {:?} against tables of {} angles",
                self.name(),
                x_layout.shape(),
                cos.len()
            );
        }
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut y = vec![0f32; x.len()];
        // One row is one token of one head: d values, d/2 angles.
        par_rows(&mut y, d, |r, out| {
            let token = r % n;
            let row = &x[r * d..(r + 1) * d];
            let (c, s) = (
                &cos[token * d / 2..(token + 1) * d / 2],
                &sin[token * d / 2..(token + 1) * d / 2],
            );
            let pairs = out.chunks_exact_mut(2).zip(row.chunks_exact(2));
            for ((y, x), (&ci, &si)) in pairs.zip(c.iter().zip(s)) {
                let si = sign * si;
                y[0] = x[0] * ci - x[1] * si;
                y[1] = x[0] * si + x[1] * ci;
            }
        });
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad_res.contiguous()?.apply_op3_no_bwd(
            cos,
            sin,
            &RopeInterleaved {
                inverse: !self.inverse,
            },
        )?;
        Ok((Some(dx), None, None))
    }
}
