//! The first-frame conditioning channels of image-to-video transformers (Wan i2v style): a
//! mask that is 1 on the frames given and those frames, stacked after the noisy latent on the
//! channel axis. Training and the pipeline build them here, so what a model learns from is
//! exactly what it is given at generation time.

use candle_core::{Result, Tensor};

/// The conditioning channels `(B, 1 + C, T, H, W)` for `first` `(B, C, H, W)` first frames:
/// for clip `b` with `given[b]`, frame 0 holds a mask of ones and `first[b]`; everything
/// else is zero (a clip without a first frame sees only zeros, as in text-only training).
pub fn first_frame_condition(first: &Tensor, given: &[bool], frames: usize) -> Result<Tensor> {
    let (b, c, h, w) = first.dims4()?;
    if given.len() != b {
        candle_core::bail!(
            "first_frame_condition: {} flags for {b} frames",
            given.len()
        );
    }
    let device = first.device();
    let flags: Vec<f32> = given.iter().map(|&g| f32::from(u8::from(g))).collect();
    let flags = Tensor::from_vec(flags, (b, 1, 1, 1), device)?.to_dtype(first.dtype())?;
    let mask = flags.broadcast_as((b, 1, h, w))?;
    let frame = first.broadcast_mul(&flags)?;
    let head = Tensor::cat(&[&mask, &frame], 1)?.unsqueeze(2)?; // (B, 1 + C, 1, H, W)
    if frames == 1 {
        return Ok(head);
    }
    let rest = Tensor::zeros((b, 1 + c, frames - 1, h, w), first.dtype(), device)?;
    Tensor::cat(&[&head, &rest], 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn only_given_clips_see_their_first_frame_and_mask() -> Result<()> {
        let first = Tensor::arange(1f32, 17.0, &Device::Cpu)?.reshape((2, 2, 2, 2))?;
        let cond = first_frame_condition(&first, &[true, false], 3)?;
        assert_eq!(cond.dims(), &[2, 3, 3, 2, 2]);
        // Clip 0, frame 0: mask ones, then its frame.
        let c0 = cond.get(0)?.narrow(1, 0, 1)?.squeeze(1)?;
        assert_eq!(c0.get(0)?.flatten_all()?.to_vec1::<f32>()?, vec![1.0; 4]);
        assert_eq!(
            c0.narrow(0, 1, 2)?.flatten_all()?.to_vec1::<f32>()?,
            first.get(0)?.flatten_all()?.to_vec1::<f32>()?
        );
        // Clip 0's later frames and all of clip 1 are zero.
        let later = cond.get(0)?.narrow(1, 1, 2)?;
        assert_eq!(later.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
        assert_eq!(cond.get(1)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
        assert_eq!(cond.dtype(), DType::F32);
        Ok(())
    }
}
