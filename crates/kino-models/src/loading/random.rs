//! Seeded random weights of whatever shape a model asks for, for benchmarks and shape tests
//! that need a real architecture but no download.
//!
//! Values are uniform noise with a chosen standard deviation, derived from the seed and the
//! tensor's name only: the same name gets the same values whatever order layers load in.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::{Init, VarBuilder, var_builder::SimpleBackend};

/// A [`SimpleBackend`] that invents every tensor: seeded uniform noise of standard deviation
/// `std`, the same for the same seed and name.
#[derive(Debug, Clone, Copy)]
pub struct RandomWeights {
    /// Mixed with each tensor's name to seed its values.
    pub seed: u64,
    /// The standard deviation of every tensor's values.
    pub std: f32,
}

impl RandomWeights {
    /// Random weights with the given seed and a standard deviation of 0.02.
    pub fn new(seed: u64) -> Self {
        Self { seed, std: 0.02 }
    }

    /// A [`VarBuilder`] that serves these random weights in `dtype` on `device`.
    pub fn into_var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }

    /// The tensor called `name` of shape `shape`, made in f32 and cast to `dtype`.
    pub fn tensor(
        &self,
        name: &str,
        shape: &Shape,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let mut state = splitmix64(self.seed ^ fnv1a(name.as_bytes()));
        // Uniform on [-a, a] has standard deviation a / sqrt(3).
        let a = self.std * 3f32.sqrt();
        let values: Vec<f32> = (0..shape.elem_count())
            .map(|_| {
                state = splitmix64(state);
                // The top 24 bits as a fraction in [0, 1).
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
                (2.0 * unit - 1.0) * a
            })
            .collect();
        Tensor::from_vec(values, shape.clone(), device)?.to_dtype(dtype)
    }
}

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.tensor(name, &s, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape to make {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// SplitMix64's output function (Steele, Lea and Flood 2014): a fast, well-mixed step.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, to turn a tensor name into seed bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(w: RandomWeights, name: &str) -> Vec<f32> {
        let t = w.tensor(name, &Shape::from((64, 32)), DType::F32, &Device::Cpu);
        t.and_then(|t| t.flatten_all()?.to_vec1())
            .expect("cpu tensor")
    }

    #[test]
    fn same_seed_and_name_give_the_same_values() {
        let w = RandomWeights::new(7);
        assert_eq!(
            values(w, "blocks.0.attn1.to_q.weight"),
            values(w, "blocks.0.attn1.to_q.weight")
        );
        assert_ne!(
            values(w, "blocks.0.attn1.to_q.weight"),
            values(w, "blocks.0.attn1.to_k.weight")
        );
        assert_ne!(values(w, "a"), values(RandomWeights::new(8), "a"));
    }

    #[test]
    fn values_have_the_requested_spread_and_shape() {
        let v = values(RandomWeights { seed: 1, std: 0.5 }, "w");
        assert_eq!(v.len(), 64 * 32);
        let n = v.len() as f32;
        let mean = v.iter().sum::<f32>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((std - 0.5).abs() < 0.05, "std {std}");
        assert!(v.iter().all(|x| x.abs() <= 0.5 * 3f32.sqrt()));
    }

    #[test]
    fn var_builder_serves_any_shape_in_the_asked_dtype() {
        let vb = RandomWeights::new(0).into_var_builder(DType::BF16, &Device::Cpu);
        let t = vb.pp("x").get((3, 5, 7), "weight").expect("random tensor");
        assert_eq!(t.dims(), &[3, 5, 7]);
        assert_eq!(t.dtype(), DType::BF16);
    }
}
