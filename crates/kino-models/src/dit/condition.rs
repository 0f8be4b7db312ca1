//! The first-frame conditioning channels of image-to-video transformers (Wan i2v style): a
//! mask that is 1 on the frames given and those frames, stacked after the noisy latent on the
//! channel axis. Training and the pipeline build them here, so what a model learns from is
//! exactly what it is given at generation time.

use candle_core::{Result, Tensor};

/// Where the given first frame sits in the conditioning channels. Recorded per model
/// (`first_frame_layout` in kino-mini's `_kino_defaults`): a model samples with the layout it
/// was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstFrameLayout {
    /// Wan's image-to-video layout: the frame at frame 0, zeros after it. Later frames must
    /// look the frame up through attention across time.
    #[default]
    FirstFrameOnly,
    /// The frame repeated at every frame (the mask still marks frame 0 alone), so every token
    /// holds the given frame's content at its own place: keeping or shifting it becomes a
    /// lookup among spatial neighbours instead of one across time.
    EveryFrame,
}

/// The conditioning channels `(B, 1 + C, T, H, W)` for `first` `(B, C, H, W)` first frames:
/// for clip `b` with `given[b]`, frame 0 holds a mask of ones, and `first[b]` sits where
/// `layout` says; everything else is zero (a clip without a first frame sees only zeros, as
/// in text-only training).
pub fn first_frame_condition(
    first: &Tensor,
    given: &[bool],
    frames: usize,
    layout: FirstFrameLayout,
) -> Result<Tensor> {
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
    let mask = flags.broadcast_as((b, 1, h, w))?.unsqueeze(2)?; // (B, 1, 1, H, W)
    let frame = first.broadcast_mul(&flags)?.unsqueeze(2)?; // (B, C, 1, H, W)
    let (mask, frame) = if frames == 1 {
        (mask, frame)
    } else {
        let no_mask = Tensor::zeros((b, 1, frames - 1, h, w), first.dtype(), device)?;
        let later = match layout {
            FirstFrameLayout::FirstFrameOnly => {
                Tensor::zeros((b, c, frames - 1, h, w), first.dtype(), device)?
            }
            FirstFrameLayout::EveryFrame => frame.broadcast_as((b, c, frames - 1, h, w))?,
        };
        (
            Tensor::cat(&[&mask, &no_mask], 2)?,
            Tensor::cat(&[&frame, &later], 2)?,
        )
    };
    Tensor::cat(&[&mask, &frame], 1)?.contiguous()
}

/// The whole conditioning input of a first-frame model: [`first_frame_condition`], then
/// [`position_planes`] when the model takes them (`(B, 1 + C [+ 3], T, H, W)`).
pub fn condition_channels(
    first: &Tensor,
    given: &[bool],
    frames: usize,
    layout: FirstFrameLayout,
    with_positions: bool,
) -> Result<Tensor> {
    let condition = first_frame_condition(first, given, frames, layout)?;
    if !with_positions {
        return Ok(condition);
    }
    let (b, _, h, w) = first.dims4()?;
    let positions = position_planes(b, frames, h, w, first.device())?.to_dtype(first.dtype())?;
    Tensor::cat(&[&condition, &positions], 1)
}

/// Channels [`position_planes`] adds: frame, row and column.
pub const POSITION_PLANES: usize = 3;

/// Absolute position channels `(B, 3, T, H, W)`: the frame index, row and column, each
/// mapped linearly onto `[-1, 1]` (0 when that axis has one entry). Wan's transformer knows
/// positions only relative to each other (3D RoPE), which large models overcome from content;
/// a small pixel-space model stacks these after its conditioning channels instead, so the
/// patch embedding turns them into an absolute position embedding ("CoordConv") and the
/// model can place an object where its caption's scenes put it, instead of wherever the seed
/// noise happens to suggest one.
pub fn position_planes(
    batch: usize,
    frames: usize,
    height: usize,
    width: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let axis = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                if n > 1 {
                    2.0 * i as f32 / (n - 1) as f32 - 1.0
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (ts, ys, xs) = (axis(frames), axis(height), axis(width));
    let plane = frames * height * width;
    let mut values = Vec::with_capacity(POSITION_PLANES * plane);
    for axis in 0..POSITION_PLANES {
        for &t in &ts {
            for &y in &ys {
                values.extend(xs.iter().map(|&x| [t, y, x][axis]));
            }
        }
    }
    let one = Tensor::from_vec(values, (1, POSITION_PLANES, frames, height, width), device)?;
    one.broadcast_as((batch, POSITION_PLANES, frames, height, width))?
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn only_given_clips_see_their_first_frame_and_mask() -> Result<()> {
        let first = Tensor::arange(1f32, 17.0, &Device::Cpu)?.reshape((2, 2, 2, 2))?;
        let cond = first_frame_condition(&first, &[true, false], 3, FirstFrameLayout::default())?;
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

    #[test]
    fn every_frame_repeats_the_first_frame_but_masks_frame_0_alone() -> Result<()> {
        let first = Tensor::arange(1f32, 17.0, &Device::Cpu)?.reshape((2, 2, 2, 2))?;
        let cond = first_frame_condition(&first, &[true, false], 3, FirstFrameLayout::EveryFrame)?;
        assert_eq!(cond.dims(), &[2, 3, 3, 2, 2]);
        let clip0 = cond.get(0)?; // (1 + C, T, H, W)
        let mask = clip0.get(0)?.flatten_from(1)?.sum(1)?.to_vec1::<f32>()?;
        assert_eq!(mask, vec![4.0, 0.0, 0.0]);
        for t in 0..3 {
            assert_eq!(
                clip0
                    .narrow(0, 1, 2)?
                    .narrow(1, t, 1)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
                first.get(0)?.flatten_all()?.to_vec1::<f32>()?,
                "frame {t}"
            );
        }
        assert_eq!(cond.get(1)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn position_planes_span_minus_one_to_one_along_their_axis() {
        let p = position_planes(2, 3, 4, 5, &Device::Cpu).unwrap();
        assert_eq!(p.dims(), &[2, 3, 3, 4, 5]);
        let v = |b: usize, c: usize, t: usize, y: usize, x: usize| {
            p.get(b)
                .unwrap()
                .get(c)
                .unwrap()
                .get(t)
                .unwrap()
                .get(y)
                .unwrap()
                .get(x)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(
            (v(1, 0, 0, 2, 3), v(1, 0, 1, 2, 3), v(1, 0, 2, 0, 0)),
            (-1.0, 0.0, 1.0)
        );
        assert_eq!((v(0, 1, 2, 0, 4), v(0, 1, 0, 3, 1)), (-1.0, 1.0));
        assert_eq!((v(0, 2, 1, 1, 0), v(0, 2, 1, 1, 4)), (-1.0, 1.0));
        let single = position_planes(1, 1, 1, 1, &Device::Cpu).unwrap();
        assert_eq!(
            single.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0; 3]
        );
    }
}
