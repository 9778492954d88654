//! What the rules answer when they refuse.

use crate::store::StoreError;

/// One rejected input field, with a stable code and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name in the request, e.g. `password`.
    pub field: &'static str,
    /// Stable code, e.g. `password_too_short` or `taken`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Input failed validation; every problem is listed.
    #[error("invalid input")]
    Invalid(Vec<FieldProblem>),
    /// Wrong identifier or password, or a disabled account: one answer for all, by design.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed attempts; try again after this many seconds.
    #[error("too many attempts")]
    Throttled {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// No valid session.
    #[error("not authenticated")]
    Unauthenticated,
    /// Authenticated without the permission needed.
    #[error("permission denied")]
    Forbidden,
    /// The target (account, session, role) does not exist.
    #[error("not found")]
    NotFound,
    /// The change would leave no enabled administrator.
    #[error("the last administrator cannot lose the role or be disabled")]
    LastAdmin,
    /// Password hashing is saturated; retry shortly.
    #[error("busy")]
    Busy,
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Something that should not fail did (no randomness, hashing error).
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

impl From<crate::hasher::HashFailure> for AuthError {
    fn from(f: crate::hasher::HashFailure) -> Self {
        match f {
            crate::hasher::HashFailure::Busy => Self::Busy,
            crate::hasher::HashFailure::Failed => Self::Internal("password hashing failed"),
        }
    }
}

impl From<sec_core::RandomnessError> for AuthError {
    fn from(_: sec_core::RandomnessError) -> Self {
        Self::Internal("the OS random number generator failed")
    }
}
