//! The two-backend connection type and how the pool opens, checks and replaces connections.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::{PgConnection, SqliteConnection};
use sec_config::DatabaseTarget;
use secrecy::ExposeSecret;

use super::DbError;

/// A connection to either backend. Queries written against this type run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL (production, scale-out).
    Postgres(PgConnection),
    /// SQLite (embedded default).
    Sqlite(SqliteConnection),
}

/// Settings applied to every new SQLite connection.
///
/// - `busy_timeout` first, so that the other pragmas wait for a lock instead of failing;
/// - WAL lets readers proceed while one writer writes, which a pooled server needs;
/// - foreign keys are off by default in SQLite and must be on for the schema to hold;
/// - `synchronous = NORMAL` is durable across application crashes in WAL mode.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000;
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
PRAGMA synchronous = NORMAL;";

/// Opens connections for the pool, choosing the backend from the settings rather than by
/// trial (`MultiConnection::establish` would hand any string to SQLite as a file name).
#[derive(Debug)]
pub(crate) struct DbConnectionManager {
    target: DatabaseTarget,
}

impl DbConnectionManager {
    pub(crate) fn new(target: DatabaseTarget) -> Self {
        Self { target }
    }
}

/// Why the pool could not open or validate a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagerError {
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectionError),
    #[error("connection set-up failed: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("connection check failed: {0}")]
    Check(#[from] DbError),
    #[error("database path is not valid UTF-8")]
    Path,
}

impl r2d2::ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<DbConnection, ManagerError> {
        match &self.target {
            DatabaseTarget::Postgres { url } => {
                Ok(DbConnection::Postgres(PgConnection::establish(url.expose_secret())?))
            }
            DatabaseTarget::Sqlite { path } => {
                let path = path.to_str().ok_or(ManagerError::Path)?;
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ManagerError> {
        Ok(ping(conn)?)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        match conn {
            DbConnection::Postgres(c) => c.is_broken(),
            DbConnection::Sqlite(c) => c.is_broken(),
        }
    }
}

/// A trivial query that proves the connection works.
pub(crate) fn ping(conn: &mut DbConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// Sends the pool's connection failures to the log instead of `log`'s default handler.
#[derive(Debug)]
pub(crate) struct LogPoolErrors;

impl r2d2::HandleError<ManagerError> for LogPoolErrors {
    fn handle_error(&self, error: ManagerError) {
        // libpq's messages name host and port but never the password; they span several
        // lines, folded here so each failure is one log line.
        let message = error.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        tracing::warn!(error = %message, "database connection failed");
    }
}
