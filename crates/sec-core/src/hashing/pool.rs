//! `HashingPool`: a few threads that are the only ones to run Argon2, each owning the memory it
//! hashes in, fed by a bounded queue (`std::sync` only, no async runtime).
//!
//! Each Argon2 computation holds one core and `m_cost` KiB of memory (19 MiB by default) for
//! tens of milliseconds. Hashing on whichever thread asked (a web server's blocking pool has
//! hundreds) lets the allocator keep a freed 19 MiB area per thread arena, so memory after a
//! login flood grows with the number of threads that ever hashed, not with the bound on
//! concurrent hashes. Here at most `slots` threads ever hash, each allocates its area once and
//! reuses it, and a job beyond `slots` running plus `queue` waiting is refused at once with
//! [`PoolBusy`] (answer 503 with `Retry-After`). Memory for hashing is therefore at most
//! `slots × m_cost` KiB, whatever the load.
//!
//! Every method blocks the calling thread until its job has run (or was refused): call them on
//! a blocking-pool thread, never on an async worker. At most `slots + queue` callers wait at
//! once; the others are refused without waiting.
//!
//! ```
//! use std::time::Duration;
//!
//! use sec_core::{HashParams, HashingPool, PasswordHasher, SecretString, VerifyError};
//!
//! let pool = HashingPool::with_default_bound(PasswordHasher::new(HashParams::default(), None));
//! let stored = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0c2FsdA$\
//!               AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
//! let typed = SecretString::from("typed at login".to_owned());
//! let outcome = pool.verify(&typed, stored, Duration::from_secs(5));
//! assert!(matches!(outcome, Err(sec_core::PoolError::Failed(VerifyError::Mismatch))));
//! ```

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{HashError, PasswordHash, PasswordHasher, Verified, VerifyError, WorkArea};
use crate::Password;

/// Jobs that may wait for a hashing thread, beyond those running, unless the pool is built
/// with [`HashingPool::with_queue`].
pub const DEFAULT_HASH_QUEUE: usize = 64;

/// A shared pool of hashing threads in front of a [`PasswordHasher`]. Clones share the same
/// threads; they end once the last clone is dropped and the queue is empty.
#[derive(Debug, Clone)]
pub struct HashingPool {
    owner: Arc<Owner>,
}

/// Held only by [`HashingPool`] clones (the threads hold [`Shared`]): dropping the last clone
/// tells the threads to finish.
#[derive(Debug)]
struct Owner {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    hasher: PasswordHasher,
    slots: usize,
    queue: usize,
    state: Mutex<State>,
    work_ready: Condvar,
}

/// A job computes on a hashing thread and returns how to hand its outcome to the caller, which
/// the thread does only after it has counted itself free again: a caller that got its answer
/// and submits again at once must find the place it used free.
type JobFn = Box<dyn FnOnce(&PasswordHasher, &mut WorkArea) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce() + Send>;

struct Job {
    id: u64,
    run: JobFn,
}

#[derive(Default)]
struct State {
    queued: VecDeque<Job>,
    running: usize,
    threads: usize,
    next_id: u64,
    closed: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queued", &self.queued.len())
            .field("running", &self.running)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Every hashing thread is busy and the queue is full, or the job waited its whole `wait`
/// without starting: answer 503 with `Retry-After` rather than queueing without bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("all {max} password-hashing places (running and queued) are taken")]
#[non_exhaustive]
pub struct PoolBusy {
    /// Jobs the pool holds at most: hashing threads plus queue.
    pub max: usize,
}

/// A job on a hashing thread ended without an answer: it panicked, or no hashing thread could
/// be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password-hashing thread did not answer")]
#[non_exhaustive]
pub struct WorkerLost;

/// A pooled hash or verification did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E> {
    /// The pool is saturated ([`PoolBusy`]); nothing was computed.
    #[error(transparent)]
    Busy(PoolBusy),
    /// The job ran and failed (for a verification: [`VerifyError::Mismatch`] is the wrong
    /// password).
    #[error(transparent)]
    Failed(E),
}

/// The default number of hashing threads: one per available core (as the OS and cgroup limits
/// report them), or 1 if that cannot be read. Memory for hashing then peaks at cores × `m_cost`.
pub fn default_max_concurrent_hashes() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

impl HashingPool {
    /// A pool of at most `slots` hashing threads and a queue of [`DEFAULT_HASH_QUEUE`].
    pub fn new(hasher: PasswordHasher, slots: NonZeroUsize) -> Self {
        Self::with_queue(hasher, slots, DEFAULT_HASH_QUEUE)
    }

    /// A pool of at most `slots` hashing threads, where at most `queue` further jobs wait for
    /// one (0: a job is refused unless a thread is free). Threads start on demand, so a pool
    /// that never hashes has none, and each allocates its work area (`m_cost` KiB) once.
    pub fn with_queue(hasher: PasswordHasher, slots: NonZeroUsize, queue: usize) -> Self {
        let shared = Arc::new(Shared {
            hasher,
            slots: slots.get(),
            queue,
            state: Mutex::new(State::default()),
            work_ready: Condvar::new(),
        });
        Self { owner: Arc::new(Owner { shared }) }
    }

    /// A pool bounded by [`default_max_concurrent_hashes`].
    pub fn with_default_bound(hasher: PasswordHasher) -> Self {
        Self::new(hasher, default_max_concurrent_hashes())
    }

    /// Hashes a new password (see [`PasswordHasher::hash`]) on a hashing thread, waiting at
    /// most `wait` for it to start.
    ///
    /// # Errors
    /// [`PoolError::Busy`] when saturated; [`PoolError::Failed`] as `PasswordHasher::hash`.
    pub fn hash(
        &self,
        password: &Password,
        wait: Duration,
    ) -> Result<PasswordHash, PoolError<HashError>> {
        let normalized = SecretSlice::from(password.normalized_bytes().to_vec());
        self.job(wait, move |hasher, area| hasher.hash_normalized(normalized.expose_secret(), area))
    }

    /// Hashes again a password that has just verified (see
    /// [`PasswordHasher::rehash_verified`]) on a hashing thread.
    ///
    /// # Errors
    /// As [`hash`](Self::hash).
    pub fn rehash_verified(
        &self,
        candidate: &SecretString,
        wait: Duration,
    ) -> Result<PasswordHash, PoolError<HashError>> {
        let normalized = normalized_copy(candidate);
        self.job(wait, move |hasher, area| hasher.hash_normalized(normalized.expose_secret(), area))
    }

    /// Verifies a password typed at login (see [`PasswordHasher::verify`]) on a hashing
    /// thread.
    ///
    /// # Errors
    /// [`PoolError::Busy`] when saturated; [`PoolError::Failed`] as `PasswordHasher::verify`.
    pub fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
        wait: Duration,
    ) -> Result<Verified, PoolError<VerifyError>> {
        let normalized = normalized_copy(candidate);
        let stored = stored.to_owned();
        self.job(wait, move |hasher, area| {
            hasher.verify_normalized(normalized.expose_secret(), &stored, area)
        })
    }

    /// Spends the work of a failed verification (see [`PasswordHasher::dummy_verify`]) on a
    /// hashing thread, through the same queue and code path as [`verify`](Self::verify).
    ///
    /// # Errors
    /// [`PoolBusy`] when saturated, exactly when `verify` would be.
    pub fn dummy_verify(&self, candidate: &SecretString, wait: Duration) -> Result<(), PoolBusy> {
        let normalized = normalized_copy(candidate);
        let outcome = self.job(wait, move |hasher, area| {
            let outcome =
                hasher.verify_normalized(normalized.expose_secret(), hasher.dummy_phc(), area);
            // The result is unused by design; keep the optimiser from reasoning the work away.
            let _ = std::hint::black_box(outcome);
            Ok::<(), VerifyError>(())
        });
        match outcome {
            Err(PoolError::Busy(busy)) => Err(busy),
            Ok(()) | Err(PoolError::Failed(_)) => Ok(()),
        }
    }

    /// Runs `job` on a hashing thread, in the same bound and queue as the hashes, waiting at
    /// most `wait` for it to start: for work that must not run beside a full set of hashes
    /// (an operator's re-hash batch, a calibration).
    ///
    /// # Errors
    /// [`PoolError::Busy`] when saturated; [`PoolError::Failed`] if `job` panicked.
    pub fn run<T, F>(&self, wait: Duration, job: F) -> Result<T, PoolError<WorkerLost>>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.job(wait, move |hasher, _area| Ok(job(hasher)))
    }

    /// Hashing threads at most (the bound on concurrent hashes).
    pub fn max_concurrent(&self) -> usize {
        self.owner.shared.slots
    }

    /// Jobs that may wait beyond those running.
    pub fn queue_capacity(&self) -> usize {
        self.owner.shared.queue
    }

    /// Jobs running right now.
    pub fn running(&self) -> usize {
        self.owner.shared.lock().running
    }

    /// Jobs waiting for a thread right now.
    pub fn queued(&self) -> usize {
        self.owner.shared.lock().queued.len()
    }

    /// Hashing threads started so far (never more than [`max_concurrent`](Self::max_concurrent)).
    pub fn threads(&self) -> usize {
        self.owner.shared.lock().threads
    }

    /// The hasher's current parameters.
    pub fn params(&self) -> super::HashParams {
        self.owner.shared.hasher.params()
    }

    /// Queues `job` and waits for its outcome. A job that has not started after `wait` is taken
    /// back out of the queue and answered with [`PoolBusy`]; once started, it runs to its end.
    fn job<T, E, F>(&self, wait: Duration, job: F) -> Result<T, PoolError<E>>
    where
        F: FnOnce(&PasswordHasher, &mut WorkArea) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<WorkerLost> + Send + 'static,
    {
        let shared = &self.owner.shared;
        let busy = || PoolError::Busy(PoolBusy { max: shared.slots + shared.queue });
        let (answer, outcome) = mpsc::sync_channel(1);
        let id = {
            let mut state = shared.lock();
            if state.running + state.queued.len() >= shared.slots + shared.queue {
                return Err(busy());
            }
            if state.threads < shared.slots && state.running + state.queued.len() >= state.threads {
                match Shared::start_thread(shared) {
                    Ok(()) => state.threads += 1,
                    // No thread could be started (the OS refused one) and none runs: nothing
                    // would ever take the job.
                    Err(_) if state.threads == 0 => {
                        return Err(PoolError::Failed(E::from(WorkerLost)));
                    }
                    // The threads already running will take the job.
                    Err(_) => {}
                }
            }
            let id = state.next_id;
            state.next_id = state.next_id.wrapping_add(1);
            let run: JobFn = Box::new(move |hasher, area| {
                // A panic is caught here, so that the answer channel outlives it: it is sent
                // on, or for a panicked job dropped (which tells the caller), only once the
                // thread has counted the job finished. Dropped during the unwind, it let the
                // caller's next job find the pool still full.
                let outcome = catch_unwind(AssertUnwindSafe(|| job(hasher, area)));
                Box::new(move || {
                    if let Ok(outcome) = outcome {
                        // The caller may have stopped listening (it cannot once the job
                        // started, but a send to nobody is harmless either way).
                        let _ = answer.send(outcome);
                    }
                })
            });
            state.queued.push_back(Job { id, run });
            id
        };
        shared.work_ready.notify_one();
        let answer = match outcome.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {
                let mut state = shared.lock();
                if let Some(at) = state.queued.iter().position(|j| j.id == id) {
                    state.queued.remove(at);
                    return Err(busy());
                }
                drop(state);
                // Started in the meantime: its end is at most one hash away.
                outcome.recv().ok()
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Ok(answer) => Some(answer),
        };
        match answer {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(PoolError::Failed(e)),
            None => Err(PoolError::Failed(E::from(WorkerLost))),
        }
    }
}

fn normalized_copy(candidate: &SecretString) -> SecretSlice<u8> {
    crate::nfkc::with_nfkc(candidate.expose_secret(), |normalized| {
        SecretSlice::from(normalized.as_bytes().to_vec())
    })
}

/// The nice value of a hashing thread: [`lower_priority`].
const HASHING_NICE: i32 = 10;

/// Gives the calling thread the nice value [`HASHING_NICE`] (Linux; elsewhere a no-op).
///
/// A hash keeps a core busy for tens of milliseconds. At the default priority, a flood of
/// logins takes its full share of the CPU from every other request (the kernel splits a busy
/// core evenly between runnable threads), and the latency of cheap authenticated requests
/// grows with the flood (docs/performance.md). At nice 10 a hashing thread still gets any idle
/// core in full, and about a tenth of a contended one: when the machine is saturated, logins
/// wait rather than everything else. Raising one's own nice value needs no privilege; a
/// failure (a sandbox refusing `setpriority`) leaves the thread as it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux, PRIO_PROCESS with a thread id applies to that thread alone.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICE);
    }
}

impl Shared {
    /// The state is counters and a queue changed without anything that can panic in between
    /// (jobs run outside the lock), so a poisoned lock still holds consistent state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start_thread(shared: &Arc<Self>) -> std::io::Result<()> {
        let shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("password-hash".to_owned())
            .spawn(move || shared.work())
            .map(drop)
    }

    /// A hashing thread: allocates its work area once, then takes jobs until the pool is
    /// dropped and the queue is empty.
    fn work(&self) {
        lower_priority();
        let mut area = WorkArea::for_params(self.hasher.params());
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if let Some(job) = state.queued.pop_front() {
                        state.running += 1;
                        break job;
                    }
                    if state.closed {
                        state.threads -= 1;
                        return;
                    }
                    state = self.work_ready.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
            };
            // A panicking job drops its answer channel once delivered, which tells its caller;
            // the thread and its area stay for the next job. (Jobs catch their own panics;
            // this is the thread's safety net.)
            let deliver = catch_unwind(AssertUnwindSafe(|| (job.run)(&self.hasher, &mut area)));
            self.lock().running -= 1;
            if let Ok(deliver) = deliver {
                deliver();
            }
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work_ready.notify_all();
    }
}

impl From<WorkerLost> for HashError {
    fn from(_: WorkerLost) -> Self {
        Self::Internal
    }
}

impl From<WorkerLost> for VerifyError {
    fn from(_: WorkerLost) -> Self {
        Self::Internal
    }
}

#[cfg(test)]
mod tests;
