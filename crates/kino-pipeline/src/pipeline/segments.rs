//! Clips longer than a model's segment: a chain of denoising passes, each an image-to-video
//! segment that continues from the last frame of the one before (the first from the
//! request's first frame, or from text alone). kino-mini works this way: it learns short
//! windows of the world's clips, where motion is a shift of a few pixels that local attention
//! can carry, and the chain makes the whole clip.
//!
//! The initial noise is drawn once for the whole chain, `(1, z, F, H, W)` with `F` the frames
//! the chain makes, and each segment denoises its own slice of it (segments share their
//! boundary frame, whose noise the later segment ignores: that frame is given). So a chain is
//! reproducible from the seed, and a request's `noise` replaces the whole draw.

use candle_core::{DType, Tensor};

use super::{Pipeline, Prompts};
use crate::error::{PipelineError, Result};
use crate::progress::{Pass, Progress};
use crate::request::GenerateRequest;

/// How a chain of `segment`-frame passes makes `frames` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Denoising passes.
    pub segments: usize,
    /// Frames the chain makes (at least `frames`; the extra ones are dropped).
    pub frames: usize,
}

impl SegmentPlan {
    /// The chain for `frames` frames of `segment`-frame passes that overlap by one frame.
    /// `None` when one pass is enough (or a segment of one frame could not continue).
    pub fn new(frames: usize, segment: usize) -> Option<Self> {
        if segment < 2 || frames <= segment {
            return None;
        }
        let step = segment - 1;
        let segments = (frames - 1).div_ceil(step);
        Some(Self {
            segments,
            frames: 1 + segments * step,
        })
    }

    /// The first frame of segment `index` in the chain's frames.
    pub fn start(&self, index: usize, segment: usize) -> usize {
        index * (segment - 1)
    }
}

impl Pipeline {
    /// Generates `request` as the chain `plan` of `segment`-frame passes.
    pub(super) fn generate_segments(
        &self,
        request: &GenerateRequest,
        segment: usize,
        plan: SegmentPlan,
        prompts: Prompts<'_>,
        progress: &mut dyn Progress,
    ) -> Result<crate::GeneratedVideo> {
        let shape = self
            .rules
            .latent_shape(request.height, request.width, plan.frames);
        let noise = match &request.noise {
            Some(noise) => {
                if noise.dims() != shape {
                    return Err(PipelineError::InvalidRequest {
                        field: "noise",
                        message: format!(
                            "this model makes {} frames in {} segments of {segment}: the noise must have shape {shape:?}, not {:?}",
                            plan.frames,
                            plan.segments,
                            noise.dims()
                        ),
                    });
                }
                noise
                    .to_dtype(DType::F32)
                    .and_then(|n| n.to_device(&self.device))
                    .map_err(PipelineError::model("moving the noise to the device"))?
            }
            None => kino_sampling::randn(&shape, request.seed, &self.device)?,
        };
        let total = plan.segments * request.steps;
        let mut first_frame = request.first_frame.clone();
        let mut pieces: Vec<Tensor> = Vec::with_capacity(plan.segments);
        for index in 0..plan.segments {
            let start = plan.start(index, segment);
            let pass = GenerateRequest {
                frames: segment,
                keyframe_first: false,
                output_size: None,
                first_frame: first_frame.clone(),
                noise: Some(
                    noise
                        .narrow(2, start, segment)
                        .map_err(PipelineError::model("slicing the noise"))?,
                ),
                ..request.clone()
            };
            let clip = self.generate_encoded(
                &pass,
                prompts,
                &mut Pass {
                    inner: progress,
                    offset: index * request.steps,
                    total,
                },
            )?;
            // (T, H, W, 3): the next segment continues from this one's last frame, which it
            // repeats as its own first.
            let last = clip
                .frames
                .get(segment - 1)
                .map_err(PipelineError::model("taking a segment's last frame"))?;
            let new = if index == 0 {
                clip.frames
            } else {
                clip.frames
                    .narrow(0, 1, segment - 1)
                    .map_err(PipelineError::model("joining the segments"))?
            };
            pieces.push(new);
            first_frame = Some(last);
        }
        let mut frames = Tensor::cat(&pieces, 0)
            .and_then(|f| f.narrow(0, 0, request.frames))
            .map_err(PipelineError::model("joining the segments"))?;
        if let Some((h, w)) = request.output_size
            && (h, w) != (request.height, request.width)
        {
            frames = super::resize_frames(&frames, h, w)
                .map_err(PipelineError::model("resizing the frames"))?;
        }
        Ok(crate::GeneratedVideo {
            frames,
            fps: self.defaults.fps,
            plan: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_overlapping_segments_covers_the_clip() {
        // 16 frames of 4-frame segments: 0-3, 3-6, 6-9, 9-12, 12-15.
        let plan = SegmentPlan::new(16, 4).expect("16 frames need a chain of 4-frame segments");
        assert_eq!(
            plan,
            SegmentPlan {
                segments: 5,
                frames: 16
            }
        );
        assert_eq!(plan.start(4, 4) + 4, 16);
        // 20 frames: 7 segments make 22, and the last two are dropped.
        assert_eq!(
            SegmentPlan::new(20, 4),
            Some(SegmentPlan {
                segments: 7,
                frames: 22
            })
        );
        // One pass is enough for a segment's length or less.
        assert_eq!(SegmentPlan::new(4, 4), None);
        assert_eq!(SegmentPlan::new(16, 1), None);
    }
}
