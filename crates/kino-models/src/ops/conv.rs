//! 2D convolution with bias as tiles of patch rows times the weight, forward and backward.
//!
//! candle 0.11's CPU `conv2d` gathers each tile's patches one value at a time, and its
//! backward runs a `conv_transpose2d` for the input's gradient and a second `conv2d`, whose
//! kernel is the whole output gradient, for the weight's; a bias broadcast over the batch and
//! the pixels adds a strided reduction. For the small autoencoder kino-mini trains (and
//! encodes every DiT batch with) those were two thirds of its training step and a quarter of
//! a DiT step. Here the input is laid out
//! channels-last; each task gathers a tile of [`TILE`] output pixels' `k_h x k_w` runs of
//! channels into a small patch matrix (which stays in cache) and multiplies it by the weight
//! with `gemm`, the matrix kernels candle itself uses. The backward rebuilds the same tiles:
//! the weight's gradient is their products with the output gradient, the bias' its column
//! sums, and the input's gradient the output gradient times the weight, added back onto the
//! pixels each patch value came from. Tiles never span two images and each is one
//! single-threaded product, so an image's result does not depend on what else is in the batch.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::{contiguous_f32, unpack_gradients};

/// Output pixels per tile: a `TILE x k_h k_w C` patch matrix of a few hundred KB.
const TILE: usize = 128;

/// Images whose weight gradients one task sums before the tasks' sums are added in order.
const IMAGES_PER_SUM: usize = 4;

/// Where one output pixel's patch lies in a channels-last image.
#[derive(Debug, Clone, Copy)]
pub(super) struct PatchGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Input channels.
    pub channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// The same stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl PatchGeometry {
    /// Whether the kernel fits the padded input and the stride is positive.
    pub fn is_valid(&self) -> bool {
        let (kh, kw) = self.kernel;
        self.stride > 0
            && kh > 0
            && kw > 0
            && self.height + 2 * self.padding >= kh
            && self.width + 2 * self.padding >= kw
    }

    /// Output height and width (of a valid geometry).
    pub fn output(&self) -> (usize, usize) {
        let span = |size: usize, k: usize| (size + 2 * self.padding - k) / self.stride + 1;
        (
            span(self.height, self.kernel.0),
            span(self.width, self.kernel.1),
        )
    }

    /// Values in one patch row: `k_h * k_w * C`, in (kernel row, kernel column, channel) order.
    pub fn patch_len(&self) -> usize {
        self.kernel.0 * self.kernel.1 * self.channels
    }

    /// Output pixels per image.
    fn pixels(&self) -> usize {
        let (ho, wo) = self.output();
        ho * wo
    }

    /// Values per input image.
    fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Checks the geometry and that buffers of `values` hold what it says.
    fn check(&self, op: &str, values: &[(&str, usize, usize)]) -> Result<()> {
        if !self.is_valid() {
            candle_core::bail!("{op}: the kernel does not fit {self:?}");
        }
        for &(what, got, want) in values {
            if got != want {
                candle_core::bail!("{op}: {got} values of {what}, {want} expected for {self:?}");
            }
        }
        Ok(())
    }

    /// Calls `f(patch_offset, image_offset)` for every in-bounds kernel tap of output pixel
    /// `pixel`: where its `C` values go in the patch row and come from in the image.
    #[inline(always)]
    fn taps(&self, pixel: usize, mut f: impl FnMut(usize, usize)) {
        let (_, wo) = self.output();
        let (oy, ox) = (pixel / wo, pixel % wo);
        let (kh, kw) = self.kernel;
        let c = self.channels;
        for dy in 0..kh {
            let Some(y) = (oy * self.stride + dy).checked_sub(self.padding) else {
                continue;
            };
            if y >= self.height {
                continue;
            }
            for dx in 0..kw {
                let Some(x) = (ox * self.stride + dx).checked_sub(self.padding) else {
                    continue;
                };
                if x < self.width {
                    f((dy * kw + dx) * c, (y * self.width + x) * c);
                }
            }
        }
    }

    /// Fills `patches` (`rows x patch_len`) with the patches of output pixels
    /// `first..first + rows` of `image`.
    fn gather(&self, image: &[f32], first: usize, patches: &mut [f32]) {
        let (k, c) = (self.patch_len(), self.channels);
        for (i, row) in patches.chunks_exact_mut(k).enumerate() {
            row.fill(0.0);
            self.taps(first + i, |to, from| {
                row[to..to + c].copy_from_slice(&image[from..from + c]);
            });
        }
    }
}

/// A row-major matrix view for [`gemm_into`]: its data and its row and column strides.
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major `rows x cols` matrix.
    fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix whose rows are `stride` apart: element `(i, j)`
    /// is `data[j * stride + i]`.
    fn transposed(data: &'a [f32], stride: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: stride,
        }
    }

    /// The index one past the last element of an `rows x cols` view (0 for an empty one).
    fn extent(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        (rows - 1) * self.row_stride + (cols - 1) * self.col_stride + 1
    }
}

/// `dst (m x n, row-major) (+)= lhs (m x k) * rhs (k x n)` on this thread: added to `dst`'s
/// values when `accumulate`, else written over them.
fn gemm_into(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: &Operand,
    rhs: &Operand,
    accumulate: bool,
) {
    assert!(
        dst.len() >= m * n
            && lhs.data.len() >= lhs.extent(m, k)
            && rhs.data.len() >= rhs.extent(k, n),
        "gemm_into: operands smaller than {m}x{k} * {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    #[allow(unsafe_code)] // gemm takes raw pointers and strides
    // SAFETY: the assertion above checks that every element the strides reach lies inside
    // the borrowed slices; `dst` is borrowed mutably, so nothing else reads or writes it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Channels-last images `(N, H, W, C)`, weight `(O, k_h k_w C)` and bias `(O)` -> output
/// pixels `(N H' W', O)`.
pub(super) struct Conv2dTiles(pub PatchGeometry);

/// The input's gradient from `(weight, output gradient)`: `(N, H, W, C)`.
struct Conv2dInputGrad(PatchGeometry);

/// The weight's and bias' gradients from `(input, output gradient)`: `O k_h k_w C + O` values.
struct Conv2dParamGrad(PatchGeometry);

impl CustomOp3 for Conv2dTiles {
    fn name(&self) -> &'static str {
        "conv2d-tiles"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        w_storage: &CpuStorage,
        w_layout: &Layout,
        b_storage: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let w = contiguous_f32(w_storage, w_layout, self.name())?;
        let bias = contiguous_f32(b_storage, b_layout, self.name())?;
        let (k, o) = (g.patch_len(), g.out_channels);
        g.check(
            self.name(),
            &[
                ("input", x.len(), g.batch * g.image_len()),
                ("weight", w.len(), o * k),
                ("bias", bias.len(), o),
            ],
        )?;
        let pixels = g.pixels();
        let mut out = vec![0f32; g.batch * pixels * o];
        if !out.is_empty() {
            out.par_chunks_mut(pixels * o)
                .enumerate()
                .for_each(|(n, image_out)| {
                    let image = &x[n * g.image_len()..(n + 1) * g.image_len()];
                    image_out
                        .par_chunks_mut(TILE * o)
                        .enumerate()
                        .for_each(|(t, tile_out)| {
                            let rows = tile_out.len() / o;
                            let mut patches = vec![0f32; rows * k];
                            g.gather(image, t * TILE, &mut patches);
                            for row in tile_out.chunks_exact_mut(o) {
                                row.copy_from_slice(bias);
                            }
                            let (lhs, rhs) =
                                (Operand::rows(&patches, k), Operand::transposed(w, k));
                            gemm_into((rows, o, k), tile_out, &lhs, &rhs, true);
                        });
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((g.batch * pixels, o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        let dx = weight
            .contiguous()?
            .apply_op2_no_bwd(&grad, &Conv2dInputGrad(self.0))?;
        let both = x
            .contiguous()?
            .apply_op2_no_bwd(&grad, &Conv2dParamGrad(self.0))?;
        let [dw, db] = unpack_gradients(&both, [weight, bias])?;
        Ok((Some(dx), dw, db))
    }
}

impl CustomOp2 for Conv2dInputGrad {
    fn name(&self) -> &'static str {
        "conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        w_storage: &CpuStorage,
        w_layout: &Layout,
        d_storage: &CpuStorage,
        d_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let w = contiguous_f32(w_storage, w_layout, self.name())?;
        let grad = contiguous_f32(d_storage, d_layout, self.name())?;
        let (k, o, c) = (g.patch_len(), g.out_channels, g.channels);
        let pixels = g.pixels();
        g.check(
            self.name(),
            &[
                ("weight", w.len(), o * k),
                ("output gradient", grad.len(), g.batch * pixels * o),
            ],
        )?;
        let mut dx = vec![0f32; g.batch * g.image_len()];
        if !dx.is_empty() && pixels > 0 {
            // One image per task: tiles of one image overlap at their borders.
            dx.par_chunks_mut(g.image_len())
                .enumerate()
                .for_each(|(n, image_dx)| {
                    let image_grad = &grad[n * pixels * o..(n + 1) * pixels * o];
                    let mut patches = vec![0f32; TILE * k];
                    for (t, tile_grad) in image_grad.chunks(TILE * o).enumerate() {
                        let rows = tile_grad.len() / o;
                        let dp = &mut patches[..rows * k];
                        let (lhs, rhs) = (Operand::rows(tile_grad, o), Operand::rows(w, k));
                        gemm_into((rows, k, o), dp, &lhs, &rhs, false);
                        for (i, row) in dp.chunks_exact(k).enumerate() {
                            g.taps(t * TILE + i, |from, to| {
                                image_dx[to..to + c]
                                    .iter_mut()
                                    .zip(&row[from..from + c])
                                    .for_each(|(a, b)| *a += b);
                            });
                        }
                    }
                });
        }
        Ok((
            CpuStorage::F32(dx),
            Shape::from((g.batch, g.height, g.width, c)),
        ))
    }
}

impl CustomOp2 for Conv2dParamGrad {
    fn name(&self) -> &'static str {
        "conv2d-param-grad"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        d_storage: &CpuStorage,
        d_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous_f32(x_storage, x_layout, self.name())?;
        let grad = contiguous_f32(d_storage, d_layout, self.name())?;
        let (k, o) = (g.patch_len(), g.out_channels);
        let pixels = g.pixels();
        g.check(
            self.name(),
            &[
                ("input", x.len(), g.batch * g.image_len()),
                ("output gradient", grad.len(), g.batch * pixels * o),
            ],
        )?;
        // Partial sums over fixed groups of images, added in order: the same result on any
        // number of threads.
        let groups: Vec<Vec<f32>> = (0..g.batch.div_ceil(IMAGES_PER_SUM))
            .into_par_iter()
            .map(|group| {
                let mut acc = vec![0f32; o * k + o];
                let (dw, db) = acc.split_at_mut(o * k);
                let mut patches = vec![0f32; TILE * k];
                let last = ((group + 1) * IMAGES_PER_SUM).min(g.batch);
                for n in group * IMAGES_PER_SUM..last {
                    let image = &x[n * g.image_len()..(n + 1) * g.image_len()];
                    let image_grad = &grad[n * pixels * o..(n + 1) * pixels * o];
                    for (t, tile_grad) in image_grad.chunks(TILE * o).enumerate() {
                        let rows = tile_grad.len() / o;
                        let p = &mut patches[..rows * k];
                        g.gather(image, t * TILE, p);
                        // dW (O x K) += grad_tile^T (O x rows) * patches (rows x K)
                        let (lhs, rhs) = (Operand::transposed(tile_grad, o), Operand::rows(p, k));
                        gemm_into((o, k, rows), dw, &lhs, &rhs, true);
                        for row in tile_grad.chunks_exact(o) {
                            db.iter_mut().zip(row).for_each(|(a, b)| *a += b);
                        }
                    }
                }
                acc
            })
            .collect();
        let mut sums = vec![0f32; o * k + o];
        for part in &groups {
            sums.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        Ok((CpuStorage::F32(sums), Shape::from(o * k + o)))
    }
}
