//! The model behind `kino movie render`: a [`ShotRenderer`] over kino-pipeline. The model is
//! loaded on the first shot that is not cached, so a fully cached film never loads it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kino_movie::{ShotProgress, ShotRenderer, ShotRequest};
use kino_pipeline::{GenerateRequest, LoadOptions, Pipeline, Progress, SizeRules, VideoSize};
use sha2::{Digest, Sha256};

/// Files at most this large are hashed by content for the model's identity; larger ones
/// (multi-gigabyte weights) by size and modification time.
const HASH_CONTENT_UP_TO: u64 = 64 << 20;

/// Renders shots with a diffusers-layout Wan model.
pub struct PipelineRenderer {
    /// The model folder.
    pub model_dir: PathBuf,
    /// Its size rules (frames are requested as `temporal * k + 1` and trimmed).
    pub rules: SizeRules,
    /// Denoising steps, guidance and negative prompt for every shot.
    pub template: GenerateRequest,
    /// Loading options (the memory check is sized for the longest shot).
    pub load: LoadOptions,
    identity: String,
    pipeline: Mutex<Option<Arc<Pipeline>>>,
}

impl PipelineRenderer {
    /// A renderer for `model_dir`; reads the model's files for its identity.
    pub fn new(
        model_dir: &Path,
        rules: SizeRules,
        template: GenerateRequest,
        load: LoadOptions,
    ) -> anyhow::Result<Self> {
        let files = model_fingerprint(model_dir)?;
        let identity = format!(
            "kino-pipeline WanPipeline model={files} dtype={:?} steps={} guidance={} negative={:?} \
             flow_shift={:?} scheduler={:?} max_sequence_length={}",
            load.dtype,
            template.steps,
            template.guidance,
            template.negative_prompt,
            template.flow_shift,
            template.scheduler,
            template.max_sequence_length
        );
        Ok(Self {
            model_dir: model_dir.to_path_buf(),
            rules,
            template,
            load,
            identity,
            pipeline: Mutex::new(None),
        })
    }

    /// The frame count the model is asked for to cover `frames`: the smallest valid one.
    pub fn model_frames(&self, frames: usize) -> usize {
        let t = self.rules.temporal.max(1);
        frames.saturating_sub(1).div_ceil(t) * t + 1
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
        if shot.first_frame.is_some() {
            return Err("this model makes video from text only; it cannot start from an image".into());
        }
        let request = GenerateRequest {
            prompt: shot.prompt.clone(),
            height: shot.height as usize,
            width: shot.width as usize,
            frames: self.model_frames(shot.frames),
            seed: shot.seed,
            ..self.template.clone()
        };
        let pipeline = self.pipeline().map_err(|e| format!("{e:#}"))?;
        let mut forward = Forward(progress);
        let video = pipeline.generate(&request, &mut forward)?;
        let mut frames = video.to_rgb8()?;
        frames.truncate(shot.frames);
        Ok(frames)
    }
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

/// The memory check's size: the longest shot the model will be asked for.
pub fn planned_size(plan: &kino_movie::Plan, renderer_frames: impl Fn(usize) -> usize) -> VideoSize {
    VideoSize {
        height: plan.height as usize,
        width: plan.width as usize,
        frames: plan
            .generated()
            .map(|s| renderer_frames(s.frames))
            .max()
            .unwrap_or(1),
    }
}
