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
        template: GenerateRequest,
        mut load: LoadOptions,
        plan: &kino_movie::Plan,
    ) -> anyhow::Result<Self> {
        let files = model_fingerprint(model_dir)?;
        let identity = format!(
            "kino-pipeline model={files} dtype={:?} size={}x{} output={:?} steps={} guidance={} \
             negative={:?} flow_shift={:?} scheduler={:?} max_sequence_length={}",
            load.dtype,
            template.width,
            template.height,
            template.output_size,
            template.steps,
            template.guidance,
            template.negative_prompt,
            template.flow_shift,
            template.scheduler,
            template.max_sequence_length
        );
        let mut this = Self {
            model_dir: model_dir.to_path_buf(),
            rules,
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
        while self.rules.frames_problem(n).is_some() {
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
        let request = GenerateRequest {
            prompt: shot.prompt.clone(),
            frames: self.model_frames(shot.frames),
            seed: shot.seed,
            first_frame,
            ..self.template.clone()
        };
        let pipeline = self.pipeline().map_err(|e| format!("{e:#}"))?;
        let mut forward = Forward(progress);
        let video = pipeline.generate(&request, &mut forward)?;
        let mut frames = video.to_rgb8()?;
        if frames.len() < shot.frames {
            return Err(format!(
                "the model returned {} frames, {} were asked for",
                frames.len(),
                shot.frames
            )
            .into());
        }
        frames.truncate(shot.frames);
        Ok(frames)
    }
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

struct Forward<'a>(&'a mut dyn ShotProgress);

impl Progress for Forward<'_> {
    fn step(&mut self, index: usize, total: usize) {
        self.0.step(index + 1, total);
    }

    fn warning(&mut self, message: &str) {
        self.0.warning(message);
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
