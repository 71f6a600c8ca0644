//! A fixed pool of worker threads for the kernels, started once, dispatching without
//! allocating.
//!
//! [`run`] splits a job into `parts` calls of one function, the caller doing part 0 and the
//! workers the rest, and returns when all are done. Between jobs a worker spins on the job
//! counter for a short while (a training step issues a product every few dozen microseconds,
//! and waking a sleeping thread costs about as much) and then sleeps until the next job.
//! If the pool is busy (another thread is inside `run`), the caller runs every part itself,
//! so nested or concurrent use is safe.
//!
//! A part that panics does not take the job down with it: the worker catches the unwind,
//! still counts its part as finished, and the caller re-raises the panic once every part is
//! done (as `std::thread::scope` does). Parts that wait for each other (a GEMM's shared
//! packing, at a barrier) see the job marked broken ([`job_broken`]) and stop with
//! [`Abandoned`], which the caller never re-raises over the panic that caused it. A kernel
//! bug is then a panic with its message, never a caller spinning forever on a count a dead
//! worker would have decremented, nor a part waiting for one that died.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

// The thread count, owned here with the threads (`kernels` re-exports it).

static REQUESTED_THREADS: AtomicUsize = AtomicUsize::new(0);
static THREADS: AtomicUsize = AtomicUsize::new(0);
static INIT: Once = Once::new();

/// The most threads matrix products use (a product splits into at most this many parts).
pub const MAX_THREADS: usize = 64;

/// Asks for `n` threads (1 to [`MAX_THREADS`]). Takes effect only before the first matrix product of the
/// process; returns the thread count actually in force after the call.
pub fn set_num_threads(n: usize) -> usize {
    REQUESTED_THREADS.store(n.max(1), Ordering::SeqCst);
    init_threads();
    num_threads()
}

/// The number of threads matrix products use.
pub fn num_threads() -> usize {
    init_threads();
    THREADS.load(Ordering::SeqCst)
}

fn init_threads() {
    INIT.call_once(|| {
        let requested = REQUESTED_THREADS.load(Ordering::SeqCst);
        let n = if requested > 0 {
            requested
        } else if let Some(n) = std::env::var("MINIBATCH_THREADS").ok().and_then(|s| s.trim().parse().ok()) {
            n
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        };
        THREADS.store(n.clamp(1, MAX_THREADS), Ordering::SeqCst);
    });
}

/// How long an idle worker spins before sleeping.
const SPIN: Duration = Duration::from_micros(200);

/// One job: `task(ctx, part)` for every part.
#[derive(Clone, Copy)]
struct Job {
    task: unsafe fn(*const (), usize),
    ctx: *const (),
    parts: usize,
}

struct Pool {
    /// The current job, written by `run` before it bumps `generation`.
    job: Mutex<Option<Job>>,
    /// Bumped once per job; workers watch it.
    generation: AtomicU64,
    /// Parts not yet finished by the workers of the current job.
    pending: AtomicUsize,
    /// Sleeping workers wait here for the next generation.
    wake: Condvar,
    sleep_lock: Mutex<()>,
    busy: Mutex<()>,
    /// The first panic of a worker's part in the current job (an [`Abandoned`] only when
    /// nothing else), re-raised by the caller.
    panicked: Mutex<Option<Box<dyn Any + Send>>>,
    workers: usize,
}

// SAFETY: `Job::ctx` points to data that outlives the job: `run` does not return before every
// part has finished, and the task functions share it read-only or write disjoint regions.
unsafe impl Sync for Pool {}
unsafe impl Send for Pool {}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let workers = num_threads().saturating_sub(1);
        for w in 0..workers {
            std::thread::Builder::new()
                .name(format!("minibatch-{w}"))
                .spawn(move || worker(w + 1))
                .expect("the operating system can start a kernel thread");
        }
        Pool {
            job: Mutex::new(None),
            generation: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            wake: Condvar::new(),
            sleep_lock: Mutex::new(()),
            busy: Mutex::new(()),
            panicked: Mutex::new(None),
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
        // Spin for the next job, then sleep.
        let spin_until = Instant::now() + SPIN;
        let mut spins = 0u32;
        while p.generation.load(Ordering::Acquire) == seen {
            spins = spins.wrapping_add(1);
            // Reading the clock costs more than a spin: look at it every 256 spins.
            if spins.is_multiple_of(256) && Instant::now() > spin_until {
                let mut guard = p.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                while p.generation.load(Ordering::Acquire) == seen {
                    guard = p.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                break;
            }
            std::hint::spin_loop();
        }
        seen = p.generation.load(Ordering::Acquire);
        let job = *p.job.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = job {
            if part < job.parts {
                // SAFETY: see `Pool`. A panic is kept for the caller: the count below must
                // still fall, or the caller would wait forever.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| unsafe { (job.task)(job.ctx, part) })) {
                    BROKEN.store(true, Ordering::Release);
                    let mut kept = p.panicked.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.as_ref().is_none_or(|k| k.is::<Abandoned>()) {
                        *kept = Some(payload);
                    }
                }
            }
        }
        p.pending.fetch_sub(1, Ordering::AcqRel);
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
    dispatch(p, guard, parts, ctx, task);
}

/// Hands a job to the workers (the caller holds the pool), runs part 0 and waits for the rest.
unsafe fn dispatch(
    p: &Pool,
    guard: std::sync::MutexGuard<'_, ()>,
    parts: usize,
    ctx: *const (),
    task: unsafe fn(*const (), usize),
) {
    *p.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(Job { task, ctx, parts });
    p.pending.store(p.workers, Ordering::Release);
    {
        // Bump under the sleep lock so a worker about to sleep cannot miss it.
        let _sleepers = p.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        p.generation.fetch_add(1, Ordering::AcqRel);
        p.wake.notify_all();
    }
    // Part 0's panic waits too: the workers still read `ctx`, which unwinding would free.
    let own = catch_unwind(AssertUnwindSafe(|| task(ctx, 0)));
    if own.is_err() {
        BROKEN.store(true, Ordering::Release);
    }
    while p.pending.load(Ordering::Acquire) > 0 {
        std::hint::spin_loop();
    }
    *p.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let theirs = p.panicked.lock().unwrap_or_else(|e| e.into_inner()).take();
    BROKEN.store(false, Ordering::Release);
    drop(guard);
    // The panic that broke the job, rather than a part's that stopped because of it.
    match (own, theirs) {
        (Err(own), Some(theirs)) if own.is::<Abandoned>() => resume_unwind(theirs),
        (Err(own), _) => resume_unwind(own),
        (Ok(()), Some(theirs)) => resume_unwind(theirs),
        (Ok(()), None) => {}
    }
}

/// Whether a part of the job in progress has panicked: a part waiting for the others (at a
/// barrier) checks it and stops with [`Abandoned`] rather than wait for a part that died.
pub(crate) fn job_broken() -> bool {
    BROKEN.load(Ordering::Acquire)
}

/// The panic of a part that stopped because another part of its job panicked (see
/// [`job_broken`]); the caller re-raises the other part's panic instead.
pub(crate) struct Abandoned;

/// Set when a part of the job in progress panics; cleared when the job ends.
static BROKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Like [`run`], but only when the parts can run in parallel (the pool is free and has
/// `parts - 1` workers): then runs them and returns true; otherwise runs nothing and returns
/// false. For tasks that synchronize with each other, which must not run one after another.
///
/// # Safety
/// As [`run`].
pub unsafe fn try_run_parallel(parts: usize, ctx: *const (), task: unsafe fn(*const (), usize)) -> bool {
    let p = pool();
    if parts < 2 || parts > p.workers + 1 {
        return false;
    }
    let Ok(guard) = p.busy.try_lock() else { return false };
    dispatch(p, guard, parts, ctx, task);
    true
}

/// Runs `f(part)` for `part` in `0..parts` on the pool (see [`run`]), without allocating.
pub fn for_each_part<F: Fn(usize) + Sync>(parts: usize, f: &F) {
    unsafe fn trampoline<F: Fn(usize) + Sync>(ctx: *const (), part: usize) {
        // SAFETY: `ctx` is the `&F` passed to `run` below, alive until it returns.
        unsafe { (*(ctx as *const F))(part) }
    }
    // SAFETY: `F: Sync`, so calling it from several threads at once is sound; `f` outlives
    // `run`, which returns only when every part is done.
    unsafe { run(parts, f as *const F as *const (), trampoline::<F>) }
}

/// Splits `0..len` into `max_parts()` contiguous ranges (one when `len < min_len`) and runs
/// `f(lo, hi)` for each on the pool.
pub fn for_each_range<F: Fn(usize, usize) + Sync>(len: usize, min_len: usize, f: F) {
    let parts = if len < min_len { 1 } else { max_parts() };
    for_each_part(parts, &|t| f(len * t / parts, len * (t + 1) / parts));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    /// A part that panics on a worker (or on the caller) is re-raised on the caller with its
    /// message, after every other part finished; the pool then runs the next job as before.
    #[test]
    fn a_panicking_part_is_raised_on_the_caller_not_a_hang() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let parts = max_parts();
            for bad in 0..parts {
                let done = AtomicUsize::new(0);
                let caught = catch_unwind(AssertUnwindSafe(|| {
                    for_each_part(parts, &|part| {
                        if part == bad {
                            let zero = parts - parts;
                            let _ = part / zero; // the planted bug: a divide by zero
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                }));
                let message = caught.err().and_then(|p| {
                    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned())
                });
                tx.send((bad, message, done.load(Ordering::SeqCst))).unwrap();
            }
            let sum = AtomicUsize::new(0);
            for_each_part(parts, &|part| {
                sum.fetch_add(part + 1, Ordering::SeqCst);
            });
            tx.send((usize::MAX, None, sum.load(Ordering::SeqCst))).unwrap();
        });
        let parts = max_parts();
        for bad in 0..parts {
            let (b, message, done) = rx.recv_timeout(Duration::from_secs(60)).expect("the job ended (no hang)");
            assert_eq!(b, bad);
            let message = message.expect("the panic reached the caller");
            assert!(message.contains("divide by zero"), "{message}");
            // On the workers every other part runs to its end; when the pool is busy (another
            // test's job) the caller runs the parts in turn and stops at the panic.
            assert!(done < parts, "the panicking part never finished");
        }
        let (_, _, sum) = rx.recv_timeout(Duration::from_secs(60)).expect("the pool runs on after a panic");
        assert_eq!(sum, parts * (parts + 1) / 2);
    }

    /// Parts that wait for each other (as a GEMM's cooperative parts do at its barrier): when
    /// one panics, the one waiting stops too, and the caller gets the first part's panic, not
    /// the waiting part's [`Abandoned`].
    #[test]
    fn a_part_waiting_for_one_that_panicked_stops_and_the_cause_is_raised() {
        if max_parts() < 2 {
            eprintln!("skipped: one kernel thread, no parts run together");
            return;
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let arrived = AtomicUsize::new(0);
            let task = |part: usize| {
                if part == 1 {
                    panic!("the planted bug in part 1");
                }
                // Part 0 waits for part 1, which never arrives.
                while arrived.load(Ordering::Acquire) < 1 {
                    if job_broken() {
                        std::panic::panic_any(Abandoned);
                    }
                    std::hint::spin_loop();
                }
                arrived.fetch_add(1, Ordering::AcqRel);
            };
            unsafe fn trampoline<F: Fn(usize) + Sync>(ctx: *const (), part: usize) {
                unsafe { (*(ctx as *const F))(part) }
            }
            fn run_together<F: Fn(usize) + Sync>(f: &F) -> bool {
                // SAFETY: `F: Sync`; `f` outlives the call, which returns when both parts end.
                unsafe { try_run_parallel(2, f as *const F as *const (), trampoline::<F>) }
            }
            // The pool may be busy with another test's job: try until the parts run together.
            let start = Instant::now();
            loop {
                let caught = catch_unwind(AssertUnwindSafe(|| run_together(&task)));
                match caught {
                    Ok(false) if start.elapsed() < Duration::from_secs(30) => std::thread::yield_now(),
                    // The pool busy for 30 s, or the parts done without the planted panic.
                    Ok(ran) => break tx.send(Err(ran)).unwrap(),
                    Err(payload) => {
                        let message = payload.downcast_ref::<&str>().map(|s| s.to_string());
                        break tx.send(Ok(message)).unwrap();
                    }
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)).expect("the job ended (no hang)") {
            Ok(message) => assert_eq!(message.as_deref(), Some("the planted bug in part 1")),
            Err(ran) => panic!(
                "{}",
                if ran { "the parts ran together without a panic" } else { "the parts never ran together in 30 s" }
            ),
        }
    }
}
