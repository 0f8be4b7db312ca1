//! The umT5 tokenizer as the reference pipeline runs it: `tokenizer/tokenizer.json` read the
//! way transformers 5.24's `T5Tokenizer` reads it, then called as
//! `WanPipeline._get_t5_prompt_embeds` calls it (`padding="max_length"`, `truncation=True`,
//! `add_special_tokens=True`, `return_attention_mask=True`).

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::{Value, json};
use tokenizers::{Tokenizer, TruncationDirection};

use super::clean::clean_prompt;
use crate::LoadError;

const PAD: &str = "<pad>";
const EOS: &str = "</s>";
/// `T5Tokenizer` builds its Unigram model with `unk_id=2` whatever the file says.
const T5_UNK_ID: u64 = 2;

/// The text tokenizer of a Wan pipeline (umT5's SentencePiece Unigram vocabulary).
#[derive(Debug, Clone)]
pub struct WanTokenizer {
    tokenizer: Tokenizer,
    path: PathBuf,
    pad_id: u32,
    lowercase: bool,
}

/// One prompt that was longer than `max_sequence_length` tokens and lost its tail.
///
/// The reference truncates silently; we hand this back so the caller can tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncationWarning {
    /// Index of the prompt in the batch.
    pub prompt_index: usize,
    /// Tokens the prompt needs, `</s>` included.
    pub tokens: usize,
    /// Tokens kept: `max_sequence_length`, the last of them `</s>`.
    pub kept: usize,
}

impl TruncationWarning {
    /// How many of the prompt's tokens were dropped.
    pub fn dropped(&self) -> usize {
        self.tokens - self.kept
    }
}

impl fmt::Display for TruncationWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "prompt {} is {} tokens long; only the first {} are used ({} dropped, `</s>` kept)",
            self.prompt_index,
            self.tokens,
            self.kept,
            self.dropped()
        )
    }
}

/// A batch of prompts tokenized and padded to one length.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedPrompts {
    /// Token ids, `(batch, max_sequence_length)`, each row ending in `</s>` then `<pad>`s.
    pub input_ids: Vec<Vec<u32>>,
    /// 1 for real tokens (`</s>` included), 0 for padding; same shape as `input_ids`.
    pub attention_mask: Vec<Vec<u32>>,
    /// Real tokens per prompt (the reference's `seq_lens`).
    pub lengths: Vec<usize>,
    /// One warning per truncated prompt.
    pub warnings: Vec<TruncationWarning>,
}

impl TokenizedPrompts {
    /// `input_ids` as a `(batch, max_sequence_length)` u32 tensor.
    pub fn input_ids_tensor(&self, device: &Device) -> candle_core::Result<Tensor> {
        Tensor::new(self.input_ids.clone(), device)
    }

    /// `attention_mask` as a `(batch, max_sequence_length)` u32 tensor.
    pub fn attention_mask_tensor(&self, device: &Device) -> candle_core::Result<Tensor> {
        Tensor::new(self.attention_mask.clone(), device)
    }
}

impl WanTokenizer {
    /// Reads `tokenizer/tokenizer.json` of a diffusers Wan model.
    ///
    /// Like transformers 5.24's `T5Tokenizer` (the class the pipeline loads), only the Unigram
    /// vocabulary and a SentencePiece `Precompiled` normalizer are taken from the file; the
    /// rest is T5's fixed recipe: no other normalizer, pre-tokenizer `WhitespaceSplit` then
    /// `Metaspace("▁", prepend always)`, post-processor `$A </s>`, `unk_id` 2, no byte
    /// fallback, no truncation or padding baked in. (A `Lowercase` normalizer in the file, for
    /// example, is ignored by the reference, so it is ignored here.)
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
        let invalid = |message: String| LoadError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let mut json: Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let eos_id = as_t5_recipe(&mut json).map_err(invalid)?;
        let tokenizer: Tokenizer = json
            .to_string()
            .parse()
            .map_err(|e| invalid(format!("{e}")))?;
        let pad_id = tokenizer
            .token_to_id(PAD)
            .ok_or_else(|| invalid(format!("the vocabulary has no {PAD} token")))?;
        if tokenizer.token_to_id(EOS) != Some(eos_id) {
            return Err(invalid(format!("{EOS} is not one token")));
        }
        Ok(Self {
            tokenizer,
            path: path.to_path_buf(),
            pad_id,
            lowercase: false,
        })
    }

    /// The same tokenizer, lower-casing prompts after cleaning when `lowercase` (the
    /// `do_lower_case` of a `tokenizer_config.json`; Wan's files do not set it, kino-mini's
    /// closed vocabulary is lower case).
    pub fn with_lowercase(mut self, lowercase: bool) -> Self {
        self.lowercase = lowercase;
        self
    }

    /// The prompt as it is tokenized: cleaned, and lower-cased if the tokenizer says so.
    fn prepare(&self, prompt: &str) -> String {
        let cleaned = clean_prompt(prompt);
        if self.lowercase {
            cleaned.to_lowercase()
        } else {
            cleaned
        }
    }

    /// `prompt` without the words [`Self::unknown_words`] names (each dropped whole, with
    /// the punctuation attached to it).
    pub fn known_words_only(&self, prompt: &str) -> String {
        self.split_by_vocabulary(prompt).0
    }

    /// The words of `prompt` (split on whitespace, punctuation trimmed) that the vocabulary
    /// cannot spell without its unknown token: a closed-vocabulary model ignores them.
    pub fn unknown_words(&self, prompt: &str) -> Vec<String> {
        self.split_by_vocabulary(prompt).1
    }

    /// Both at once, looking each word up once: `prompt` without its unknown words, and
    /// those words (each named once, in order).
    pub fn split_by_vocabulary(&self, prompt: &str) -> (String, Vec<String>) {
        let unk = self.tokenizer.token_to_id("<unk>");
        let prepared = self.prepare(prompt);
        let mut known = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for piece in prepared.split_whitespace() {
            let word = piece.trim_matches(|c: char| !c.is_alphanumeric());
            let has_unk = !word.is_empty()
                && match self.tokenizer.encode(word, false) {
                    Ok(encoding) => encoding.get_ids().iter().any(|id| Some(*id) == unk),
                    Err(_) => true,
                };
            if has_unk {
                if !unknown.iter().any(|w| w == word) {
                    unknown.push(word.to_string());
                }
            } else {
                known.push(piece);
            }
        }
        (known.join(" "), unknown)
    }

    /// The id of `<pad>` (0 in umT5).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Cleans each prompt with [`clean_prompt`], tokenizes it, appends `</s>`, truncates it to
    /// `max_sequence_length` tokens (`</s>` kept last; a [`TruncationWarning`] says how many
    /// were dropped) and pads it with `<pad>` to exactly `max_sequence_length`.
    pub fn tokenize(
        &self,
        prompts: &[&str],
        max_sequence_length: usize,
    ) -> candle_core::Result<TokenizedPrompts> {
        if max_sequence_length == 0 {
            candle_core::bail!("max_sequence_length is 0: there must be room for `</s>` at least");
        }
        let mut out = TokenizedPrompts {
            input_ids: Vec::with_capacity(prompts.len()),
            attention_mask: Vec::with_capacity(prompts.len()),
            lengths: Vec::with_capacity(prompts.len()),
            warnings: Vec::new(),
        };
        for (index, prompt) in prompts.iter().enumerate() {
            let cleaned = self.prepare(prompt);
            let wrap = |e: tokenizers::Error| {
                candle_core::Error::Msg(format!(
                    "tokenizing prompt {index} with {}: {e}",
                    self.path.display()
                ))
            };
            // The content tokens, then `</s>` from the post-processor, as the tokenizers crate
            // does inside `encode(.., true)` with truncation set (which would panic for a
            // max_length below the special-token count instead of erring).
            let mut encoding = self.tokenizer.encode(cleaned, false).map_err(wrap)?;
            let tokens = encoding.len() + 1;
            if tokens > max_sequence_length {
                encoding.truncate(max_sequence_length - 1, 0, TruncationDirection::Right);
                out.warnings.push(TruncationWarning {
                    prompt_index: index,
                    tokens,
                    kept: max_sequence_length,
                });
            }
            let encoding = self
                .tokenizer
                .post_process(encoding, None, true)
                .map_err(wrap)?;
            let mut ids = encoding.get_ids().to_vec();
            let length = ids.len();
            ids.resize(max_sequence_length, self.pad_id);
            let mut mask = vec![1u32; length];
            mask.resize(max_sequence_length, 0);
            out.input_ids.push(ids);
            out.attention_mask.push(mask);
            out.lengths.push(length);
        }
        Ok(out)
    }
}

/// Rewrites a `tokenizer.json` into what `T5Tokenizer.__init__` builds from it; returns the id
/// of `</s>`.
fn as_t5_recipe(json: &mut Value) -> Result<u32, String> {
    let root = json
        .as_object_mut()
        .ok_or("the top level is not a JSON object")?;
    let model = root
        .get_mut("model")
        .and_then(Value::as_object_mut)
        .ok_or("no `model` object")?;
    if model.get("type").and_then(Value::as_str) != Some("Unigram") {
        return Err(
            "`model.type` is not \"Unigram\" (umT5 uses a SentencePiece Unigram model)".into(),
        );
    }
    model.insert("unk_id".into(), json!(T5_UNK_ID));
    model.insert("byte_fallback".into(), json!(false));
    let eos_id = model
        .get("vocab")
        .and_then(Value::as_array)
        .and_then(|vocab| {
            vocab
                .iter()
                .position(|piece| piece.get(0).and_then(Value::as_str) == Some(EOS))
        })
        .and_then(|i| u32::try_from(i).ok())
        .ok_or(format!("the vocabulary has no {EOS} piece"))?;

    // The first Precompiled normalizer, alone or inside a Sequence; nothing else survives.
    let precompiled = match root.get("normalizer") {
        Some(Value::Object(n)) if n.get("type").and_then(Value::as_str) == Some("Sequence") => n
            .get("normalizers")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|n| is_precompiled(n)).cloned()),
        Some(n) if is_precompiled(n) => Some(n.clone()),
        _ => None,
    };
    root.insert("normalizer".into(), precompiled.unwrap_or(Value::Null));
    root.insert(
        "pre_tokenizer".into(),
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true}
        ]}),
    );
    root.insert(
        "post_processor".into(),
        json!({
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOS, "type_id": 0}}],
            "pair": [
                {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOS, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": EOS, "type_id": 0}}
            ],
            "special_tokens": {EOS: {"id": EOS, "ids": [eos_id], "tokens": [EOS]}}
        }),
    );
    root.insert("truncation".into(), Value::Null);
    root.insert("padding".into(), Value::Null);
    Ok(eos_id)
}

fn is_precompiled(normalizer: &Value) -> bool {
    normalizer.get("type").and_then(Value::as_str) == Some("Precompiled")
}
