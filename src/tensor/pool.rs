//! A fixed pool of worker threads for the kernels, started once, dispatching without
//! allocating.
//!
//! [`run`] splits a job into `parts` calls of one function, the caller doing part 0 and the
//! workers the rest, and returns when all are done. If the pool is busy (another thread is
//! inside `run`), the caller runs every part itself, so nested or concurrent use is safe.

use std::sync::{Condvar, Mutex, OnceLock};

/// One job: `task(ctx, part)` for every part.
#[derive(Clone, Copy)]
struct Job {
    task: unsafe fn(*const (), usize),
    ctx: *const (),
    parts: usize,
}

// SAFETY: `ctx` points to data that outlives the job: `run` does not return before every part
// has finished, and the task functions only share it read-only or write disjoint regions.
unsafe impl Send for Job {}

struct State {
    generation: u64,
    job: Option<Job>,
    /// Parts not yet finished by the workers.
    pending: usize,
}

struct Pool {
    state: Mutex<State>,
    start: Condvar,
    done: Condvar,
    busy: Mutex<()>,
    workers: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let workers = super::kernels::num_threads().saturating_sub(1);
        for w in 0..workers {
            std::thread::Builder::new()
                .name(format!("minibatch-{w}"))
                .spawn(move || worker(w + 1))
                .expect("the operating system can start a kernel thread");
        }
        Pool {
            state: Mutex::new(State { generation: 0, job: None, pending: 0 }),
            start: Condvar::new(),
            done: Condvar::new(),
            busy: Mutex::new(()),
            workers,
        }
    })
}

fn worker(part: usize) {
    // Held for the thread's life: it only ever runs minibatch's kernels.
    let _flush = super::FlushDenormals::new();
    let p = loop {
        if let Some(p) = POOL.get() {
            break p;
        }
        std::thread::yield_now();
    };
    let mut seen = 0;
    loop {
        let job = {
            let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
            while s.generation == seen {
                s = p.start.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            seen = s.generation;
            s.job
        };
        if let Some(job) = job {
            if part < job.parts {
                // SAFETY: see `Job`.
                unsafe { (job.task)(job.ctx, part) };
            }
        }
        let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
        s.pending -= 1;
        if s.pending == 0 {
            p.done.notify_one();
        }
    }
}

/// Parts a job may be split into: the pool's workers plus the caller.
pub fn max_parts() -> usize {
    pool().workers + 1
}

/// Runs `task(ctx, part)` for `part` in `0..parts` (`parts <= max_parts()`) and returns when
/// all have finished.
///
/// # Safety
/// `task` must be safe to call concurrently for distinct parts with the same `ctx`, and `ctx`
/// must stay valid until `run` returns.
pub unsafe fn run(parts: usize, ctx: *const (), task: unsafe fn(*const (), usize)) {
    let p = pool();
    let guard = match (parts > 1 && p.workers > 0).then(|| p.busy.try_lock()) {
        Some(Ok(guard)) => guard,
        _ => {
            for part in 0..parts {
                task(ctx, part);
            }
            return;
        }
    };
    {
        let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
        s.job = Some(Job { task, ctx, parts });
        s.generation += 1;
        s.pending = p.workers;
        p.start.notify_all();
    }
    task(ctx, 0);
    let mut s = p.state.lock().unwrap_or_else(|e| e.into_inner());
    while s.pending > 0 {
        s = p.done.wait(s).unwrap_or_else(|e| e.into_inner());
    }
    s.job = None;
    drop(s);
    drop(guard);
}
