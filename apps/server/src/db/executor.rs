//! The threads that run a request's database work: a fixed set, one per pooled connection,
//! fed from one bounded queue, started on first use.
//!
//! tokio's blocking pool could run the same closures, but it is the wrong shape for them:
//! each async worker has its own, each grows to its thread bound under load, and it is shared
//! with work that holds a thread for a long time (a login waits there for a hashing slot). A
//! burst of requests then puts more threads on the database than the pool has connections,
//! and the surplus sleeps in the pool's queue and is woken one by one (futex waits and task
//! switches on every request; docs/performance.md). Here at most one job per connection runs
//! at a time, the rest wait as queued closures rather than as sleeping threads, and a job
//! only ever waits for a connection held by work outside the executor.
//!
//! Only work that holds a connection and nothing slower belongs here: no password hashing
//! (it would hold a database thread while it waits for a hashing slot).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Sender, TrySendError};

/// Jobs that may wait in the queue per thread before new work is refused as busy.
const QUEUED_PER_THREAD: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not produce its result.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExecutorError {
    /// Every thread is busy and the queue is full.
    #[error("database work queue is full")]
    Full,
    /// The job panicked (its panic was logged by the panic hook), or the executor is gone.
    #[error("database task failed")]
    Failed,
}

/// The database threads. Cheap to share: clones of [`super::Db`] share one.
#[derive(Debug)]
pub(super) struct Executor {
    threads: usize,
    queue: OnceLock<Sender<Job>>,
    /// Threads that did start (the system may refuse some: a task limit reached).
    started: AtomicUsize,
}

impl Executor {
    /// An executor of `threads` threads (at least one), not started yet: a command that never
    /// calls [`Executor::run`] (the command line) never starts a thread.
    pub(super) fn new(threads: usize) -> Self {
        Self { threads: threads.max(1), queue: OnceLock::new(), started: AtomicUsize::new(0) }
    }

    fn queue(&self) -> &Sender<Job> {
        self.queue.get_or_init(|| {
            let (sender, receiver) =
                crossbeam_channel::bounded::<Job>(self.threads.saturating_mul(QUEUED_PER_THREAD));
            for n in 0..self.threads {
                let receiver = receiver.clone();
                let spawned =
                    std::thread::Builder::new().name(format!("db-{n}")).spawn(move || {
                        // Ends when every sender is gone (the last clone of the `Db` dropped).
                        while let Ok(job) = receiver.recv() {
                            // A panicking job must not take its thread with it; its result
                            // channel closes, and the caller sees `Failed`.
                            let _ = catch_unwind(AssertUnwindSafe(job));
                        }
                    });
                match spawned {
                    Ok(_) => {
                        self.started.fetch_add(1, Ordering::Relaxed);
                    }
                    // Fewer threads than asked for still run every job; none at all makes
                    // every job fail at once (`run`) rather than wait in a queue nobody reads.
                    Err(e) => tracing::error!(error = %e, "cannot start a database thread"),
                }
            }
            sender
        })
    }

    /// Runs `work` on a database thread, inside the span current at the call (as
    /// `crate::blocking::run` does), and waits for its result without blocking the caller's
    /// async worker.
    ///
    /// # Errors
    /// [`ExecutorError::Full`] when the queue is full; [`ExecutorError::Failed`] when the
    /// job panicked or no database thread could be started.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, ExecutorError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let queue = self.queue();
        if self.started.load(Ordering::Relaxed) == 0 {
            return Err(ExecutorError::Failed);
        }
        let span = tracing::Span::current();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(span.in_scope(work));
        });
        match queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(ExecutorError::Full),
            Err(TrySendError::Disconnected(_)) => return Err(ExecutorError::Failed),
        }
        result.await.map_err(|_| ExecutorError::Failed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
    #![allow(clippy::panic, reason = "a job that panics on purpose")]

    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_own_named_threads_and_survives_a_panicking_job() {
        let executor = Executor::new(2);
        let name = executor.run(|| std::thread::current().name().map(str::to_owned)).await;
        assert!(name.unwrap().unwrap().starts_with("db-"));

        let panicked = executor.run(|| -> u8 { panic!("job failed on purpose") }).await;
        assert!(matches!(panicked, Err(ExecutorError::Failed)));
        // Both threads are still there: two jobs that wait for each other finish.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let first = executor.run(move || rx.recv().is_ok());
        let second = executor.run(move || tx.send(()).is_ok());
        let (first, second) = tokio::join!(first, second);
        assert!(first.unwrap() && second.unwrap());
    }

    #[tokio::test]
    async fn with_no_thread_started_a_job_fails_at_once_instead_of_waiting() {
        let executor = Executor::new(1);
        let _ = executor.queue();
        // As if the system had refused every thread (a task limit reached).
        executor.started.store(0, Ordering::Relaxed);
        assert!(matches!(executor.run(|| ()).await, Err(ExecutorError::Failed)));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_new_work_at_once_and_drains() {
        let executor = Executor::new(1);
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let occupy: Job = Box::new(move || {
            let _ = started_tx.send(());
            let _ = hold.recv();
        });
        assert!(executor.queue().try_send(occupy).is_ok());
        started.recv().unwrap();
        // The one thread is busy: the queue takes its bound, then refuses.
        for _ in 0..QUEUED_PER_THREAD {
            assert!(executor.queue().try_send(Box::new(|| {})).is_ok());
        }
        assert!(matches!(executor.run(|| ()).await, Err(ExecutorError::Full)));
        drop(release);
        let mut ran = false;
        for _ in 0..1000 {
            if executor.run(|| ()).await.is_ok() {
                ran = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        assert!(ran, "the queue drains once the thread is free");
    }
}
