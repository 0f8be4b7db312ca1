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
