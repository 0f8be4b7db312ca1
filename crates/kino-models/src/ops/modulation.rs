//! The DiT's per-clip modulations, one pass forward and one back, for training: `x * scale +
//! shift` and `x + y * gate` with `scale`, `shift` and `gate` `(B, 1, D)` over `(B, N, D)`.
//!
//! From primitives each is two or three full-size passes forward, and backward candle sums
//! the per-clip vectors' gradients over the N tokens with a strided, single-threaded
//! reduction. Here the sums are taken while the other gradients are written.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::kernel::{contiguous_f32, paired_f32, par_rows, par_rows_with_sum, unpack_gradients};

/// `(B, N, D)` of `x`, checked against `(B, 1, D)` vectors of `vector_len` values.
fn dims(layout: &Layout, vector_len: usize, op: &str) -> Result<(usize, usize, usize)> {
    match *layout.shape().dims() {
        [b, n, d] if b * d == vector_len && d > 0 => Ok((b, n, d)),
        ref other => candle_core::bail!("{op}: {other:?} against vectors of {vector_len} values"),
    }
}

/// `x * scale + shift`: `x` `(B, N, D)`, `scale` and `shift` `(B, 1, D)`, all contiguous f32.
pub(super) struct ScaleShift;

/// The backward of [`ScaleShift`] from `(x, scale, grad)`: `B N D + 2 B D` values, the
/// gradients of `x`, `scale` and `shift` one after the other.
struct ScaleShiftGrad;

/// `x + y * gate`: `x` and `y` `(B, N, D)`, `gate` `(B, 1, D)`, all contiguous f32.
pub(super) struct GatedAdd;

/// The backward of [`GatedAdd`] for `y` and `gate` from `(y, gate, grad)`: `B N D + B D`
/// values.
struct GatedAddGrad;

impl CustomOp3 for ScaleShift {
    fn name(&self) -> &'static str {
        "scale-shift"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        s_storage: &CpuStorage,
        s_layout: &Layout,
        t_storage: &CpuStorage,
        t_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let scale = contiguous_f32(s_storage, s_layout, self.name())?;
        let shift = contiguous_f32(t_storage, t_layout, self.name())?;
        let (_, n, d) = dims(x_layout, scale.len(), self.name())?;
        if shift.len() != scale.len() {
            candle_core::bail!("{}: shift and scale differ in size", self.name());
        }
        let mut y = vec![0f32; x.len()];
        par_rows(&mut y, d, |row, out| {
            let v = (row / n) * d..(row / n + 1) * d;
            let xr = &x[row * d..(row + 1) * d];
            for (((o, xv), s), t) in out.iter_mut().zip(xr).zip(&scale[v.clone()]).zip(&shift[v]) {
                *o = xv * s + t;
            }
        });
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        shift: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let all = x.contiguous()?.apply_op3_no_bwd(
            &scale.contiguous()?,
            &grad_res.contiguous()?,
            &ScaleShiftGrad,
        )?;
        let [dx, dscale, dshift] = unpack_gradients(&all, [x, scale, shift])?;
        Ok((dx, dscale, dshift))
    }
}

impl CustomOp3 for ScaleShiftGrad {
    fn name(&self) -> &'static str {
        "scale-shift-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        s_storage: &CpuStorage,
        s_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, grad) = paired_f32((x_storage, x_layout), (g_storage, g_layout), self.name())?;
        let scale = contiguous_f32(s_storage, s_layout, self.name())?;
        let (_, n, d) = dims(x_layout, scale.len(), self.name())?;
        let vector = scale.len();
        let mut out = vec![0f32; x.len() + 2 * vector];
        let (dx, rest) = out.split_at_mut(x.len());
        // acc: dscale then dshift, each (B, D)
        let sums = par_rows_with_sum(dx, d, 2 * vector, |row, out_row, acc| {
            let b = row / n;
            let v = b * d..(b + 1) * d;
            let (xr, gr) = (&x[row * d..(row + 1) * d], &grad[row * d..(row + 1) * d]);
            let (dscale, dshift) = acc.split_at_mut(vector);
            let lanes = out_row.iter_mut().zip(xr).zip(gr).zip(&scale[v.clone()]);
            let sums = dscale[v.clone()].iter_mut().zip(&mut dshift[v]);
            for ((((o, xv), gv), s), (ds, dt)) in lanes.zip(sums) {
                *o = gv * s;
                *ds += gv * xv;
                *dt += gv;
            }
        });
        rest.copy_from_slice(&sums);
        Ok((CpuStorage::F32(out), Shape::from(x.len() + 2 * vector)))
    }
}

impl CustomOp3 for GatedAdd {
    fn name(&self) -> &'static str {
        "gated-add"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        y_storage: &CpuStorage,
        y_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let y = contiguous_f32(y_storage, y_layout, self.name())?;
        let gate = contiguous_f32(g_storage, g_layout, self.name())?;
        let (_, n, d) = dims(x_layout, gate.len(), self.name())?;
        if y.len() != x.len() {
            candle_core::bail!("{}: x and y differ in size", self.name());
        }
        let mut out = vec![0f32; x.len()];
        par_rows(&mut out, d, |row, out_row| {
            let v = (row / n) * d..(row / n + 1) * d;
            let span = row * d..(row + 1) * d;
            let lanes = out_row.iter_mut().zip(&x[span.clone()]).zip(&y[span]);
            for (((o, xv), yv), g) in lanes.zip(&gate[v]) {
                *o = xv + yv * g;
            }
        });
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        y: &Tensor,
        gate: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        let both = y
            .contiguous()?
            .apply_op3_no_bwd(&gate.contiguous()?, &grad, &GatedAddGrad)?;
        let [dy, dgate] = unpack_gradients(&both, [y, gate])?;
        Ok((Some(grad), dy, dgate))
    }
}

impl CustomOp3 for GatedAddGrad {
    fn name(&self) -> &'static str {
        "gated-add-grad"
    }

    fn cpu_fwd(
        &self,
        y_storage: &CpuStorage,
        y_layout: &Layout,
        g_storage: &CpuStorage,
        g_layout: &Layout,
        d_storage: &CpuStorage,
        d_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, grad) = paired_f32((y_storage, y_layout), (d_storage, d_layout), self.name())?;
        let gate = contiguous_f32(g_storage, g_layout, self.name())?;
        let (_, n, d) = dims(y_layout, gate.len(), self.name())?;
        let vector = gate.len();
        let mut out = vec![0f32; y.len() + vector];
        let (dy, rest) = out.split_at_mut(y.len());
        let dgate = par_rows_with_sum(dy, d, vector, |row, out_row, dgate| {
            let v = (row / n) * d..(row / n + 1) * d;
            let span = row * d..(row + 1) * d;
            let lanes = out_row.iter_mut().zip(&y[span.clone()]).zip(&grad[span]);
            for (((o, yv), gv), (g, dg)) in lanes.zip(gate[v.clone()].iter().zip(&mut dgate[v])) {
                *o = gv * g;
                *dg += gv * yv;
            }
        });
        rest.copy_from_slice(&dgate);
        Ok((CpuStorage::F32(out), Shape::from(y.len() + vector)))
    }
}
