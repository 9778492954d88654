//! `HashingPool`: the bound on concurrent password hashes, a counting semaphore on
//! `std::sync` (no async runtime), whose permits carry the hasher.
//!
//! Each Argon2 computation holds one core and `m_cost` KiB of memory (19 MiB by default) for
//! tens of milliseconds. Without a bound, a login flood queues unbounded work on the blocking
//! pool, starves every other request and can exhaust memory. The app's pattern (actix/tokio),
//! with the runtime kept out of this crate:
//!
//! ```text
//! // In the async handler: never blocks the worker; refuse at once when saturated.
//! let permit = pool.try_acquire().map_err(|_| ApiError::Busy)?; // 503 + Retry-After
//! let outcome = web::block(move || permit.verify(&password, &stored)).await?;
//! ```
//!
//! or, to queue instead of shedding load, call [`HashingPool::acquire_timeout`] *inside* the
//! blocking closure. A permit is `Send + 'static`, so it moves into `spawn_blocking`, and is
//! released when dropped, panics included. The same pattern with a plain thread:
//!
//! ```
//! use sec_core::{HashParams, HashingPool, PasswordHasher, SecretString, VerifyError};
//!
//! let pool = HashingPool::with_default_bound(PasswordHasher::new(HashParams::default(), None));
//! let permit = pool.try_acquire().expect("a free slot");
//! let stored = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0c2FsdA$\
//!               AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
//! let outcome = std::thread::spawn(move || {
//!     permit.verify(&SecretString::from("typed at login".to_owned()), stored)
//! })
//! .join()
//! .expect("no panic");
//! assert_eq!(outcome, Err(VerifyError::Mismatch));
//! assert_eq!(pool.in_use(), 0); // the permit was dropped with the closure
//! ```

use std::num::NonZeroUsize;
use std::ops::Deref;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::PasswordHasher;

/// A shared, bounded gate in front of a [`PasswordHasher`]. Clones share the same bound.
#[derive(Debug, Clone)]
pub struct HashingPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hasher: PasswordHasher,
    max: usize,
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    waiting: usize,
}

/// The right to run one hash or verification; derefs to the [`PasswordHasher`]. Dropping it
/// frees the slot.
#[derive(Debug)]
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct HashPermit {
    inner: Arc<Inner>,
}

/// Every slot is taken: answer 503 with `Retry-After` rather than queueing without bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("all {max} password-hashing slots are busy")]
#[non_exhaustive]
pub struct PoolBusy {
    /// The pool's bound.
    pub max: usize,
}

/// The default bound: one concurrent hash per available core (as the OS and cgroup limits
/// report them), or 1 if that cannot be read. Memory then peaks at cores × `m_cost`.
pub fn default_max_concurrent_hashes() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

impl HashingPool {
    /// A pool allowing at most `max_concurrent` hashes at once.
    pub fn new(hasher: PasswordHasher, max_concurrent: NonZeroUsize) -> Self {
        Self {
            inner: Arc::new(Inner {
                hasher,
                max: max_concurrent.get(),
                state: Mutex::new(State::default()),
                released: Condvar::new(),
            }),
        }
    }

    /// A pool bounded by [`default_max_concurrent_hashes`].
    pub fn with_default_bound(hasher: PasswordHasher) -> Self {
        Self::new(hasher, default_max_concurrent_hashes())
    }

    /// Takes a slot if one is free, without waiting: safe to call on an async worker.
    ///
    /// # Errors
    /// [`PoolBusy`] when every slot is taken.
    pub fn try_acquire(&self) -> Result<HashPermit, PoolBusy> {
        let mut state = self.inner.lock();
        if state.in_use < self.inner.max {
            state.in_use += 1;
            Ok(self.permit())
        } else {
            Err(PoolBusy { max: self.inner.max })
        }
    }

    /// Waits for a slot. Blocks the thread: call it only on a blocking-pool thread.
    pub fn acquire(&self) -> HashPermit {
        let mut state = self.inner.lock();
        state.waiting += 1;
        while state.in_use >= self.inner.max {
            state = self.inner.released.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting -= 1;
        state.in_use += 1;
        self.permit()
    }

    /// Waits up to `timeout` for a slot. Blocks the thread: call it only on a blocking-pool
    /// thread.
    ///
    /// # Errors
    /// [`PoolBusy`] if no slot came free in time.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<HashPermit, PoolBusy> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.inner.lock();
        state.waiting += 1;
        while state.in_use >= self.inner.max {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                state.waiting -= 1;
                return Err(PoolBusy { max: self.inner.max });
            }
            state = self
                .inner
                .released
                .wait_timeout(state, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        state.waiting -= 1;
        state.in_use += 1;
        Ok(self.permit())
    }

    /// The bound.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max
    }

    /// Slots taken right now.
    pub fn in_use(&self) -> usize {
        self.inner.lock().in_use
    }

    /// Threads blocked in [`acquire`](Self::acquire) or
    /// [`acquire_timeout`](Self::acquire_timeout) right now.
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiting
    }

    /// The hasher's current parameters (reading them needs no slot).
    pub fn params(&self) -> super::HashParams {
        self.inner.hasher.params()
    }

    fn permit(&self) -> HashPermit {
        HashPermit { inner: Arc::clone(&self.inner) }
    }
}

impl Inner {
    /// The state is two counters updated without anything that can panic in between, so a
    /// poisoned lock still holds consistent counts.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Deref for HashPermit {
    type Target = PasswordHasher;

    fn deref(&self) -> &PasswordHasher {
        &self.inner.hasher
    }
}

impl Drop for HashPermit {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.in_use -= 1;
        drop(state);
        self.inner.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread;

    use super::*;
    use crate::HashParams;

    fn pool(max: usize) -> HashingPool {
        let max = NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN);
        HashingPool::new(PasswordHasher::new(HashParams::default(), None), max)
    }

    #[test]
    fn the_n_plus_first_try_acquire_is_refused_while_n_are_held() {
        let pool = pool(3);
        let held: Vec<HashPermit> =
            (0..3).map(|_| pool.try_acquire()).collect::<Result<_, _>>().unwrap();
        assert_eq!(pool.in_use(), 3);
        assert_eq!(pool.try_acquire().err(), Some(PoolBusy { max: 3 }));
        assert_eq!(pool.acquire_timeout(Duration::ZERO).err(), Some(PoolBusy { max: 3 }));
        drop(held);
        assert_eq!(pool.in_use(), 0);
        assert!(pool.try_acquire().is_ok());
    }

    #[test]
    fn acquire_blocks_until_a_permit_is_released() {
        let pool = pool(1);
        let held = pool.try_acquire().unwrap();
        let acquired = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (pool, acquired) = (pool.clone(), Arc::clone(&acquired));
            thread::spawn(move || {
                let _permit = pool.acquire();
                acquired.store(true, Ordering::SeqCst);
            })
        };
        // Wait (without a clock) until the other thread is parked inside `acquire`.
        while pool.waiting() == 0 {
            thread::yield_now();
        }
        assert!(!acquired.load(Ordering::SeqCst), "acquired a slot while all were held");
        assert_eq!(pool.in_use(), 1);
        drop(held);
        waiter.join().unwrap();
        assert!(acquired.load(Ordering::SeqCst));
        assert_eq!((pool.in_use(), pool.waiting()), (0, 0));
    }

    #[test]
    fn many_threads_never_exceed_the_bound() {
        let pool = pool(2);
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, active, peak) = (pool.clone(), Arc::clone(&active), Arc::clone(&peak));
                thread::spawn(move || {
                    for _ in 0..200 {
                        let _permit = pool.acquire();
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn a_permit_moves_to_another_thread_and_hashes_there() {
        let pool = pool(1);
        let permit = pool.try_acquire().unwrap();
        let params = thread::spawn(move || permit.params()).join().unwrap();
        assert_eq!(params, HashParams::default());
        assert_eq!(pool.in_use(), 0);
    }
}
