//! Rendering: every shot of a plan that is not in the cache goes through the caller's
//! [`ShotRenderer`] (the model), `jobs` shots at a time on a bounded pool of threads; cards
//! are drawn here. Each finished shot is stored in the [`ShotCache`] as soon as it is done,
//! so an interrupted render resumes where it stopped.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use kino_media::RgbImage;
use sha2::{Digest, Sha256};

use crate::cache::{CACHE_VERSION, ShotCache, ShotKey, hex};
use crate::error::{MovieError, Result};
use crate::plan::{Plan, Shot, ShotContent};
use crate::text::TextRenderer;
use crate::title_card::render_card;

/// What the model is asked for: one shot.
#[derive(Debug, Clone)]
pub struct ShotRequest {
    /// 1-based shot number in the film.
    pub number: usize,
    /// The full prompt.
    pub prompt: String,
    /// Noise seed.
    pub seed: u64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Exactly this many frames must come back.
    pub frames: usize,
    /// The film's frame rate.
    pub fps: f64,
    /// The image the shot should start from, at the film's size.
    pub first_frame: Option<RgbImage>,
}

/// A failure inside a renderer, with its causes.
pub type RenderFailure = Box<dyn std::error::Error + Send + Sync>;

/// Makes a shot's frames: the model behind movie mode.
pub trait ShotRenderer: Sync {
    /// Everything about the renderer that changes its output (model files, steps,
    /// guidance, ...): part of every shot's cache key.
    fn identity(&self) -> String;

    /// Renders `shot.frames` frames of `shot.width` x `shot.height` packed RGB8.
    fn render(
        &self,
        shot: &ShotRequest,
        progress: &mut dyn ShotProgress,
    ) -> std::result::Result<Vec<Vec<u8>>, RenderFailure>;
}

/// Receives one shot's progress from a renderer.
pub trait ShotProgress {
    /// Step `done` of `total` (e.g. denoising steps) is finished.
    fn step(&mut self, _done: usize, _total: usize) {}
    /// A non-fatal problem (e.g. a prompt truncated).
    fn warning(&mut self, _message: &str) {}
}

/// Receives a film's rendering events; every method has an empty default. Shots may render
/// on several threads, so events of different shots can interleave.
pub trait FilmProgress: Send {
    /// Rendering begins: `total` shots, of which `to_render` are not cached.
    fn begin(&mut self, _total: usize, _to_render: usize) {}
    /// The model starts on `shot`.
    fn shot_started(&mut self, _shot: &Shot) {}
    /// A step of `shot` is done.
    fn shot_step(&mut self, _shot: usize, _done: usize, _total: usize) {}
    /// `shot` is ready; `cached` when it came from the cache.
    fn shot_finished(&mut self, _shot: &Shot, _cached: bool) {}
    /// A warning about `shot`.
    fn warning(&mut self, _shot: usize, _message: &str) {}
    /// `done` of `total` film frames are assembled.
    fn assembling(&mut self, _done: usize, _total: usize) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFilmProgress;

impl FilmProgress for NoFilmProgress {}

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Shots rendered at the same time (at least 1).
    pub jobs: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { jobs: 1 }
    }
}

/// What rendering did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RenderReport {
    /// The cache key of every shot, in film order.
    pub keys: Vec<ShotKey>,
    /// Shot numbers the model rendered now.
    pub rendered: Vec<usize>,
    /// Shot numbers (model shots) found in the cache.
    pub cached: Vec<usize>,
    /// Cards drawn now (cached cards are not counted).
    pub cards_drawn: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The identity of the built-in card renderer (font and layout version).
pub const CARD_RENDERER: &str = "kino-movie title card v1, DejaVu Sans 2.37";

/// The cache key of `shot` when `renderer` makes it (cards: the card renderer).
pub fn shot_key(plan: &Plan, shot: &Shot, renderer: &str) -> Result<ShotKey> {
    let (renderer, content, seed, first_frame) = match &shot.content {
        ShotContent::Generated {
            prompt,
            seed,
            first_frame,
        } => {
            let digest = match first_frame {
                Some(path) => {
                    let bytes = std::fs::read(path).map_err(|e| {
                        MovieError::InvalidSetting(format!(
                            "shot {} (line {}): cannot read its image {}: {e}",
                            shot.number,
                            shot.line,
                            path.display()
                        ))
                    })?;
                    Some(hex(&Sha256::digest(&bytes)))
                }
                None => None,
            };
            (renderer.to_string(), prompt.clone(), *seed, digest)
        }
        ShotContent::Card { lines } => (CARD_RENDERER.to_string(), lines.join("\n"), 0, None),
    };
    Ok(ShotKey {
        version: CACHE_VERSION,
        renderer,
        content,
        seed,
        width: plan.width,
        height: plan.height,
        frames: shot.frames,
        fps: format!("{}", plan.fps),
        first_frame,
    })
}

/// Renders every shot of `plan` that `cache` does not hold yet, and draws the cards.
pub fn render_shots(
    plan: &Plan,
    renderer: &dyn ShotRenderer,
    cache: &ShotCache,
    options: &RenderOptions,
    progress: &mut dyn FilmProgress,
) -> Result<RenderReport> {
    let started = Instant::now();
    cache.clean_stale();
    let identity = renderer.identity();
    let keys = plan
        .shots
        .iter()
        .map(|s| shot_key(plan, s, &identity))
        .collect::<Result<Vec<_>>>()?;
    let mut report = RenderReport {
        keys: keys.clone(),
        ..RenderReport::default()
    };
    let mut work = Vec::new();
    for (shot, key) in plan.shots.iter().zip(&keys) {
        if cache.get(key).is_some() {
            if matches!(shot.content, ShotContent::Generated { .. }) {
                report.cached.push(shot.number);
            }
        } else {
            work.push((shot, key));
        }
    }
    progress.begin(plan.shots.len(), work.len());
    for shot in &plan.shots {
        if !work.iter().any(|(s, _)| s.number == shot.number) {
            progress.shot_finished(shot, true);
        }
    }
    let text = TextRenderer::new();
    let mut model_work = Vec::new();
    for (shot, key) in work {
        match &shot.content {
            ShotContent::Card { lines } => {
                let t = Instant::now();
                let card = render_card(&text, lines, plan.width, plan.height);
                let frames = vec![card.into_raw(); shot.frames];
                cache.put(key, &frames, t.elapsed().as_secs_f64())?;
                report.cards_drawn += 1;
                progress.shot_finished(shot, false);
            }
            ShotContent::Generated { .. } => model_work.push((shot, key)),
        }
    }
    let jobs = options.jobs.max(1).min(model_work.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let shared = Mutex::new(progress);
    let results: Mutex<Vec<Result<usize>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(shot, key)) = model_work.get(i) else {
                        return;
                    };
                    let outcome = render_one(plan, shot, key, renderer, cache, &shared);
                    if outcome.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    results
                        .lock()
                        .expect("a worker never panics while holding the results")
                        .push(outcome);
                }
            });
        }
    });
    let results = results.into_inner().expect("workers have finished");
    for outcome in results {
        report.rendered.push(outcome?);
    }
    report.rendered.sort_unstable();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Forwards a renderer's progress to the film's, tagged with the shot.
struct Forward<'a, 'p> {
    shot: usize,
    film: &'a Mutex<&'p mut dyn FilmProgress>,
}

impl ShotProgress for Forward<'_, '_> {
    fn step(&mut self, done: usize, total: usize) {
        if let Ok(mut p) = self.film.lock() {
            p.shot_step(self.shot, done, total);
        }
    }

    fn warning(&mut self, message: &str) {
        if let Ok(mut p) = self.film.lock() {
            p.warning(self.shot, message);
        }
    }
}

fn render_one(
    plan: &Plan,
    shot: &Shot,
    key: &ShotKey,
    renderer: &dyn ShotRenderer,
    cache: &ShotCache,
    film: &Mutex<&mut dyn FilmProgress>,
) -> Result<usize> {
    let ShotContent::Generated {
        prompt,
        seed,
        first_frame,
    } = &shot.content
    else {
        return Ok(shot.number);
    };
    let first_frame = match first_frame {
        Some(path) => Some(load_first_frame(path, shot, plan)?),
        None => None,
    };
    let request = ShotRequest {
        number: shot.number,
        prompt: prompt.clone(),
        seed: *seed,
        width: plan.width,
        height: plan.height,
        frames: shot.frames,
        fps: plan.fps,
        first_frame,
    };
    if let Ok(mut p) = film.lock() {
        p.shot_started(shot);
    }
    let started = Instant::now();
    let mut forward = Forward {
        shot: shot.number,
        film,
    };
    let frames = renderer
        .render(&request, &mut forward)
        .map_err(|e| MovieError::Render {
            shot: shot.number,
            prompt: prompt.clone(),
            message: chain(e.as_ref()),
        })?;
    cache.put(key, &frames, started.elapsed().as_secs_f64())?;
    if let Ok(mut p) = film.lock() {
        p.shot_finished(shot, false);
    }
    Ok(shot.number)
}

fn load_first_frame(path: &Path, shot: &Shot, plan: &Plan) -> Result<RgbImage> {
    let image = kino_media::read_image(path).map_err(|e| {
        MovieError::InvalidSetting(format!(
            "shot {} (line {}): its image: {e}",
            shot.number, shot.line
        ))
    })?;
    Ok(if image.dimensions() == (plan.width, plan.height) {
        image
    } else {
        kino_media::image::imageops::resize(
            &image,
            plan.width,
            plan.height,
            kino_media::image::imageops::FilterType::Lanczos3,
        )
    })
}

/// An error and its causes on one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}
