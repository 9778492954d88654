//! The one way the app runs blocking work (diesel calls, password hashing, the audit-head
//! comparison) off the async workers: [`run`] moves a closure to tokio's blocking pool and
//! runs it inside the caller's tracing span.
//!
//! It sits below every other module (it imports none), so `db/`, `auth/`, `audit/`, start-up
//! and housekeeping all use it without an import cycle.

/// The blocking task panicked, or was cancelled because the runtime is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("blocking task failed")]
pub(crate) struct TaskFailed;

/// Runs `work` on the blocking thread pool, inside the span current at the call.
///
/// A blocking thread does not inherit the caller's span: it is carried, so that whatever the
/// work logs still names the request it belongs to. Where no span is current (start-up,
/// background tasks) the work runs in none, as it would have anyway.
///
/// # Errors
/// [`TaskFailed`] when the task panicked or was cancelled; `work`'s own result is returned
/// as it is.
pub(crate) async fn run<T, F>(work: F) -> Result<T, TaskFailed>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work)).await.map_err(|_| TaskFailed)
}
