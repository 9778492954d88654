//! What can go wrong in the database layer, in terms the rest of the app can act on.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

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
    /// True for a unique-constraint violation that concerns `column` (matched against the
    /// constraint name on PostgreSQL, `table.column` on SQLite).
    pub fn is_conflict_on(&self, column: &str) -> bool {
        matches!(self, Self::Conflict { constraint: Some(c) } if c.contains(column))
    }
}
