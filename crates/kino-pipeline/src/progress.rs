//! Progress events: the pipeline reports through what it is given and never prints.

/// A stage of one generation, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Loading the tokenizer and text encoder.
    LoadTextEncoder,
    /// Encoding the prompt (and the negative prompt when guidance is on).
    EncodePrompt,
    /// Video-to-video: encoding the init video into latents (the VAE's encoder).
    EncodeVideo,
    /// The denoising loop (one [`Progress::step`] per step follows).
    Denoise,
    /// Decoding the latents into frames with the VAE.
    Decode,
    /// Interpolating the frames between a keyframe model's keyframes.
    Interpolate,
}

/// Receives a generation's events; every method has an empty default.
pub trait Progress {
    /// A stage begins.
    fn stage(&mut self, _stage: Stage) {}
    /// Denoising step `index` (0-based) of `total` is done.
    fn step(&mut self, _index: usize, _total: usize) {}
    /// A non-fatal problem, e.g. a prompt truncated to the model's length.
    fn warning(&mut self, _message: &str) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// One pass of a generation made of several (keyframe, then motion): its steps are reported
/// as part of the whole, and warnings only in the first pass, where they are new.
pub(crate) struct Pass<'a> {
    /// Where the events go.
    pub inner: &'a mut dyn Progress,
    /// Steps done in earlier passes.
    pub offset: usize,
    /// Steps of all passes.
    pub total: usize,
}

impl Progress for Pass<'_> {
    fn stage(&mut self, stage: Stage) {
        self.inner.stage(stage);
    }
    fn step(&mut self, index: usize, _total: usize) {
        self.inner.step(self.offset + index, self.total);
    }
    fn warning(&mut self, message: &str) {
        if self.offset == 0 {
            self.inner.warning(message);
        }
    }
}
