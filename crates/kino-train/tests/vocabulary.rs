//! kino-mini's tokenizer: every world word is one token, other words are reported.

#![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test

use kino_models::text::WanTokenizer;
use kino_train::vocabulary;

fn tokenizer() -> (tempfile::TempDir, WanTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, vocabulary::tokenizer_json().to_string()).unwrap();
    let t = WanTokenizer::from_file(&path).unwrap().with_lowercase(true);
    (dir, t)
}

#[test]
fn every_world_word_is_one_token_and_captions_end_in_eos() {
    let (_dir, t) = tokenizer();
    for word in kino_world::vocabulary() {
        let tokens = t.tokenize(&[word], 4).unwrap();
        assert_eq!(tokens.lengths[0], 2, "{word}: {:?}", tokens.input_ids[0]);
        assert_ne!(tokens.input_ids[0][0], 2, "{word} is <unk>");
        assert_eq!(tokens.input_ids[0][1], 1, "</s> is id 1");
    }
    let tokens = t
        .tokenize(&["An Orange star, drifting right."], 12)
        .unwrap();
    assert_eq!(tokens.lengths[0], 8); // an orange star , drifting right . </s>
    assert!(
        t.unknown_words("An Orange star, drifting right.")
            .is_empty()
    );
}

#[test]
fn unknown_words_are_named() {
    let (_dir, t) = tokenizer();
    assert_eq!(
        t.unknown_words("a red cat surfing on the sea, cat!"),
        vec!["cat".to_string(), "surfing".to_string()]
    );
    assert_eq!(
        t.known_words_only("A red Cat surfing on the sea, cat!"),
        "a red on the sea,"
    );
}
