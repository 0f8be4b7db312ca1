//! Plumbing shared by the fused CPU kernels: borrowing a contiguous f32 slice from candle's
//! storage, and splitting elementwise or row-wise work across candle's CPU threads.

use candle_core::{CpuStorage, Layout, Result, Tensor};
use rayon::prelude::*;

/// The f32 slice of a contiguous CPU storage.
pub(super) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op}: f32 only");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: contiguous input only");
    };
    Ok(&values[start..end])
}

/// The f32 slices of two contiguous CPU storages of the same length (a value and its
/// gradient, as every backward kernel takes them).
pub(super) fn paired_f32<'a>(
    a: (&'a CpuStorage, &Layout),
    b: (&'a CpuStorage, &Layout),
    op: &str,
) -> Result<(&'a [f32], &'a [f32])> {
    let (a, b) = (contiguous_f32(a.0, a.1, op)?, contiguous_f32(b.0, b.1, op)?);
    if a.len() != b.len() {
        candle_core::bail!("{op}: {} values against {}", a.len(), b.len());
    }
    Ok((a, b))
}

/// Runs `body` compiled for AVX2 (256-bit vectors) where the CPU has it, else as built
/// (SSE2 on x86-64): the elementwise maps' loops vectorise, and AVX2 doubles their width.
/// Rust never fuses a multiply and an add on its own, so both builds compute the same bits.
/// Only a small `body` is inlined into the AVX2 build (the row kernels' bodies are not, and
/// are left out).
#[inline(always)]
fn with_wide_vectors<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(body: impl FnOnce() -> R) -> R {
            body()
        }
        #[allow(unsafe_code)] // calling a `target_feature` function
        // SAFETY: the CPU has AVX2, the one feature `avx2` is compiled for.
        return unsafe { avx2(body) };
    }
    body()
}

/// Maps `input` into a new vector with `f`, in chunks across candle's CPU threads.
pub(super) fn par_map(input: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    par_zip_map(input, input, |x, _| f(x))
}

/// Maps the pairs of `a` and `b` (of the same length) into a new vector with `f`, in chunks
/// across candle's CPU threads: a value and its gradient, as backward kernels take them.
pub(super) fn par_zip_map(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "par_zip_map: inputs of different lengths");
    let mut out = vec![0f32; a.len()];
    let threads = candle_core::utils::get_num_threads().max(1);
    let chunk = a.len().div_ceil(threads).max(1 << 14);
    std::thread::scope(|scope| {
        for ((a, b), dst) in a
            .chunks(chunk)
            .zip(b.chunks(chunk))
            .zip(out.chunks_mut(chunk))
        {
            let f = &f;
            scope.spawn(move || {
                with_wide_vectors(|| {
                    for ((&x, &y), z) in a.iter().zip(b).zip(dst.iter_mut()) {
                        *z = f(x, y);
                    }
                })
            });
        }
    });
    out
}

/// Rows handed to one thread at a time by [`par_rows`]: enough work to pay for the hand-off.
fn rows_per_task(row_len: usize) -> usize {
    ((1 << 14) / row_len.max(1)).max(1)
}

/// Fills `out` row by row (`row_len` values a row) in parallel: `f(row_index, out_row)`.
pub(super) fn par_rows(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let per_task = rows_per_task(row_len);
    out.par_chunks_mut(per_task * row_len)
        .enumerate()
        .for_each(|(task, chunk)| {
            for (i, row) in chunk.chunks_exact_mut(row_len).enumerate() {
                f(task * per_task + i, row);
            }
        });
}

/// Like [`par_rows`], but each task also accumulates into a `acc_len`-long vector (for a
/// gradient summed over rows, such as a norm's weight); returns the sum of all tasks' vectors,
/// added in task order (tasks are fixed runs of rows), so the same on any number of threads.
pub(super) fn par_rows_with_sum(
    out: &mut [f32],
    row_len: usize,
    acc_len: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let per_task = rows_per_task(row_len);
    let parts: Vec<Vec<f32>> = out
        .par_chunks_mut(per_task * row_len)
        .enumerate()
        .map(|(task, chunk)| {
            let mut acc = vec![0f32; acc_len];
            for (i, row) in chunk.chunks_exact_mut(row_len).enumerate() {
                f(task * per_task + i, row, &mut acc);
            }
            acc
        })
        .collect();
    let mut sum = vec![0f32; acc_len];
    for part in &parts {
        sum.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    sum
}

/// Splits a backward kernel's one flat output (several gradients written one after another,
/// so that one pass makes them all) into tensors shaped like `like`, in order.
pub(super) fn unpack_gradients<const N: usize>(
    packed: &Tensor,
    like: [&Tensor; N],
) -> Result<[Option<Tensor>; N]> {
    let mut start = 0;
    let mut out = [const { None }; N];
    for (slot, t) in out.iter_mut().zip(like) {
        let len = t.elem_count();
        *slot = Some(packed.narrow(0, start, len)?.reshape(t.shape())?);
        start += len;
    }
    Ok(out)
}
