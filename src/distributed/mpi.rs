//! [`Mpi`]: the processes `mpirun` started, through the system's MPI library (rsmpi).

use super::Communicator;
use crate::error::{Error, Result};
use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::ffi;
use ::mpi::raw::AsRaw;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};
use ::mpi::Threading;
use std::os::raw::{c_int, c_void};
use std::sync::Mutex;

/// MPI's world communicator. MPI is started "serialized" (any thread may call, one at a time),
/// and the lock makes the calls one at a time.
pub struct Mpi {
    comm: Mutex<Handle>,
    rank: usize,
    size: usize,
}

/// The communicator handle, and the requests of the sums started and not yet waited for.
struct Handle(SimpleCommunicator, Vec<ffi::MPI_Request>);

// SAFETY: MPI was initialized with MPI_THREAD_SERIALIZED, which allows calls from any thread
// as long as no two overlap; every use goes through the `Mutex`, which guarantees that.
unsafe impl Send for Handle {}

/// The most elements one MPI call moves: counts are C ints.
const CHUNK: usize = 1 << 30;

impl Mpi {
    /// Starts MPI and returns its environment (keep it alive: dropping it finalizes MPI) and
    /// the world communicator.
    ///
    /// # Errors
    /// [`Error::Distributed`] when MPI was already started or cannot start.
    pub fn init() -> Result<(Universe, Mpi)> {
        let (universe, _level) = ::mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| {
            Error::Distributed { rank: 0, size: 0, message: "MPI was already started in this process".into() }
        })?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok((universe, Mpi { comm: Mutex::new(Handle(world, Vec::new())), rank, size }))
    }

    fn with<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        let guard = self.comm.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard.0)
    }

    fn with_requests<T>(&self, f: impl FnOnce(&SimpleCommunicator, &mut Vec<ffi::MPI_Request>) -> T) -> T {
        let mut guard = self.comm.lock().unwrap_or_else(|e| e.into_inner());
        let Handle(comm, requests) = &mut *guard;
        f(comm, requests)
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_f32(&self, send: &[f32], recv: &mut [f32]) {
        self.with(|c| {
            for (s, r) in send.chunks(CHUNK).zip(recv.chunks_mut(CHUNK)) {
                c.all_reduce_into(s, r, SystemOperation::sum());
            }
        })
    }
    fn all_reduce_f64(&self, send: &[f64], recv: &mut [f64]) {
        self.with(|c| {
            for (s, r) in send.chunks(CHUNK).zip(recv.chunks_mut(CHUNK)) {
                c.all_reduce_into(s, r, SystemOperation::sum());
            }
        })
    }
    unsafe fn start_all_reduce_f32(&self, send: *const f32, recv: *mut f32, len: usize) {
        self.with_requests(|c, requests| {
            for at in (0..len).step_by(CHUNK) {
                let n = CHUNK.min(len - at);
                // SAFETY: the caller keeps both buffers in place until wait_all; the request
                // is recorded and waited for there. The datatype and operation are MPI's own.
                unsafe {
                    let mut request = ffi::RSMPI_REQUEST_NULL;
                    let (s, r) = (send.add(at) as *const c_void, recv.add(at) as *mut c_void);
                    ffi::MPI_Iallreduce(s, r, n as c_int, ffi::RSMPI_FLOAT, ffi::RSMPI_SUM, c.as_raw(), &mut request);
                    requests.push(request);
                }
            }
        })
    }
    fn progress(&self) {
        self.with_requests(|_, requests| {
            if requests.is_empty() {
                return;
            }
            let mut done: c_int = 0;
            // SAFETY: the requests are this process's, started above (finished ones become
            // MPI_REQUEST_NULL, which MPI_Testall accepts).
            unsafe {
                ffi::MPI_Testall(requests.len() as c_int, requests.as_mut_ptr(), &mut done, ffi::RSMPI_STATUSES_IGNORE);
            }
        })
    }
    fn wait_all(&self) {
        self.with_requests(|_, requests| {
            // SAFETY: as in progress.
            unsafe {
                ffi::MPI_Waitall(requests.len() as c_int, requests.as_mut_ptr(), ffi::RSMPI_STATUSES_IGNORE);
            }
            requests.clear();
        })
    }
    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) {
        self.with(|c| {
            let process = c.process_at_rank(root as i32);
            let mut len = bytes.len() as u64;
            process.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            for chunk in bytes.chunks_mut(CHUNK) {
                process.broadcast_into(chunk);
            }
        })
    }
    fn barrier(&self) {
        self.with(|c| c.barrier())
    }
    fn abort(&self, code: i32) -> ! {
        // Not through the lock: another thread may hold it, waiting in a collective.
        let world = ::mpi::topology::SimpleCommunicator::world();
        world.abort(code)
    }
    fn describe(&self) -> String {
        let version = ::mpi::environment::library_version().unwrap_or_else(|_| "MPI".into());
        let first = version.split([',', '\n']).next().unwrap_or("MPI").trim().to_string();
        format!("{first} ({} processes)", self.size)
    }
}
