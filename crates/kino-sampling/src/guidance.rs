//! Classifier-free guidance: push the prediction away from the unconditional (negative prompt)
//! one.

use candle_core::Tensor;

use crate::error::Result;

/// Whether guidance is on, that is whether the unconditional (negative-prompt) pass is needed.
///
/// As in diffusers' `WanPipeline.do_classifier_free_guidance`: `guidance > 1`.
pub fn guidance_enabled(guidance: f64) -> bool {
    guidance > 1.0
}

/// Classifier-free guidance: `uncond + guidance * (cond - uncond)`.
///
/// Like the reference pipeline, guidance <= 1 means no guidance and returns `cond` unchanged
/// (callers should then skip the unconditional pass: see [`guidance_enabled`]). The arithmetic is
/// done in the inputs' dtype, as diffusers does it in the transformer's dtype.
pub fn cfg(cond: &Tensor, uncond: &Tensor, guidance: f64) -> Result<Tensor> {
    if !guidance_enabled(guidance) {
        return Ok(cond.clone());
    }
    let diff = (cond - uncond)?;
    Ok((uncond + diff.affine(guidance, 0.0)?)?)
}

/// Guidance rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
/// Flawed", section 3.4; diffusers' `rescale_noise_cfg`): the guided prediction scaled so that
/// each batch element's standard deviation over all its other axes is the conditional
/// prediction's, then mixed back with the unscaled one, `phi * rescaled + (1 - phi) * guided`.
/// Large guidance scales inflate the prediction's spread, which shows as over-saturated,
/// many-coloured smears; `phi` 0 returns `guided` unchanged.
pub fn rescale_guided(guided: &Tensor, cond: &Tensor, phi: f64) -> Result<Tensor> {
    if phi == 0.0 {
        return Ok(guided.clone());
    }
    let std_cond = per_item_std(cond)?;
    let std_guided = per_item_std(guided)?;
    // A constant guided prediction has nothing to rescale; keep it (no division by zero).
    let ratio = (std_cond / std_guided.clamp(1e-12, f64::INFINITY)?)?;
    let rescaled = guided.broadcast_mul(&ratio)?;
    Ok(((rescaled * phi)? + (guided * (1.0 - phi))?)?)
}

/// The (population) standard deviation of each batch element over its other axes, shaped to
/// broadcast back: `(B, 1, ..., 1)`.
fn per_item_std(x: &Tensor) -> Result<Tensor> {
    let b = x.dim(0)?;
    let flat = x.flatten_from(1)?;
    let mean = flat.mean_keepdim(1)?;
    let var = flat.broadcast_sub(&mean)?.sqr()?.mean_keepdim(1)?;
    let mut shape = vec![1usize; x.rank()];
    shape[0] = b;
    Ok(var.sqrt()?.reshape(shape)?)
}

/// Where in the schedule guidance applies: at noise levels `sigma` in `[low, high]` only
/// (Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample and
/// Distribution Quality in Diffusion Models"). Outside it the conditional prediction is used
/// alone and the unconditional pass is skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuidanceInterval {
    /// The lowest noise level guided, in `[0, 1]`.
    pub low: f64,
    /// The highest noise level guided, in `[0, 1]`, at least `low`.
    pub high: f64,
}

impl GuidanceInterval {
    /// An interval `[low, high]`, or a message naming what is wrong with it.
    pub fn new(low: f64, high: f64) -> std::result::Result<Self, String> {
        let in_range = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !(in_range(low) && in_range(high)) {
            return Err(format!(
                "the noise levels must be in [0, 1], got {low} and {high}"
            ));
        }
        if low > high {
            return Err(format!("the low end {low} is above the high end {high}"));
        }
        Ok(Self { low, high })
    }

    /// Whether the step at noise level `sigma` is guided.
    pub fn contains(&self, sigma: f64) -> bool {
        (self.low..=self.high).contains(&sigma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn tensor(values: &[f32], shape: (usize, usize, usize)) -> Tensor {
        Tensor::from_slice(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn full_rescale_gives_each_item_the_conditional_spread() {
        // Two batch items; the guided one has twice (item 0) and half (item 1) the spread.
        let cond = tensor(&[1.0, -1.0, 3.0, 1.0, 0.0, 2.0, 0.0, 2.0], (2, 2, 2));
        let guided = tensor(&[2.0, -2.0, 6.0, 2.0, 1.0, 1.5, 1.0, 1.5], (2, 2, 2));
        let out = rescale_guided(&guided, &cond, 1.0).unwrap();
        let std_out = per_item_std(&out).unwrap().flatten_all().unwrap();
        let std_cond = per_item_std(&cond).unwrap().flatten_all().unwrap();
        let (o, c) = (
            std_out.to_vec1::<f32>().unwrap(),
            std_cond.to_vec1::<f32>().unwrap(),
        );
        for (o, c) in o.iter().zip(&c) {
            assert!((o - c).abs() < 1e-6, "{o} vs {c}");
        }
        // Item 0 is exactly twice cond, so rescaling gives cond back.
        let first = out
            .get(0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(first, vec![1.0, -1.0, 3.0, 1.0]);
    }

    #[test]
    fn rescale_mixes_linearly_and_zero_is_identity() {
        let cond = tensor(&[1.0, -1.0, 3.0, 1.0], (1, 2, 2));
        let guided = tensor(&[2.0, -2.0, 6.0, 2.0], (1, 2, 2));
        let none = rescale_guided(&guided, &cond, 0.0).unwrap();
        assert_eq!(
            none.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![2.0, -2.0, 6.0, 2.0]
        );
        // Rescaled is cond (guided is 2 cond); 0.7 of it plus 0.3 of guided is 1.3 cond.
        let mixed = rescale_guided(&guided, &cond, 0.7).unwrap();
        let mixed = mixed.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (m, c) in mixed.iter().zip([1.0f32, -1.0, 3.0, 1.0]) {
            assert!((m - 1.3 * c).abs() < 1e-5, "{m} vs {}", 1.3 * c);
        }
    }

    #[test]
    fn a_constant_guided_prediction_stays_finite() {
        let cond = tensor(&[1.0, -1.0], (1, 1, 2));
        let guided = tensor(&[0.5, 0.5], (1, 1, 2));
        let out = rescale_guided(&guided, &cond, 1.0).unwrap();
        let v = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }

    #[test]
    fn interval_checks_its_ends() {
        assert!(GuidanceInterval::new(0.2, 0.9).is_ok());
        assert!(
            GuidanceInterval::new(0.9, 0.2)
                .unwrap_err()
                .contains("above")
        );
        assert!(
            GuidanceInterval::new(-0.1, 0.5)
                .unwrap_err()
                .contains("[0, 1]")
        );
        assert!(GuidanceInterval::new(0.0, f64::NAN).is_err());
        let i = GuidanceInterval::new(0.2, 0.9).unwrap();
        assert!(i.contains(0.2) && i.contains(0.9) && i.contains(0.5));
        assert!(!i.contains(0.1) && !i.contains(0.95));
    }
}
