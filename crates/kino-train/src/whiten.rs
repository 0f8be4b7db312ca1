//! Whitened latents: the clip autoencoder's posterior means turned, by one linear map per
//! latent cell, into channels that are uncorrelated with unit variance, and that map folded
//! into the VAE's own 1x1 convolutions (`quant_conv` out, `post_quant_conv` in) so the
//! exported VAE is still a plain `AutoencoderKLWan`.
//!
//! Why: flow matching adds the same noise to every latent direction. Measured on the shipped
//! autoencoder, the 8 channels' covariance has eigenvalues from 3.9 down to 0.017 (per-channel
//! normalisation leaves the correlations), and about a quarter of a clip's motion (its latent
//! minus its still first frame's) lies in directions of variance 0.43 or less, where noise of
//! sigma 0.43 already outweighs the signal; the background's direction keeps a signal-to-noise
//! ratio near 7 there. Whitening gives every direction the same ratio at every noise level.
//! Measured, it does not pay: a DiT trained on whitened latents (`recipes/latent-whiten.json`)
//! scored colour 53.6% and motion 26.8% against the unwhitened 67.9% and 25.9%, and redrawing
//! the world's clips from sigma 0.43 kept colour 45% and motion 36% against 68% and 43%: the
//! colour directions lost their margin and motion gained none (the model card has the rest).
//!
//! The map is ZCA (`V diag(1 / sqrt(lambda)) V^T` after subtracting the mean), the whitening
//! that rotates the channels least; eigenvalues below [`EIGENVALUE_FLOOR`] times the largest
//! are raised to it, so no dead direction is blown up into noise. Only the posterior mean is
//! mapped: the log-variance half of `quant_conv` keeps the old basis (Kino encodes with the
//! mean, as the pipelines do).

use candle_core::{DType, Result, Tensor};

/// Eigenvalues are floored at this fraction of the largest before whitening.
pub const EIGENVALUE_FLOOR: f64 = 1e-3;

/// The affine map of one latent cell's channels to whitened ones, and back.
#[derive(Debug, Clone, PartialEq)]
pub struct Whitening {
    /// The channels' mean, subtracted first.
    pub mean: Vec<f64>,
    /// `z x z`: whitened = `forward (x - mean)`.
    pub forward: Vec<Vec<f64>>,
    /// `z x z`: x = `inverse whitened + mean`.
    pub inverse: Vec<Vec<f64>>,
}

impl Whitening {
    /// The ZCA whitening of latents `(B, z, T, H, W)` (every cell of every clip one sample).
    pub fn measure(latents: &Tensor) -> Result<Self> {
        let z = latents.dim(1)?;
        // (B, z, T, H, W) -> (samples, z)
        let rows = latents
            .transpose(0, 1)?
            .flatten_from(1)?
            .t()?
            .to_dtype(DType::F64)?
            .to_vec2::<f64>()?;
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..z)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let mut cov = vec![vec![0.0; z]; z];
        for r in &rows {
            for i in 0..z {
                for j in 0..z {
                    cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / n;
                }
            }
        }
        Ok(Self::from_covariance(mean, &cov))
    }

    /// The ZCA whitening of data with this mean and covariance.
    pub fn from_covariance(mean: Vec<f64>, covariance: &[Vec<f64>]) -> Self {
        let (values, vectors) = symmetric_eigen(covariance);
        let largest = values.iter().cloned().fold(0.0f64, f64::max);
        let floor = (largest * EIGENVALUE_FLOOR).max(1e-12);
        let z = values.len();
        let map = |scale: &dyn Fn(f64) -> f64| -> Vec<Vec<f64>> {
            (0..z)
                .map(|i| {
                    (0..z)
                        .map(|j| {
                            (0..z)
                                .map(|k| {
                                    vectors[i][k] * scale(values[k].max(floor)) * vectors[j][k]
                                })
                                .sum()
                        })
                        .collect()
                })
                .collect()
        };
        Self {
            mean,
            forward: map(&|v| 1.0 / v.sqrt()),
            inverse: map(&|v| v.sqrt()),
        }
    }

    /// Folds the map into a `quant_conv` (`(2z, 2z, 1, 1, 1)` weight, `(2z)` bias, the first
    /// `z` outputs the mean) and a `post_quant_conv` (`(z, z, 1, 1, 1)`, `(z)`): returns the
    /// four new tensors in that order, so that the encoder's mean comes out whitened and the
    /// decoder takes whitened latents.
    pub fn fold(
        &self,
        quant_weight: &Tensor,
        quant_bias: &Tensor,
        post_weight: &Tensor,
        post_bias: &Tensor,
    ) -> Result<[Tensor; 4]> {
        let z = self.mean.len();
        let device = quant_weight.device();
        let dtype = quant_weight.dtype();
        let matrix = |m: &[Vec<f64>]| -> Result<Tensor> {
            let flat: Vec<f64> = m.iter().flatten().copied().collect();
            Tensor::from_vec(flat, (z, z), device)
        };
        let column = |v: &[f64]| Tensor::from_vec(v.to_vec(), (v.len(), 1), device);
        let forward = matrix(&self.forward)?;
        let inverse = matrix(&self.inverse)?;
        let mean = column(&self.mean)?;

        let two_z = quant_weight.dim(0)?;
        let q = quant_weight.to_dtype(DType::F64)?.reshape((two_z, two_z))?;
        let qb = quant_bias.to_dtype(DType::F64)?.reshape((two_z, 1))?;
        // mean rows: F W_mu, F (b_mu - m); the log-variance rows stay.
        let q_mu = forward.matmul(&q.narrow(0, 0, z)?)?;
        let qb_mu = forward.matmul(&(qb.narrow(0, 0, z)? - &mean)?)?;
        let q = Tensor::cat(&[&q_mu, &q.narrow(0, z, two_z - z)?], 0)?;
        let qb = Tensor::cat(&[&qb_mu, &qb.narrow(0, z, two_z - z)?], 0)?;

        let p = post_weight.to_dtype(DType::F64)?.reshape((z, z))?;
        let pb = post_bias.to_dtype(DType::F64)?.reshape((z, 1))?;
        // P (I x' + m) + c = (P I) x' + (P m + c)
        let p_new = p.matmul(&inverse)?;
        let pb_new = (p.matmul(&mean)? + pb)?;
        Ok([
            q.reshape(quant_weight.shape())?.to_dtype(dtype)?,
            qb.reshape(quant_bias.shape())?.to_dtype(dtype)?,
            p_new.reshape(post_weight.shape())?.to_dtype(dtype)?,
            pb_new.reshape(post_bias.shape())?.to_dtype(dtype)?,
        ])
    }
}

/// Eigenvalues and eigenvectors (as columns: `vectors[i][k]` is entry `i` of vector `k`) of a
/// small symmetric matrix, by cyclic Jacobi rotations.
pub fn symmetric_eigen(matrix: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = matrix.len();
    let mut a: Vec<Vec<f64>> = matrix.to_vec();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().max(1e-300);
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
                // rows p < q
                let (head, tail) = a.split_at_mut(q);
                for (pk, qk) in head[p].iter_mut().zip(tail[0].iter_mut()) {
                    let (x, y) = (*pk, *qk);
                    *pk = c * x - s * y;
                    *qk = s * x + c * y;
                }
                for row in v.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

    use super::*;
    use candle_core::Device;

    #[test]
    fn eigen_decomposition_rebuilds_the_matrix() {
        let m = vec![
            vec![4.0, 1.0, 0.5],
            vec![1.0, 3.0, -0.2],
            vec![0.5, -0.2, 0.1],
        ];
        let (values, vectors) = symmetric_eigen(&m);
        for i in 0..3 {
            for j in 0..3 {
                let rebuilt: f64 = (0..3)
                    .map(|k| vectors[i][k] * values[k] * vectors[j][k])
                    .sum();
                assert!((rebuilt - m[i][j]).abs() < 1e-10, "{i},{j}: {rebuilt}");
                let dot: f64 = (0..3).map(|k| vectors[k][i] * vectors[k][j]).sum();
                assert!((dot - f64::from(u8::from(i == j))).abs() < 1e-10);
            }
        }
    }

    /// Correlated, offset latents `(B, 2, 1, 2, 2)`.
    fn correlated() -> Tensor {
        let mut values = Vec::new();
        let mut state = 7u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..400 {
            let (x, y) = (uniform(), uniform());
            a.push((3.0 * x + 1.0) as f32);
            b.push((2.0 * x + 0.3 * y - 2.0) as f32);
        }
        // 100 clips of 2 channels x 4 cells
        for clip in 0..100 {
            values.extend_from_slice(&a[clip * 4..clip * 4 + 4]);
            values.extend_from_slice(&b[clip * 4..clip * 4 + 4]);
        }
        Tensor::from_vec(values, (100, 2, 1, 2, 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn folded_convolutions_whiten_the_mean_and_undo_it_for_the_decoder() {
        let latents = correlated();
        let w = Whitening::measure(&latents).unwrap();
        // quant_conv as the identity on (mean, logvar): its mean half's output is the latent.
        let z = 2;
        let eye = |n: usize| {
            Tensor::eye(n, DType::F32, &Device::Cpu)
                .unwrap()
                .reshape((n, n, 1, 1, 1))
                .unwrap()
        };
        let zeros = |n: usize| Tensor::zeros(n, DType::F32, &Device::Cpu).unwrap();
        let [q, qb, p, pb] = w
            .fold(&eye(2 * z), &zeros(2 * z), &eye(z), &zeros(z))
            .unwrap();
        // Apply the new quant_conv's mean half to every cell: (samples, z) x (z, z)^T + b.
        let rows = latents
            .transpose(0, 1)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .t()
            .unwrap();
        let q_mu = q
            .narrow(0, 0, z)
            .unwrap()
            .reshape((z, 2 * z))
            .unwrap()
            .narrow(1, 0, z)
            .unwrap();
        let b_mu = qb.narrow(0, 0, z).unwrap();
        let white = rows
            .matmul(&q_mu.t().unwrap())
            .unwrap()
            .broadcast_add(&b_mu)
            .unwrap();
        let white_latents = white
            .t()
            .unwrap()
            .reshape((z, 100, 1, 2, 2))
            .unwrap()
            .transpose(0, 1)
            .unwrap();
        let again = Whitening::measure(&white_latents).unwrap();
        for i in 0..z {
            assert!(again.mean[i].abs() < 1e-5, "mean {:?}", again.mean);
            for j in 0..z {
                // whitened data's covariance is the identity, so its inverse map is too
                let want = f64::from(u8::from(i == j));
                assert!(
                    (again.inverse[i][j] - want).abs() < 1e-4,
                    "{:?}",
                    again.inverse
                );
            }
        }
        // The log-variance half is untouched.
        let logvar = q.narrow(0, z, z).unwrap().flatten_all().unwrap();
        let eye_half = eye(2 * z).narrow(0, z, z).unwrap().flatten_all().unwrap();
        assert_eq!(
            logvar.to_vec1::<f32>().unwrap(),
            eye_half.to_vec1::<f32>().unwrap()
        );
        // The new post_quant_conv maps whitened latents back to the originals.
        let p = p.reshape((z, z)).unwrap();
        let back = white
            .matmul(&p.t().unwrap())
            .unwrap()
            .broadcast_add(&pb)
            .unwrap();
        let err = kino_testkit::max_abs_diff(&back, &rows);
        assert!(err < 1e-4, "round trip error {err}");
    }
}
