//! One module per subcommand; each turns flags into library calls.

mod bench;
mod bench_dit;
mod bench_train;
mod eval;
mod generate;
mod info;
mod movie;
mod output;
mod train;
mod world;

use crate::cli::{BenchCommand, Cli, Command, EvalCommand, TrainCommand, WorldCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(&args, cli.quiet),
        Command::World(WorldCommand::Render(args)) => world::render(&args, cli.quiet),
        Command::Info(args) => info::run(&args),
        Command::Bench(BenchCommand::Encode(args)) => bench::encode(&args, cli.quiet),
        Command::Bench(BenchCommand::Dit(args)) => bench_dit::run(&args, cli.quiet),
        Command::Bench(BenchCommand::Train(args)) => bench_train::run(&args, cli.quiet),
        Command::Movie(command) => movie::run(command, cli.quiet),
        Command::Train(TrainCommand::Mini(args)) => train::mini(&args, cli.quiet),
        Command::Eval(EvalCommand::Mini(args)) => eval::mini(&args, cli.quiet),
    }
}
