//! Shared helpers for the loading tests: where the wan-tiny fixture is, and scratch copies of it.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

/// tests/fixtures/wan-tiny, made by tools/reference/make_tiny_wan.py (see its FIXTURE.md).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wan-tiny")
}

/// A scratch copy of the fixture that a test may break.
pub fn fixture_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    kino_testkit::copy_dir(&fixture(), tmp.path());
    tmp
}

/// Replaces `from` by `to` in a text file (exactly once).
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}
