//! What can go wrong in the database layer, in terms the rest of the app can act on; and
//! [`Tx`], how a transaction of the repositories ends in a refusal rather than an error.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sec_auth::Change;

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No connection could be had (database down, pool exhausted past its timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint rejected the write; the constraint or column name when the backend
    /// reports it.
    #[error("unique constraint violated ({})", constraint.as_deref().unwrap_or("unknown"))]
    Conflict {
        /// Constraint (PostgreSQL) or `table.column` (SQLite) that was violated.
        constraint: Option<String>,
    },
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// Any other query failure.
    #[error("query failed: {0}")]
    Query(#[source] DieselError),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed")]
    TaskFailed,
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict {
                    constraint: info
                        .constraint_name()
                        .map(str::to_owned)
                        // SQLite names no constraint; its message says "UNIQUE constraint
                        // failed: users.email_canonical".
                        .or_else(|| {
                            info.message().rsplit_once(": ").map(|(_, col)| col.to_owned())
                        }),
                }
            }
            // A connection that died mid-query (server restarted, network cut) is an outage,
            // not a bug: it maps to 503, and the pool replaces the connection.
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

impl DbError {
    /// A step of the caller's own inside a unit of database work failed (sealing a value it
    /// was about to store, say): reported as a failed query, so the work stops like one.
    pub(crate) fn step_failed(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Query(DieselError::QueryBuilderError(cause.into()))
    }

    /// True for a unique-constraint violation that concerns `column` (matched against the
    /// constraint name on PostgreSQL, `table.column` on SQLite).
    pub fn is_conflict_on(&self, column: &str) -> bool {
        matches!(self, Self::Conflict { constraint: Some(c) } if c.contains(column))
    }
}

/// A row the database returned that the code cannot read: a bug or a damaged table.
pub(super) fn corrupt(message: String) -> DbError {
    DbError::Query(DieselError::DeserializationError(message.into()))
}

/// A transaction that may end in a refusal rather than an error.
#[derive(Debug)]
pub(super) enum Tx {
    Db(DbError),
    Refused(Change),
}

impl From<DieselError> for Tx {
    fn from(e: DieselError) -> Self {
        Self::Db(e.into())
    }
}

impl From<DbError> for Tx {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// The change a transaction made, or the refusal that rolled it back.
pub(super) fn finish(result: Result<Change, Tx>) -> Result<Change, DbError> {
    match result {
        Ok(change) | Err(Tx::Refused(change)) => Ok(change),
        Err(Tx::Db(e)) => Err(e),
    }
}

/// `Some` when the transaction committed, `None` when it was refused (and rolled back).
pub(super) fn committed<T>(result: Result<T, Tx>) -> Result<Option<T>, DbError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Tx::Refused(_)) => Ok(None),
        Err(Tx::Db(e)) => Err(e),
    }
}

/// Ends a transaction without writing anything it did.
pub(super) const REFUSED: Tx = Tx::Refused(Change::Unchanged);
