//! kino-mini's tokenizer: a SentencePiece-style Unigram `tokenizer.json` whose pieces are the
//! procedural world's words, so the same tokenizer code that reads umT5's vocabulary reads it.
//! Ids 0, 1, 2 are `<pad>`, `</s>`, `<unk>` as in T5; a word outside the vocabulary becomes
//! `<unk>`, which the pipeline reports by name.

use serde_json::{Value, json};

/// SentencePiece's word-start marker.
const WORD_START: char = '\u{2581}';

/// Punctuation a caption may carry, each its own piece.
const PUNCTUATION: &[&str] = &[",", ".", "!", "?", ";", ":", "-", "'", "\""];

/// The pieces, in id order: specials, then `▁word` for every world word, then punctuation.
pub fn pieces() -> Vec<String> {
    let mut pieces: Vec<String> = ["<pad>", "</s>", "<unk>"].map(String::from).to_vec();
    for word in kino_world::vocabulary() {
        let piece = format!("{WORD_START}{word}");
        if !pieces.contains(&piece) {
            pieces.push(piece);
        }
    }
    pieces.extend(PUNCTUATION.iter().map(|p| (*p).to_string()));
    pieces
}

/// The `tokenizer/tokenizer.json` document.
pub fn tokenizer_json() -> Value {
    let vocab: Vec<Value> = pieces()
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            // Whole words score above punctuation so "grass." splits as "▁grass" + ".".
            let score = if i < 3 {
                0.0
            } else if piece.starts_with(WORD_START) {
                -1.0
            } else {
                -2.0
            };
            json!([piece, score])
        })
        .collect();
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": WORD_START.to_string(), "prepend_scheme": "always", "split": true}
        ]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}
        },
        "decoder": {"type": "Metaspace", "replacement": WORD_START.to_string(), "prepend_scheme": "always", "split": true},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": false}
    })
}

/// The `tokenizer/tokenizer_config.json` document: lower-case the prompt (the world's words
/// are lower case) and the prompt length.
pub fn tokenizer_config_json(max_sequence_length: usize) -> Value {
    json!({
        "tokenizer_class": "T5Tokenizer",
        "do_lower_case": true,
        "model_max_length": max_sequence_length,
        "pad_token": "<pad>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "extra_ids": 0
    })
}
