//! Turning errors into one printed line and an exit code.

use std::process::ExitCode;

/// A usage error: the flags or arguments are wrong (exit code 2), as opposed to work that
/// failed (exit code 1).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns early with a usage error (exit code 2).
#[macro_export]
macro_rules! usage_bail {
    ($($t:tt)*) => { return Err(anyhow::Error::new($crate::exit::UsageError(format!($($t)*)))) };
}

/// The error and its causes on one line, outermost first.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// 2 for usage errors anywhere in the chain, else 1.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|c| c.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
