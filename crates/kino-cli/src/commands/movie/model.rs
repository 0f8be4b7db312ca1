//! The model behind `kino movie render`: a [`ShotRenderer`] over kino-pipeline. The model is
//! loaded on the first shot that is not cached, so a fully cached film never loads it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use kino_movie::{ShotProgress, ShotRenderer, ShotRequest};
use kino_pipeline::{GenerateRequest, LoadOptions, Pipeline, Progress, SizeRules, VideoSize};
use sha2::{Digest, Sha256};

/// Files at most this large are hashed by content for the model's identity; larger ones
/// (multi-gigabyte weights) by size and modification time.
const HASH_CONTENT_UP_TO: u64 = 64 << 20;

/// Renders shots with a diffusers-layout Wan model (kino-mini or Wan 2.1).
pub struct PipelineRenderer {
    model_dir: PathBuf,
    rules: SizeRules,
    /// The model's keyframes (`ModelDefaults::keyframes`): clips longer may have any length.
    keyframes: Option<usize>,
    template: GenerateRequest,
    load: LoadOptions,
    identity: String,
    pipeline: Mutex<Option<Arc<Pipeline>>>,
}

impl PipelineRenderer {
    /// A renderer for `model_dir` making every shot like `template` (its size, output size,
    /// steps, guidance, negative prompt); reads the model's files for its identity, and
    /// sizes the memory check for the longest shot of `plan`.
    pub fn new(
        model_dir: &Path,
        rules: SizeRules,
        keyframes: Option<usize>,
        template: GenerateRequest,
        mut load: LoadOptions,
        plan: &kino_movie::Plan,
    ) -> anyhow::Result<Self> {
        let files = model_fingerprint(model_dir)?;
        let identity = format!(
            "kino-pipeline model={files} dtype={:?} size={}x{} output={:?} steps={} guidance={} \
             negative={:?} flow_shift={:?} scheduler={:?} max_sequence_length={} \
             keyframe_first={} long shots: chained clips of {} frames when the model takes a first frame",
            load.dtype,
            template.width,
            template.height,
            template.output_size,
            template.steps,
            template.guidance,
            template.negative_prompt,
            template.flow_shift,
            template.scheduler,
            template.max_sequence_length,
            template.keyframe_first,
            template.frames
        );
        let mut this = Self {
            model_dir: model_dir.to_path_buf(),
            rules,
            keyframes,
            template,
            load: load.clone(),
            identity,
            pipeline: Mutex::new(None),
        };
        load.plan = VideoSize {
            height: this.template.height,
            width: this.template.width,
            frames: plan
                .generated()
                .map(|s| this.model_frames(s.frames))
                .max()
                .unwrap_or(1),
        };
        this.load = load;
        Ok(this)
    }

    /// The frame count the model is asked for to cover `frames`: the smallest valid one
    /// (`4k + 1` for Wan 2.1's VAE, a multiple of the temporal patch for a pixel model).
    pub fn model_frames(&self, frames: usize) -> usize {
        let mut n = frames.max(1);
        while self
            .rules
            .frames_problem_with_keyframes(n, self.keyframes)
            .is_some()
        {
            n += 1;
        }
        n
    }

    /// Whether the model takes a first frame (loads it).
    pub fn takes_first_frame(&self) -> anyhow::Result<bool> {
        Ok(self.pipeline()?.takes_first_frame())
    }

    fn pipeline(&self) -> anyhow::Result<Arc<Pipeline>> {
        let mut slot = self
            .pipeline
            .lock()
            .map_err(|_| anyhow::anyhow!("another shot failed while loading the model"))?;
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let p = Arc::new(Pipeline::load(&self.model_dir, &self.load)?);
        *slot = Some(p.clone());
        Ok(p)
    }
}

impl ShotRenderer for PipelineRenderer {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn render(
        &self,
        shot: &ShotRequest,
        progress: &mut dyn ShotProgress,
    ) -> Result<Vec<Vec<u8>>, kino_movie::RenderFailure> {
        let out_size = self
            .template
            .output_size
            .unwrap_or((self.template.height, self.template.width));
        if out_size != (shot.height as usize, shot.width as usize) {
            return Err(format!(
                "the model makes {}x{} frames, the shot wants {}x{}",
                out_size.1, out_size.0, shot.width, shot.height
            )
            .into());
        }
        let first_frame = match &shot.first_frame {
            Some(image) => Some(frame_tensor(
                image,
                self.template.height,
                self.template.width,
            )?),
            None => None,
        };
        let pipeline = self.pipeline().map_err(|e| format!("{e:#}"))?;
        // A model that continues clips from a first frame renders a shot longer than its
        // native clip as a chain of native clips, each starting from the last frame of the
        // one before (its repeat dropped): every clip stays at the length it was trained on.
        let native = self.template.frames;
        let chain = pipeline.takes_first_frame()
            && shot.frames > native
            && native > 1
            && self
                .rules
                .frames_problem_with_keyframes(native, self.keyframes)
                .is_none();
        if !chain {
            let request = GenerateRequest {
                prompt: shot.prompt.clone(),
                frames: self.model_frames(shot.frames),
                seed: shot.seed,
                first_frame,
                ..self.template.clone()
            };
            let steps = request.steps;
            let mut forward = Forward::new(progress, 0, steps);
            let video = pipeline.generate(&request, &mut forward)?;
            return take(video.to_rgb8()?, shot.frames);
        }
        let clips = chained_clips(shot.frames, native);
        let steps = self.template.steps;
        let (height, width) = (self.template.height, self.template.width);
        let mut frames = Vec::with_capacity(clips * native);
        let mut first = first_frame;
        for k in 0..clips {
            let request = GenerateRequest {
                prompt: shot.prompt.clone(),
                frames: native,
                seed: shot.seed.wrapping_add(k as u64),
                first_frame: first.take(),
                output_size: None,
                ..self.template.clone()
            };
            let mut forward = Forward::new(&mut *progress, k * steps, clips * steps);
            let video = pipeline.generate(&request, &mut forward)?;
            let last = video.frames.dim(0)? - 1;
            first = Some(video.frames.get(last)?);
            for frame in video.to_rgb8()?.into_iter().skip(usize::from(k > 0)) {
                frames.push(resize_rgb(
                    frame,
                    (height, width),
                    (shot.height, shot.width),
                )?);
            }
        }
        take(frames, shot.frames)
    }
}

/// Native clips of `native` frames needed to cover `total` frames when each clip after the
/// first repeats the previous clip's last frame (dropped).
fn chained_clips(total: usize, native: usize) -> usize {
    1 + total.saturating_sub(native).div_ceil(native.max(2) - 1)
}

/// The first `frames` of what the model made (an error if it made fewer).
fn take(mut made: Vec<Vec<u8>>, frames: usize) -> Result<Vec<Vec<u8>>, kino_movie::RenderFailure> {
    if made.len() < frames {
        return Err(format!(
            "the model returned {} frames, {frames} were asked for",
            made.len()
        )
        .into());
    }
    made.truncate(frames);
    Ok(made)
}

/// A packed RGB8 frame of `from` (height, width) resized (bilinear) to `to`.
fn resize_rgb(
    frame: Vec<u8>,
    from: (usize, usize),
    to: (u32, u32),
) -> Result<Vec<u8>, kino_movie::RenderFailure> {
    use kino_media::image::imageops;
    let (to_h, to_w) = to;
    if (from.0 as u32, from.1 as u32) == (to_h, to_w) {
        return Ok(frame);
    }
    let image = kino_media::RgbImage::from_raw(from.1 as u32, from.0 as u32, frame)
        .ok_or("the model returned a frame of the wrong size")?;
    Ok(imageops::resize(&image, to_w, to_h, imageops::FilterType::Triangle).into_raw())
}

/// An image as the pipeline's first frame: `(height, width, 3)` f32 in `[0, 1]`, resized.
fn frame_tensor(
    image: &kino_media::RgbImage,
    height: usize,
    width: usize,
) -> Result<Tensor, kino_movie::RenderFailure> {
    use kino_media::image::imageops;
    let resized = imageops::resize(
        image,
        width as u32,
        height as u32,
        imageops::FilterType::Triangle,
    );
    let data: Vec<f32> = resized.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    Ok(Tensor::from_vec(data, (height, width, 3), &Device::Cpu)?)
}

/// Passes a clip's denoising steps on as steps of the whole shot (several clips when
/// chained), and its warnings.
struct Forward<'a> {
    inner: &'a mut dyn ShotProgress,
    before: usize,
    total: usize,
}

impl<'a> Forward<'a> {
    fn new(inner: &'a mut dyn ShotProgress, before: usize, total: usize) -> Self {
        Self {
            inner,
            before,
            total,
        }
    }
}

impl Progress for Forward<'_> {
    fn step(&mut self, index: usize, _total: usize) {
        self.inner.step(self.before + index + 1, self.total);
    }

    fn warning(&mut self, message: &str) {
        self.inner.warning(message);
    }
}

/// A hash of the model folder: small files by content, large ones by size and time.
fn model_fingerprint(dir: &Path) -> anyhow::Result<String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for rel in files {
        let path = dir.join(&rel);
        let meta = std::fs::metadata(&path)?;
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        if meta.len() <= HASH_CONTENT_UP_TO {
            hasher.update(std::fs::read(&path)?);
        } else {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            hasher.update(format!("{} {modified}", meta.len()).as_bytes());
        }
        hasher.update([0]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_cover_the_shot() {
        assert_eq!(chained_clips(16, 16), 1);
        assert_eq!(chained_clips(17, 16), 2);
        assert_eq!(chained_clips(31, 16), 2);
        assert_eq!(chained_clips(32, 16), 3);
        for total in 1..200 {
            let n = chained_clips(total, 16);
            assert!(16 + (n - 1) * 15 >= total);
            assert!(n == 1 || 16 + (n - 2) * 15 < total);
        }
    }
}
