//! The `minibatch` command: a thin shell over the library. Each subcommand lives in its own
//! file under `src/cli/`.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A closed pipe ends the command quietly, as it ends `cat` (`minibatch lab | head`), rather
/// than as a panic: Rust ignores SIGPIPE by default, so writes would fail with EPIPE instead.
fn restore_sigpipe() {
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: restores the default disposition of one signal; no handler code runs.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}
