//! Training across processes and machines: data parallelism, as Keras's `DataParallel`
//! distribution and PyTorch's `DistributedDataParallel` do it, over MPI.
//!
//! `mpirun -np K minibatch train ...` (or a program that calls [`init`]) starts K processes,
//! the *ranks*, each with the whole model. Then, in `fit`:
//!
//! - **`batch_size` is the global batch.** Every rank draws the same epoch order (from the seed
//!   and the epoch, as one process does) and computes its own contiguous shard of each global
//!   batch ([`shard`]): rank `r` of `K` takes `n / K` samples, one more for the first
//!   `n % K` ranks, so a partial last batch is split as evenly as it can be.
//! - **One all-reduce per step.** Each rank's gradients, scaled by its share of the batch
//!   (`shard / n`), are summed across ranks over one flat buffer planned before the first step;
//!   every rank then applies the same update to the same weights. The step is the one-process
//!   step of the whole batch: the mean of the per-sample gradients, to rounding. With
//!   `MINIBATCH_BUCKET_KB=N` the buffer goes in buckets of about N KiB, each started while
//!   backward computes the layers before it (DDP's overlap; off by default, as it did not pay
//!   where measured).
//! - **Identical starting points.** Every rank builds the model from the same seed, so the
//!   weights agree without being sent; `fit` checks that the ranks agree on the model, the
//!   arguments and the data's shape (a broadcast checksum) and refuses with
//!   [`Error::Distributed`] on every rank when they do not.
//! - **Randomness by global position.** Dropout, attention dropout and the random augmentation
//!   layers draw each sample's randomness from a generator keyed by the step and the sample's
//!   position in the global batch, so the rank count does not change a mask or a flip.
//! - **Reduced logs.** The loss and every metric are sums and counts summed across ranks before
//!   logs are written ([`crate::metrics::Metric::state_len`]): the History of K ranks is the
//!   History of one process with the same global batch, to rounding. Validation is sharded and
//!   reduced the same way.
//! - **One writer.** Only rank 0 prints (the progress bar, the summary) and writes files
//!   (checkpoints, backups, CSV logs; the command's model, History, plots and reports).
//!   [`BackupAndRestore`](crate::callbacks::BackupAndRestore) restores every rank from rank 0's
//!   backup, sent to the others, so the ranks need no shared file system.
//! - **BatchNormalization** normalizes each rank's shard by the shard's own statistics (Keras's
//!   default, `synchronized=False`): with K ranks the statistics come from `n / K` samples, so
//!   such a model's History depends on K.
//!   [`BatchNormalization::synchronized`](crate::layers::BatchNormalization::synchronized)
//!   sums them over the ranks instead, and trains as one process does.
//!
//! Keras's jax `DataParallel` refuses a global batch the devices do not divide evenly; so does
//! minibatch (`batch_size` must be a multiple of K, and at least K), while the last, partial
//! batch of an epoch is split unevenly as above. A rank that meets an error the others cannot
//! know of (a file it cannot read) must end the run rather than leave them waiting: the
//! command prints the error with its rank and calls [`Communicator::abort`].
//!
//! `fit` and `fit_dataset` are what run over the processes; `evaluate`, `predict` and
//! `train_on_batch` run in each process on what it is given.
//!
//! The seam is [`Communicator`]: [`Local`] for one process, [`Mpi`](self) (feature `mpi`)
//! over the system's MPI library (Open MPI or MPICH), and [`Threads`], K ranks played by K
//! threads of one process (what the tests use to check the arithmetic without MPI). [`world`] is the process's communicator.

mod local;
#[cfg(feature = "mpi")]
mod mpi;
mod threads;

pub use local::Local;
#[cfg(feature = "mpi")]
pub use mpi::Mpi;
pub use threads::Threads;

use crate::error::{Error, Result};
use std::sync::{Arc, RwLock};

/// What data-parallel training needs from the processes it runs on: who am I, how many are
/// we, and three collective operations. Every process must call the collectives in the same
/// order with buffers of the same lengths.
pub trait Communicator: Send + Sync {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// How many processes train together.
    fn size(&self) -> usize;
    /// Element-wise sum of every process's `send`, written into `recv` on every process
    /// (`recv.len() == send.len()`).
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]);
    /// As [`Communicator::all_reduce_f32`], in f64 (counts and metric sums).
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]);
    /// Starts summing `send` into `recv` over every process without waiting
    /// (`MPI_Iallreduce`), so that the sum travels while work goes on;
    /// [`Communicator::progress`] lets it advance, [`Communicator::wait_all`] finishes every
    /// sum started. Every process must start the same sums in the same order. The default
    /// sums at once.
    ///
    /// # Safety
    /// `send` and `recv`, `len` values each, must stay valid, and `recv` untouched, until
    /// `wait_all` returns.
    unsafe fn start_all_reduce_f32(&self, send: *const f32, recv: *mut f32, len: usize) {
        // SAFETY: the caller's promise: both are `len` valid values, `recv` not aliased.
        let (send, recv) =
            unsafe { (std::slice::from_raw_parts(send, len), std::slice::from_raw_parts_mut(recv, len)) };
        self.all_reduce_f32(send, recv);
    }
    /// Lets the sums started with [`Communicator::start_all_reduce_f32`] advance (MPI moves
    /// data only inside its calls). Nothing by default.
    fn progress(&self) {}
    /// Waits until every sum started with [`Communicator::start_all_reduce_f32`] is done.
    /// Nothing by default.
    fn wait_all(&self) {}
    /// Rank `root`'s `bytes` on every process (the others' are replaced, length included).
    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize);
    /// Waits until every process has reached it.
    fn barrier(&self);
    /// Ends every process of the run at once with exit code `code`: what a process does after
    /// an error the others cannot know of, so that none waits forever in a collective.
    fn abort(&self, code: i32) -> !;
    /// The library and its version, for messages and benchmark tables.
    fn describe(&self) -> String;
}

/// The process's communicator, installed by [`init`] (or [`World::install`]).
static WORLD: RwLock<Option<Arc<dyn Communicator>>> = RwLock::new(None);

thread_local! {
    /// A communicator installed for one thread ([`Threads`]' ranks), before the process's.
    static THREAD_WORLD: std::cell::RefCell<Option<Arc<dyn Communicator>>> = const { std::cell::RefCell::new(None) };
}

/// A thread's own world while it lives (see [`Threads`]).
pub(crate) struct ThreadWorld;

impl ThreadWorld {
    pub(crate) fn install(comm: Arc<dyn Communicator>) -> ThreadWorld {
        THREAD_WORLD.with(|w| *w.borrow_mut() = Some(comm));
        ThreadWorld
    }
}

impl Drop for ThreadWorld {
    fn drop(&mut self) {
        THREAD_WORLD.with(|w| *w.borrow_mut() = None);
    }
}

/// The communicator training runs over: the one [`init`] installed, else [`Local`] (a world of
/// one process).
pub fn world() -> Arc<dyn Communicator> {
    if let Some(comm) = THREAD_WORLD.with(|w| w.borrow().clone()) {
        return comm;
    }
    static ALONE: std::sync::OnceLock<Arc<dyn Communicator>> = std::sync::OnceLock::new();
    let installed = WORLD.read().unwrap_or_else(|e| e.into_inner()).clone();
    installed.unwrap_or_else(|| ALONE.get_or_init(|| Arc::new(Local)).clone())
}

/// The installed communicator for as long as it lives; dropping it uninstalls it (and, for MPI,
/// finalizes the library, which must happen before the process exits).
pub struct World {
    comm: Arc<dyn Communicator>,
    /// Dropped after the communicator is uninstalled: MPI's environment (finalizes on drop).
    #[cfg(feature = "mpi")]
    _universe: Option<::mpi::environment::Universe>,
}

impl World {
    /// Installs `comm` as the process's [`world`] until the returned guard drops.
    pub fn install(comm: Arc<dyn Communicator>) -> World {
        *WORLD.write().unwrap_or_else(|e| e.into_inner()) = Some(comm.clone());
        World {
            comm,
            #[cfg(feature = "mpi")]
            _universe: None,
        }
    }

    /// The installed communicator.
    pub fn comm(&self) -> &Arc<dyn Communicator> {
        &self.comm
    }
}

impl Drop for World {
    fn drop(&mut self) {
        *WORLD.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The number of processes an MPI launcher (`mpirun`, `mpiexec`, Hydra, PMIx) started this one
/// among, from the variables it sets; `None` when no launcher started it.
pub fn launcher_size() -> Option<usize> {
    launcher_variable(&["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"])
}

/// How many of the processes a launcher started run on this machine (Open MPI's and MPICH's
/// variables); `None` when no launcher says.
pub fn local_size() -> Option<usize> {
    launcher_variable(&["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"])
}

/// The first of the variables `names` set to a number.
fn launcher_variable(names: &[&str]) -> Option<usize> {
    names.iter().find_map(|name| std::env::var(name).ok()?.trim().parse().ok())
}

/// Whether this process writes for the run: rank 0 of several, or the only one.
pub fn is_root() -> bool {
    if let Some(root) = THREAD_WORLD.with(|w| w.borrow().as_ref().map(|c| c.rank() == 0)) {
        return root;
    }
    WORLD.read().unwrap_or_else(|e| e.into_inner()).as_ref().is_none_or(|c| c.rank() == 0)
}

/// Joins the processes a launcher started: with the `mpi` feature and a launcher, MPI's world
/// (installed as [`world`] while the returned guard lives); without a launcher, one process
/// ([`Local`]), and MPI is not touched.
///
/// # Errors
/// [`Error::Distributed`] when a launcher started more than one process but this build has no
/// MPI (built without the `mpi` feature), or MPI could not start.
pub fn init() -> Result<World> {
    match launcher_size() {
        Some(size) if size > 1 => start_mpi(size),
        _ => Ok(World::install(Arc::new(Local))),
    }
}

#[cfg(feature = "mpi")]
fn start_mpi(_size: usize) -> Result<World> {
    let (universe, comm) = Mpi::init()?;
    let mut world = World::install(Arc::new(comm));
    world._universe = Some(universe);
    Ok(world)
}

#[cfg(not(feature = "mpi"))]
fn start_mpi(size: usize) -> Result<World> {
    Err(Error::Distributed {
        rank: 0,
        size,
        message: format!(
            "an MPI launcher started {size} processes, but this minibatch was built without MPI: \
             build it with `cargo build --release --features mpi` (needs libopenmpi-dev or MPICH, and libclang-dev)"
        ),
    })
}

/// The rows `[lo, hi)` of a batch of `n` samples that rank `rank` of `size` computes:
/// contiguous shards in rank order, the first `n % size` ranks one sample more.
///
/// ```
/// use minibatch::distributed::shard;
/// assert_eq!(shard(10, 0, 4), (0, 3));
/// assert_eq!(shard(10, 3, 4), (8, 10));
/// assert_eq!(shard(1, 1, 2), (1, 1)); // a rank may have nothing of a small last batch
/// ```
pub fn shard(n: usize, rank: usize, size: usize) -> (usize, usize) {
    let (base, extra) = (n / size, n % size);
    let lo = rank * base + rank.min(extra);
    (lo, lo + base + usize::from(rank < extra))
}

/// Checks a global batch of `batch_size` samples, whose first batch holds `first`, against
/// the processes of `comm`: `batch_size` a multiple of their number (as Keras's
/// `DataParallel` demands), and a sample for each in the first batch. The same on every
/// process, so every process refuses alike.
///
/// # Errors
/// [`Error::Distributed`] naming the values.
pub fn check_global_batch(comm: &dyn Communicator, batch_size: usize, first: usize) -> Result<()> {
    let size = comm.size();
    let refuse = |message: String| Err(Error::Distributed { rank: comm.rank(), size, message });
    if !batch_size.is_multiple_of(size) {
        return refuse(format!(
            "batch_size={batch_size} is the global batch, split evenly over the {size} processes: \
             give a multiple of {size} (as Keras's DataParallel)"
        ));
    }
    if first < size {
        return refuse(format!(
            "a global batch of {first} samples cannot give each of the {size} processes one: \
             use more data or fewer processes"
        ));
    }
    Ok(())
}

/// Checks that every process holds the same `fingerprint` of `what` as rank 0, so processes
/// started with different arguments or data stop before any work. Every process learns the
/// outcome (one broadcast, one all-reduce), so all return the same error, none hangs.
///
/// # Errors
/// [`Error::Distributed`] on every process when any differs.
pub(crate) fn agree(comm: &dyn Communicator, what: &str, fingerprint: u64) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let mut root = fingerprint.to_le_bytes().to_vec();
    comm.broadcast(&mut root, 0);
    let differs = root != fingerprint.to_le_bytes();
    let mut count = [0.0f64];
    comm.all_reduce_f64(&[f64::from(u8::from(differs))], &mut count);
    if count[0] > 0.0 {
        return Err(Error::Distributed {
            rank: comm.rank(),
            size: comm.size(),
            message: format!(
                "{} of {} processes were started with {what} different from rank 0's{}: start every rank \
                 with the same command and data",
                count[0] as usize,
                comm.size(),
                if differs { " (this one among them)" } else { "" },
            ),
        });
    }
    Ok(())
}

/// A checksum of bytes, for [`agree`]: 64-bit FNV-1a, continued from `seed`.
pub(crate) fn fingerprint(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed ^ 0xCBF2_9CE4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_a_batch_once_in_order() {
        for n in 0..40 {
            for size in 1..9 {
                let mut next = 0;
                for rank in 0..size {
                    let (lo, hi) = shard(n, rank, size);
                    assert_eq!(lo, next);
                    assert!(hi - lo == n / size || hi - lo == n / size + 1);
                    next = hi;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn one_process_always_agrees() {
        assert!(agree(&Local, "arguments", 1).is_ok());
        assert_eq!(world().size(), 1);
    }
}
