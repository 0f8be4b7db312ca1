//! A bias added to every row, whose backward sums the gradient's columns in one pass.
//!
//! candle's `broadcast_add` backward sums over the broadcast (leading) axis with a strided
//! reduction that divides twice per value, single-threaded; here the column sums run across
//! candle's CPU threads, row after contiguous row.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::{contiguous_f32, par_rows};

/// `x` `(rows, n)` plus `bias` `(n)` on every row, with the column sum as the bias' gradient.
pub(super) struct AddBias;

/// The column sums of a `(rows, n)` matrix: `(n)`.
struct ColumnSum;

/// Rows summed by one task of [`ColumnSum`].
const ROWS_PER_TASK: usize = 256;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add-bias"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        b_storage: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let bias = contiguous_f32(b_storage, b_layout, self.name())?;
        let n = bias.len();
        if n == 0 || x.len() % n != 0 {
            candle_core::bail!("add-bias: {} values in rows of {n}", x.len());
        }
        let mut y = vec![0f32; x.len()];
        par_rows(&mut y, n, |row, out| {
            let src = &x[row * n..(row + 1) * n];
            for ((o, a), b) in out.iter_mut().zip(src).zip(bias) {
                *o = a + b;
            }
        });
        Ok((CpuStorage::F32(y), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_bias = grad_res
            .contiguous()?
            .apply_op1_no_bwd(&ColumnSum)?
            .reshape(bias.shape())?;
        Ok((Some(grad_res.clone()), Some(grad_bias)))
    }
}

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "column-sum"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let n = *layout.shape().dims().last().unwrap_or(&1);
        if n == 0 {
            return Ok((CpuStorage::F32(Vec::new()), Shape::from(0)));
        }
        // Partial sums over fixed runs of rows, added in order: the same result on any
        // number of threads.
        let parts: Vec<Vec<f32>> = x
            .par_chunks(ROWS_PER_TASK * n)
            .map(|rows| {
                let mut acc = vec![0f32; n];
                for row in rows.chunks_exact(n) {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                acc
            })
            .collect();
        let mut sums = vec![0f32; n];
        for part in &parts {
            sums.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        Ok((CpuStorage::F32(sums), Shape::from(n)))
    }
}
