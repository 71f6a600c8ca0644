//! The `minibatch` command: a thin shell over the library. Each subcommand lives in its own
//! file under `src/cli/`.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
