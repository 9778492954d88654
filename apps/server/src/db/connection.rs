//! The two-backend connection type and how the pool opens, checks and replaces connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    losses: Arc<LossClock>,
}

impl DbConnectionManager {
    pub(crate) fn new(target: DatabaseTarget) -> Self {
        Self { target, losses: Arc::new(LossClock::new()) }
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

/// A connection that proved itself this recently is handed out without a validation query.
///
/// Validating on every checkout doubles the round trips of a request on PostgreSQL
/// (docs/performance.md); never validating hands out connections that died while idle (database
/// restarted). A busy server checks a connection at most once per window, an idle one on first
/// use, as HikariCP's alive-bypass window does.
const VALIDATION_BYPASS: Duration = Duration::from_secs(2);

/// A pooled connection and when it last proved itself (connected, validated, or returned to the
/// pool unbroken after use).
pub(crate) struct PooledConnection {
    /// The connection.
    pub(crate) conn: DbConnection,
    last_good: Instant,
    /// A query on it failed the way a lost connection fails: the pool must not hand it out
    /// again.
    lost: bool,
    losses: Arc<LossClock>,
}

/// When any connection of the pool was last found lost. After a loss (a database restart
/// drops every connection at once) no connection proven good before it skips validation.
#[derive(Debug)]
pub(crate) struct LossClock {
    origin: Instant,
    /// Nanoseconds after `origin` of the last loss; 0 for none.
    last: AtomicU64,
}

impl LossClock {
    fn new() -> Self {
        Self { origin: Instant::now(), last: AtomicU64::new(0) }
    }

    fn record(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.last.store(nanos, Ordering::SeqCst);
    }

    /// True if `at` is after the last loss.
    fn after_last_loss(&self, at: Instant) -> bool {
        let at =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        at > self.last.load(Ordering::SeqCst)
    }
}

impl PooledConnection {
    /// Runs `work` on the connection and remembers when it failed as a lost connection does,
    /// so the pool discards it instead of handing it out again within the bypass window.
    pub(crate) fn run<T>(
        &mut self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let result = work(&mut self.conn);
        if matches!(result, Err(DbError::Unavailable(_))) {
            self.lost = true;
            self.losses.record();
        }
        result
    }
}

impl r2d2::ManageConnection for DbConnectionManager {
    type Connection = PooledConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<PooledConnection, ManagerError> {
        let conn = match &self.target {
            DatabaseTarget::Postgres { url } => {
                DbConnection::Postgres(PgConnection::establish(url.expose_secret())?)
            }
            DatabaseTarget::Sqlite { path } => {
                let path = path.to_str().ok_or(ManagerError::Path)?;
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                DbConnection::Sqlite(conn)
            }
        };
        Ok(PooledConnection {
            conn,
            last_good: Instant::now(),
            lost: false,
            losses: self.losses.clone(),
        })
    }

    fn is_valid(&self, pooled: &mut PooledConnection) -> Result<(), ManagerError> {
        if pooled.last_good.elapsed() < VALIDATION_BYPASS
            && self.losses.after_last_loss(pooled.last_good)
        {
            return Ok(());
        }
        ping(&mut pooled.conn)?;
        pooled.last_good = Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut PooledConnection) -> bool {
        let broken = pooled.lost
            || match &mut pooled.conn {
                DbConnection::Postgres(c) => c.is_broken(),
                DbConnection::Sqlite(c) => c.is_broken(),
            };
        // Called when the connection goes back to the pool after use: a query just worked on
        // it (or it is discarded).
        if !broken {
            pooled.last_good = Instant::now();
        }
        broken
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
