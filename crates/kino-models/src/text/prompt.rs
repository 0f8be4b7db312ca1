//! Prompt to embeddings, as `WanPipeline._get_t5_prompt_embeds` (diffusers
//! `pipelines/wan/pipeline_wan.py`) does it.

use candle_core::{DType, Device, Result, Tensor};

use super::tokenizer::{TokenizedPrompts, TruncationWarning, WanTokenizer};
use super::umt5::Umt5Encoder;
use crate::ModelDir;

/// The prompt length `WanPipeline.__call__` uses unless told otherwise (512 tokens).
///
/// `_get_t5_prompt_embeds` and `encode_prompt` have a default of 226 of their own, but the
/// pipeline always passes its 512 down.
pub const DEFAULT_MAX_SEQUENCE_LENGTH: usize = 512;

/// Tokenizer, umT5 encoder and prompt length: prompts in, `(batch, max_sequence_length,
/// d_model)` embeddings out, padding rows zero.
#[derive(Debug, Clone)]
pub struct PromptEncoder {
    tokenizer: WanTokenizer,
    encoder: Umt5Encoder,
    max_sequence_length: usize,
}

impl PromptEncoder {
    /// Puts the parts together.
    pub fn new(tokenizer: WanTokenizer, encoder: Umt5Encoder, max_sequence_length: usize) -> Self {
        Self {
            tokenizer,
            encoder,
            max_sequence_length,
        }
    }

    /// Loads `tokenizer/tokenizer.json` and `text_encoder/` (in f32, whatever the stored
    /// dtype) of a diffusers Wan model, with [`DEFAULT_MAX_SEQUENCE_LENGTH`].
    ///
    /// umT5-XXL is about 5.7 billion parameters: 23 GB in f32. Use [`Self::load_as`] with
    /// `DType::BF16` (how Wan's weights are stored) to halve that.
    pub fn load(model: &ModelDir, device: &Device) -> Result<Self> {
        Self::load_as(model, device, DType::F32)
    }

    /// [`Self::load`] with the encoder's weights (and so its computation and output) in
    /// `dtype`. RMS norms accumulate in f32 whatever the dtype.
    pub fn load_as(model: &ModelDir, device: &Device, dtype: DType) -> Result<Self> {
        let tokenizer_json = model.tokenizer_json().map_err(candle_core::Error::wrap)?;
        let tokenizer = WanTokenizer::from_file(&tokenizer_json)
            .map_err(candle_core::Error::wrap)?
            .with_lowercase(lowercase_prompts(&tokenizer_json));
        let cfg = model
            .text_encoder_config()
            .map_err(candle_core::Error::wrap)?;
        let vb = model
            .weights("text_encoder")
            .map_err(candle_core::Error::wrap)?
            .into_var_builder(dtype, device);
        let encoder = Umt5Encoder::new(&cfg, vb)?;
        Ok(Self::new(tokenizer, encoder, DEFAULT_MAX_SEQUENCE_LENGTH))
    }

    /// The same encoder with another prompt length.
    pub fn with_max_sequence_length(mut self, max_sequence_length: usize) -> Self {
        self.max_sequence_length = max_sequence_length;
        self
    }

    /// The prompt length every output is padded (or truncated) to.
    pub fn max_sequence_length(&self) -> usize {
        self.max_sequence_length
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WanTokenizer {
        &self.tokenizer
    }

    /// The umT5 encoder.
    pub fn encoder(&self) -> &Umt5Encoder {
        &self.encoder
    }

    /// Cleans, tokenizes (with `</s>`, truncated and padded to `max_sequence_length`) and
    /// encodes the prompts: `(batch, max_sequence_length, d_model)` in the encoder's dtype, every position past a
    /// prompt's last token (its `</s>`) set to zero, as the reference slices each row to its
    /// length and pads it back with zeros. The warnings name the prompts that were truncated.
    pub fn encode(&self, prompts: &[&str]) -> Result<(Tensor, Vec<TruncationWarning>)> {
        let tokens = self.tokenizer.tokenize(prompts, self.max_sequence_length)?;
        let embeds = self.encode_tokens(&tokens)?;
        Ok((embeds, tokens.warnings))
    }

    /// [`Self::encode`] from already tokenized prompts.
    pub fn encode_tokens(&self, tokens: &TokenizedPrompts) -> Result<Tensor> {
        if tokens.input_ids.is_empty() {
            candle_core::bail!("no prompts to encode");
        }
        let device = self.encoder.device().clone();
        let ids = tokens.input_ids_tensor(&device)?;
        let mask = tokens.attention_mask_tensor(&device)?;
        let hidden = self.encoder.forward(&ids, &mask)?;
        // (batch, seq) -> (batch, seq, d_model): keep hidden where mask is 1, else 0.
        let keep = mask.unsqueeze(2)?.broadcast_as(hidden.shape())?;
        keep.where_cond(&hidden, &hidden.zeros_like()?)
    }
}

/// `do_lower_case` of the `tokenizer_config.json` beside `tokenizer_json` (false when absent).
fn lowercase_prompts(tokenizer_json: &std::path::Path) -> bool {
    let config = tokenizer_json.with_file_name("tokenizer_config.json");
    std::fs::read_to_string(config)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("do_lower_case").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}
