//! Prefetching: background workers fill batches ahead of the training step into a bounded
//! ring of planned [`Batch`]es (Keras's `workers` and `max_queue_size`).
//!
//! The order is the consumer's: a pass is a list of batch indices; a worker claims the next
//! position of the list, fills that batch into ring slot `position % slots`, and the
//! consumer takes positions in order, waiting for each. A worker claims a position only when
//! its slot has been given back, so at most `slots` batches are ahead. Which worker filled a
//! batch changes nothing in it, so training is the same for any number of workers. With no
//! workers the consumer fills each batch itself, on demand.
//!
//! Everything is planned when the ring is made: passes, waits and hand-overs allocate
//! nothing.

use super::{Batch, Dataset};
use crate::error::{Error, Result};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

/// The consumer's view: positions, the pass, and the dataset's epoch-end hook.
pub(crate) struct Ring<'d> {
    dataset: RwLock<&'d mut dyn Dataset>,
    ctl: Mutex<Ctl>,
    /// Workers wait here for a position to claim.
    work: Condvar,
    /// The consumer waits here for the workers to finish what they claimed.
    idle: Condvar,
    slots: Vec<(Mutex<Slot>, Condvar)>,
    workers: usize,
}

struct Ctl {
    /// The current pass: batch indices in the order they are taken.
    order: Vec<usize>,
    /// The next position a worker claims.
    next: usize,
    /// Positions taken by the consumer (so slots given back).
    consumed: usize,
    /// Positions claimed and not yet filled.
    in_flight: usize,
    /// Counts passes, so a slot filled for an abandoned pass is never taken for a new one.
    pass: usize,
    stop: bool,
}

struct Slot {
    batch: Batch,
    /// `(pass, position, outcome)` once filled.
    filled: Option<(usize, usize, Result<()>)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked in a dataset's `fill` poisons nothing the ring relies on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'d> Ring<'d> {
    /// A ring over `dataset` for `workers` background threads (0: the consumer fills) and
    /// `queue` batches ahead (at least one), planned for passes of up to `batches`.
    pub fn new(dataset: &'d mut dyn Dataset, workers: usize, queue: usize, batches: usize) -> Ring<'d> {
        let spec = dataset.spec();
        let slots = if workers == 0 { 1 } else { queue.max(1) };
        Ring {
            dataset: RwLock::new(dataset),
            ctl: Mutex::new(Ctl {
                order: Vec::with_capacity(batches),
                next: 0,
                consumed: 0,
                in_flight: 0,
                pass: 0,
                stop: false,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            slots: (0..slots)
                .map(|_| (Mutex::new(Slot { batch: Batch::new(&spec), filled: None }), Condvar::new()))
                .collect(),
            workers,
        }
    }

    /// Background threads to start, each running [`Ring::work`].
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Waits for the workers to finish what they claimed and stops further claims.
    fn quiesce(&self) -> MutexGuard<'_, Ctl> {
        let mut c = lock(&self.ctl);
        c.order.clear();
        c.next = 0;
        while c.in_flight > 0 {
            c = self.idle.wait(c).unwrap_or_else(|e| e.into_inner());
        }
        c
    }

    /// Begins a pass, abandoning what is left of the last one: `fill` writes the pass's batch
    /// indices, in the order they are taken (at most the planned number), into the ring's
    /// emptied list.
    pub fn begin_pass(&self, fill: impl FnOnce(&mut Vec<usize>)) {
        let mut c = self.quiesce();
        fill(&mut c.order);
        c.pass += 1;
        c.consumed = 0;
        drop(c);
        self.work.notify_all();
    }

    /// Calls the dataset's `on_epoch_begin(epoch)` once nothing is being filled.
    pub fn epoch_begin(&self, epoch: u64) {
        let c = self.quiesce();
        self.dataset.write().unwrap_or_else(|e| e.into_inner()).on_epoch_begin(epoch);
        drop(c);
    }

    /// Calls the dataset's `on_epoch_end` once nothing is being filled.
    pub fn epoch_end(&self) {
        let c = self.quiesce();
        self.dataset.write().unwrap_or_else(|e| e.into_inner()).on_epoch_end();
        drop(c);
    }

    /// Ends the workers' loops.
    pub fn stop(&self) {
        lock(&self.ctl).stop = true;
        self.work.notify_all();
    }

    /// Gives `f` the batch at `position` of the pass once it is filled; the slot goes back to
    /// the workers when `f` returns.
    ///
    /// # Errors
    /// The dataset's error filling the batch, as [`Error::Batch`] naming it; `f`'s error.
    pub fn take<R>(&self, position: usize, f: impl FnOnce(&Batch) -> Result<R>) -> Result<R> {
        let (index, pass) = {
            let c = lock(&self.ctl);
            (c.order[position], c.pass)
        };
        let in_batch = |e: Error| Error::Batch { index, error: Box::new(e) };
        if self.workers == 0 {
            let mut slot = lock(&self.slots[0].0);
            let dataset = self.dataset.read().unwrap_or_else(|e| e.into_inner());
            dataset.fill(index, &mut slot.batch).map_err(in_batch)?;
            return f(&slot.batch).map_err(in_batch);
        }
        let (m, cv) = &self.slots[position % self.slots.len()];
        let mut slot = lock(m);
        while !matches!(slot.filled, Some((p, q, _)) if p == pass && q == position) {
            slot = cv.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        let (_, _, filled) = slot.filled.take().expect("matched above");
        let out = filled.and_then(|()| f(&slot.batch)).map_err(in_batch);
        drop(slot);
        lock(&self.ctl).consumed = position + 1;
        self.work.notify_all();
        out
    }

    /// A worker's loop: claim a position whose slot is free, fill it, repeat; until
    /// [`Ring::stop`].
    pub fn work(&self) {
        loop {
            let (position, index, pass) = {
                let mut c = lock(&self.ctl);
                loop {
                    if c.stop {
                        return;
                    }
                    if c.next < c.order.len() && c.next < c.consumed + self.slots.len() {
                        break;
                    }
                    c = self.work.wait(c).unwrap_or_else(|e| e.into_inner());
                }
                c.next += 1;
                c.in_flight += 1;
                (c.next - 1, c.order[c.next - 1], c.pass)
            };
            {
                let (m, cv) = &self.slots[position % self.slots.len()];
                let mut slot = lock(m);
                let dataset = self.dataset.read().unwrap_or_else(|e| e.into_inner());
                // A dataset that panics in a worker becomes an error in the training thread,
                // which would otherwise wait for the batch forever.
                let fill = std::panic::AssertUnwindSafe(|| dataset.fill(index, &mut slot.batch));
                let outcome = std::panic::catch_unwind(fill).unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(Error::State(format!("the dataset panicked filling the batch: {message}")))
                });
                drop(dataset);
                slot.filled = Some((pass, position, outcome));
                cv.notify_all();
            }
            let mut c = lock(&self.ctl);
            c.in_flight -= 1;
            if c.in_flight == 0 {
                self.idle.notify_all();
            }
        }
    }
}

/// Runs `f` with a [`Ring`] over `dataset` whose workers run on scoped threads for as long as
/// `f` does.
pub(crate) fn with_ring<R>(
    dataset: &mut dyn Dataset,
    workers: usize,
    queue: usize,
    batches: usize,
    f: impl FnOnce(&Ring<'_>) -> R,
) -> R {
    let ring = Ring::new(dataset, workers, queue, batches);
    std::thread::scope(|s| {
        for _ in 0..ring.workers() {
            s.spawn(|| ring.work());
        }
        let out = f(&ring);
        ring.stop();
        out
    })
}
