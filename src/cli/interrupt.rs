//! Ctrl-C during `train`: a last line on standard error saying where the backup of the last
//! completed epoch is and the command that resumes from it (or, without one, how to train
//! resumably), then exit status 130 as a shell reports SIGINT.
//!
//! The line is composed before training starts; the handler only writes those bytes and
//! exits (`write` and `_exit` are async-signal-safe: no allocation, no lock, no unwinding).

use std::sync::OnceLock;

/// The line the handler writes, composed by [`on_ctrl_c`].
static LINE: OnceLock<Vec<u8>> = OnceLock::new();

/// From now on Ctrl-C (SIGINT) writes `line` (and a newline) to standard error and ends the
/// process with status 130. Only the first call sets the line.
pub fn on_ctrl_c(line: &str) {
    if LINE.set(format!("\n{line}\n").into_bytes()).is_err() {
        return;
    }
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGINT: i32 = 2;
        // SAFETY: installs a handler that calls only async-signal-safe functions.
        unsafe {
            signal(SIGINT, handler as *const () as usize);
        }
    }
}

#[cfg(unix)]
extern "C" fn handler(_signum: i32) {
    extern "C" {
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        fn _exit(status: i32) -> !;
    }
    if let Some(line) = LINE.get() {
        // SAFETY: writes bytes that live for the rest of the process, then ends it without
        // running destructors or handlers (a backup being written is a temporary file, renamed
        // into place only when whole).
        unsafe {
            write(2, line.as_ptr(), line.len());
        }
    }
    // SAFETY: see above.
    unsafe { _exit(130) }
}

/// The line for a `train` run: with a backup folder, where it is and the command (this one,
/// with `--resume`) that continues; without, how to keep one.
pub fn train_line(backup: Option<&std::path::Path>) -> String {
    match backup {
        Some(dir) => {
            let command = super::command_line();
            let resume = if command.split(' ').any(|a| a == "--resume") { command } else { command + " --resume" };
            format!(
                "Interrupted. The backup of the last completed epoch (if one completed) is in {}; to continue \
                 from it, run: {resume}",
                dir.display()
            )
        }
        None => "Interrupted: nothing was saved (train --checkpoint-dir DIR keeps a backup of every epoch to \
                 resume from)"
            .to_string(),
    }
}
