//! The pool's bounds, checked with jobs the test holds open (no timing): how many run, how
//! many wait, what is refused, which threads hash.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any error")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::{self, JoinHandle};

use super::*;
use crate::{HashParams, PasswordContext, PasswordPolicy};

const LONG: Duration = Duration::from_secs(60);

fn pool(slots: usize, queue: usize) -> HashingPool {
    // The cheapest valid parameters keep the tests quick; the bound does not depend on them.
    let params = HashParams::new(7_168, 5, 1).unwrap();
    HashingPool::with_queue(PasswordHasher::new(params, None), slots.try_into().unwrap(), queue)
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Puts a job on the pool that runs until the returned sender is dropped (or sent to).
fn hold(pool: &HashingPool) -> (Sender<()>, JoinHandle<Result<(), PoolError<WorkerLost>>>) {
    let (release, released): (Sender<()>, Receiver<()>) = channel();
    let pool = pool.clone();
    let handle = thread::spawn(move || {
        pool.run(LONG, move |_| {
            let _ = released.recv();
        })
    });
    (release, handle)
}

/// Spins (yielding, no clock) until `f` holds.
fn until(f: impl Fn() -> bool) {
    while !f() {
        thread::yield_now();
    }
}

#[test]
fn a_job_beyond_the_threads_and_the_queue_is_refused_at_once() {
    let pool = pool(1, 1);
    let (release_running, running) = hold(&pool);
    until(|| pool.running() == 1);
    let (release_queued, queued) = hold(&pool);
    until(|| pool.queued() == 1);

    // Full: refused without waiting, whatever the wait, for every kind of job.
    let busy = PoolBusy { max: 2 };
    assert_eq!(
        pool.verify(&secret("a typed password"), "$argon2id$v=19$m=7168,t=5,p=1$c29tZXNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", LONG),
        Err(PoolError::Busy(busy.clone()))
    );
    assert_eq!(pool.dummy_verify(&secret("a typed password"), LONG), Err(busy.clone()));
    assert_eq!(pool.run(LONG, |_| ()), Err(PoolError::Busy(busy)));
    assert_eq!((pool.running(), pool.queued(), pool.threads()), (1, 1, 1));

    drop(release_running);
    drop(release_queued);
    assert_eq!(running.join().unwrap(), Ok(()));
    assert_eq!(queued.join().unwrap(), Ok(()));
    assert!(pool.dummy_verify(&secret("a typed password"), LONG).is_ok());
}

#[test]
fn a_job_that_does_not_start_within_its_wait_is_withdrawn_and_never_runs() {
    let pool = pool(1, 4);
    let (release, running) = hold(&pool);
    until(|| pool.running() == 1);

    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let outcome = pool.run(Duration::from_millis(20), move |_| flag.store(true, Ordering::SeqCst));
    assert_eq!(outcome, Err(PoolError::Busy(PoolBusy { max: 5 })));
    assert_eq!(pool.queued(), 0, "the withdrawn job still holds a place in the queue");

    drop(release);
    assert_eq!(running.join().unwrap(), Ok(()));
    // Another job runs after it, on the same single thread: the withdrawn one never did.
    assert_eq!(pool.run(LONG, |_| 7), Ok(7));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn only_the_pool_threads_hash_and_there_are_never_more_than_slots() {
    let pool = pool(2, 64);
    let policy = PasswordPolicy::default();
    let callers: Vec<_> = (0..6)
        .map(|i| {
            let pool = pool.clone();
            let password = Password::new(
                secret(&format!("caller {i} hashes a long enough password")),
                &policy,
                &PasswordContext::new(),
            )
            .unwrap();
            thread::spawn(move || {
                for _ in 0..3 {
                    let hash = pool.hash(&password, LONG).unwrap();
                    let typed = secret(&format!("caller {i} hashes a long enough password"));
                    assert!(pool.verify(&typed, hash.as_str(), LONG).is_ok());
                    let name = pool.run(LONG, |_| thread::current().name().map(str::to_owned));
                    assert_eq!(name.unwrap().as_deref(), Some("password-hash"));
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    assert!(pool.threads() <= 2, "{} hashing threads", pool.threads());
    assert_eq!((pool.running(), pool.queued()), (0, 0));
}

#[test]
fn results_match_the_hasher_on_the_callers_thread() {
    let pool = pool(1, 0);
    let params = pool.params();
    let direct = PasswordHasher::new(params, None);
    let password = Password::new(
        secret("the same answer on any thread"),
        &PasswordPolicy::default(),
        &PasswordContext::new(),
    )
    .unwrap();
    // Hashed on the pool (in its reused area), verified directly, and the other way round.
    let pooled = pool.hash(&password, LONG).unwrap();
    assert!(direct.verify(&secret("the same answer on any thread"), pooled.as_str()).is_ok());
    let hashed = direct.hash(&password).unwrap();
    assert!(pool.verify(&secret("the same answer on any thread"), hashed.as_str(), LONG).is_ok());
    assert_eq!(
        pool.verify(&secret("another answer"), hashed.as_str(), LONG),
        Err(PoolError::Failed(VerifyError::Mismatch))
    );
    let rehashed = pool.rehash_verified(&secret("the same answer on any thread"), LONG).unwrap();
    assert!(direct.verify(&secret("the same answer on any thread"), rehashed.as_str()).is_ok());
}

#[test]
#[allow(clippy::panic, reason = "the job under test panics on purpose")]
fn a_panicking_job_answers_worker_lost_and_the_thread_carries_on() {
    let pool = pool(1, 0);
    let outcome: Result<(), _> = pool.run(LONG, |_| std::panic::panic_any("job failed"));
    assert_eq!(outcome, Err(PoolError::Failed(WorkerLost)));
    assert_eq!(pool.run(LONG, |_| 1), Ok(1));
    assert_eq!(pool.threads(), 1);
}

/// The nice value of the calling thread, from `/proc/thread-self/stat` (field 19).
#[cfg(target_os = "linux")]
fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces: the
    // first of them is field 3.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(19 - 3).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn hashing_threads_yield_a_contended_core_to_other_work() {
    let pool = pool(1, 0);
    let in_pool = pool.run(LONG, |_| own_nice()).unwrap();
    assert_eq!(in_pool, HASHING_NICE, "a hashing thread runs at the lower priority");
    assert_ne!(own_nice(), HASHING_NICE, "and the caller's thread is left as it was");
}
