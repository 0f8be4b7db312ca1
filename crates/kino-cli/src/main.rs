//! The `kino` binary: a thin layer that parses flags into request structs and calls the
//! library crates. Exit codes: 0 ok, 1 the work failed, 2 bad usage.

/// `println!` that carries on when standard output has been closed (`kino eval mini | head`):
/// the work and the files it writes matter more than lines nobody reads any more, so a
/// closed pipe must not abort it with a panic (which `println!` does).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod allocator;
mod cli;
mod cli_movie;
mod commands;
mod exit;
mod progress;
mod subnormals;

use clap::Parser;

fn main() -> std::process::ExitCode {
    allocator::tune();
    subnormals::flush_to_zero();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", exit::one_line(&err));
            exit::code_for(&err)
        }
    }
}
