//! Shared by the binary's tests: run `kino` and hand back what it did.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the freshly built `kino` binary with `args`.
pub fn kino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kino"))
        .args(args)
        .output()
        .expect("kino runs")
}

/// A path as UTF-8 text for an argument list (test paths are always UTF-8).
#[allow(dead_code)] // not every test binary uses it
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
