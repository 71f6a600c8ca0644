//! Every test that runs the command gives it a deadline: a command that hangs (a kernel
//! thread that died, a reader blocked on a FIFO) fails its test with the command line,
//! rather than holding CI until its own limit.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one run of the command may take in a test.
pub const DEADLINE: Duration = Duration::from_secs(600);

/// Runs `cmd` to its end, collecting its output, as [`Command::output`] does; kills it and
/// panics, naming it, when it has not ended within `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown} cannot start: {e}"));
    output_within_child(&mut child, limit)
}

/// [`output_within`] for a child already started (its piped outputs collected; others empty).
#[allow(dead_code)] // not every test crate that includes this file waits on its own children
pub fn output_within_child(child: &mut Child, limit: Duration) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not end within {} s: killed (a hang)", child.id(), limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}
