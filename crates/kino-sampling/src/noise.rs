//! Seeded Gaussian noise: the starting latents of a generation.

use candle_core::{Device, Tensor};

use crate::error::Result;

/// Standard normal float32 noise of `shape` on `device`, the same for the same `seed`.
///
/// The numbers come from SplitMix64 through the Box-Muller transform, generated on the CPU in
/// row-major order, so the same seed gives the same tensor on every device and for every
/// thread count (up to the last bit of the platform's `ln`/`sin`/`cos`).
///
/// This does NOT reproduce PyTorch's `torch.randn` for a `torch.manual_seed`: a video matching a
/// diffusers run bit for bit needs that run's noise, which is what the CLI's `--noise FILE`
/// (a safetensors tensor) is for.
pub fn randn(shape: &[usize], seed: u64, device: &Device) -> Result<Tensor> {
    let count: usize = shape.iter().product();
    let mut rng = SplitMix64(seed);
    let mut values = Vec::with_capacity(count + 1);
    while values.len() < count {
        // u1 in (0, 1] so that ln(u1) is finite; u2 in [0, 1).
        let u1 = ((rng.next() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let u2 = (rng.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        values.push((radius * angle.cos()) as f32);
        values.push((radius * angle.sin()) as f32);
    }
    values.truncate(count);
    Ok(Tensor::from_vec(values, shape, device)?)
}

/// Steele, Lea and Flood's SplitMix64: tiny, fast, and good enough for noise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
