//! Script files: a Fountain screenplay or a TOML storyboard, read, parsed and planned.

use std::path::Path;

use crate::error::{LineError, MovieError, Result};
use crate::fountain::Screenplay;
use crate::plan::{Plan, PlanSettings, plan_screenplay, plan_storyboard};
use crate::storyboard::Storyboard;

/// What a script file holds.
#[derive(Debug, Clone)]
pub enum Script {
    /// A Fountain screenplay.
    Screenplay(Screenplay),
    /// A TOML storyboard.
    Storyboard(Storyboard),
}

/// Reads and parses a script: `.toml` is a storyboard, anything else Fountain. An empty
/// file and every parse error name the file (and line).
pub fn load_script(path: &Path) -> Result<Script> {
    let bytes = std::fs::read(path).map_err(|e| MovieError::io("cannot read", path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        LineError::new(line, "not valid UTF-8 text").in_file(path)
    })?;
    if text.trim().is_empty() {
        return Err(MovieError::Unusable {
            path: path.to_path_buf(),
            message: "the script is empty".into(),
        });
    }
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        crate::storyboard::parse(&text)
            .map(Script::Storyboard)
            .map_err(|e| e.in_file(path))
    } else {
        crate::fountain::parse(&text)
            .map(Script::Screenplay)
            .map_err(|e| e.in_file(path))
    }
}

/// Plans a loaded script; `path` is the file it came from (named in errors; a
/// storyboard's images are relative to its folder).
pub fn plan_script(script: &Script, path: &Path, settings: &PlanSettings) -> Result<Plan> {
    match script {
        Script::Screenplay(play) => plan_screenplay(play, path, settings),
        Script::Storyboard(board) => {
            let base = path.parent().unwrap_or(Path::new("."));
            plan_storyboard(board, base, settings)
        }
    }
}

/// Reads, parses and plans a script file.
pub fn plan_file(path: &Path, settings: &PlanSettings) -> Result<Plan> {
    plan_script(&load_script(path)?, path, settings)
}
