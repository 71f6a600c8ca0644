//! The `minibatch` command: a thin shell over the library. Each subcommand lives in its own
//! file under `src/cli/`.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = cli::parse();
    // Started by mpirun: join the other processes (see minibatch::distributed).
    let world = match cli::join_processes(&cli.command) {
        Ok(world) => world,
        Err(e) => {
            say_error(&format!("error: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        // Every process found it (the processes disagree): each says so and ends normally.
        Err(e @ minibatch::Error::Distributed { .. }) => {
            say_error(&format!("error: {e}"));
            ExitCode::FAILURE
        }
        Err(e) => {
            let comm = world.comm();
            if comm.size() > 1 {
                // Perhaps this process alone: the others would wait for it forever.
                say_error(&format!("error: rank {} of {}: {e}", comm.rank(), comm.size()));
                comm.abort(1);
            }
            say_error(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes `line` and a newline to standard error in one write, so that the lines of processes
/// sharing it (the ranks `mpirun` started) do not interleave mid-line, as `eprintln!`'s
/// piecewise writes can.
fn say_error(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
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
