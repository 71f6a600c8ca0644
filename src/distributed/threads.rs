//! [`Threads`]: K ranks played by K threads of one process, so the data-parallel arithmetic
//! (each rank's shard, its gradient weighted by its share, the sum over ranks, the reduced
//! logs) runs in every `cargo test`, without MPI.
//!
//! The collectives meet at a barrier: each rank puts its buffer in its slot, and once all have,
//! each sums the slots in rank order (the same order on every rank, so every rank gets the
//! same bits). A rank that aborts wakes the others, which then panic too rather than wait
//! forever.

use super::Communicator;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// One rank of a world of threads, made by [`Threads::run`].
pub struct Threads {
    rank: usize,
    shared: Arc<Shared>,
}

/// What the ranks of one world share.
struct Shared {
    size: usize,
    state: Mutex<State>,
    turn: Condvar,
}

struct State {
    /// Ranks arrived at the current barrier.
    arrived: usize,
    /// Bumped when the last rank arrives.
    generation: u64,
    /// One buffer per rank for the current collective.
    f32s: Vec<Vec<f32>>,
    f64s: Vec<Vec<f64>>,
    bytes: Vec<u8>,
    /// A rank's abort: `(rank, code)`.
    aborted: Option<(usize, i32)>,
}

impl Threads {
    /// Runs `f(rank)` on `size` threads, one per rank, each with its rank's communicator
    /// installed as that thread's [`world`](super::world) (so `fit` there trains as one rank
    /// of `size`), and returns their results in rank order.
    ///
    /// # Panics
    /// When a rank panics or aborts (the others are released and panic too).
    pub fn run<T: Send>(size: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        let shared = Arc::new(Shared {
            size: size.max(1),
            state: Mutex::new(State {
                arrived: 0,
                generation: 0,
                f32s: vec![Vec::new(); size.max(1)],
                f64s: vec![Vec::new(); size.max(1)],
                bytes: Vec::new(),
                aborted: None,
            }),
            turn: Condvar::new(),
        });
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size.max(1))
                .map(|rank| {
                    let comm: Arc<dyn Communicator> = Arc::new(Threads { rank, shared: shared.clone() });
                    let (f, shared) = (&f, shared.clone());
                    scope.spawn(move || {
                        let _world = super::ThreadWorld::install(comm);
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(rank)));
                        if out.is_err() {
                            // Release the others from any barrier they wait at.
                            shared.lock().aborted.get_or_insert((rank, 101));
                            shared.turn.notify_all();
                        }
                        out
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("a rank's thread")).collect();
            results.into_iter().map(|r| r.unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    }

    /// Waits until every rank has arrived (`during` runs under the lock on arrival).
    fn barrier_with(&self, during: impl FnOnce(&mut State)) -> MutexGuard<'_, State> {
        let mut s = self.shared.lock();
        during(&mut s);
        let generation = s.generation;
        s.arrived += 1;
        if s.arrived == self.shared.size {
            s.arrived = 0;
            s.generation += 1;
            self.shared.turn.notify_all();
        }
        while s.generation == generation {
            if let Some((rank, code)) = s.aborted {
                drop(s);
                panic!("rank {} of {}: rank {rank} aborted (code {code})", self.rank, self.shared.size);
            }
            s = self.shared.turn.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s
    }
}

impl Threads {
    /// Each rank's `send` into its slot of `slots`, then the sum over ranks into `recv`.
    fn all_reduce<T: Copy + std::ops::Add<Output = T>>(
        &self,
        slots: fn(&mut State) -> &mut Vec<Vec<T>>,
        send: &[T],
        recv: &mut [T],
    ) {
        let mut s = self.barrier_with(|s| {
            let slot = &mut slots(s)[self.rank];
            slot.clear();
            slot.extend_from_slice(send);
        });
        sum_in_rank_order(slots(&mut s), recv);
        drop(s);
        // No rank refills its slot before every rank has read the sum.
        drop(self.barrier_with(|_| {}));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sum over ranks of one buffer per rank, in rank order, into `recv`.
fn sum_in_rank_order<T: Copy + std::ops::Add<Output = T>>(slots: &[Vec<T>], recv: &mut [T]) {
    recv.copy_from_slice(&slots[0][..recv.len()]);
    for slot in &slots[1..] {
        recv.iter_mut().zip(slot).for_each(|(r, &v)| *r = *r + v);
    }
}

impl Communicator for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.all_reduce(|s| &mut s.f32s, send, recv);
    }
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        self.all_reduce(|s| &mut s.f64s, send, recv);
    }
    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) {
        let s = self.barrier_with(|s| {
            if self.rank == root {
                s.bytes.clone_from(bytes);
            }
        });
        if self.rank != root {
            bytes.clone_from(&s.bytes);
        }
        drop(s);
        drop(self.barrier_with(|_| {}));
    }
    fn barrier(&self) {
        drop(self.barrier_with(|_| {}));
    }
    fn abort(&self, code: i32) -> ! {
        self.shared.lock().aborted.get_or_insert((self.rank, code));
        self.shared.turn.notify_all();
        panic!("rank {} of {} aborted (code {code})", self.rank, self.shared.size);
    }
    fn describe(&self) -> String {
        format!("{} threads of one process playing ranks", self.shared.size)
    }
}
