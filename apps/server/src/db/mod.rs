//! The database layer: one connection type that is either SQLite or PostgreSQL, a pool, the
//! embedded migrations, and the repositories of each table.
//!
//! Queries are written once against [`DbConnection`] (diesel's `MultiConnection`), so both
//! backends run the same code and the same tests. Diesel is synchronous: a request's call goes
//! through [`Db::run`] (or [`Db::execute`], for rule code that reaches the database through
//! the `AuthStore`), which runs it on one of the database threads (`executor`, one per pooled
//! connection), never on an async worker.

pub(crate) mod account_tokens;
pub mod audit_heads;
pub mod auth_store;
mod connection;
mod error;
mod executor;
pub(crate) mod housekeeping;
mod login_throttle;
pub(crate) mod mfa;
mod migrations;
pub mod notes;
pub mod outbox;
pub mod page;
mod roles;
pub mod schema;
mod sessions;
pub mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sec_audit::owner_only;
use sec_config::{DatabaseSettings, DatabaseTarget};

pub use auth_store::DbAuthStore;
pub use connection::DbConnection;
use connection::DbConnectionManager;
pub use error::DbError;
pub use migrations::MigrationReport;

/// Runs the same diesel expression on whichever backend `conn` is, on that backend's own
/// connection type rather than through [`DbConnection`]: `on_backend!(conn, |c| query.load(c))`.
///
/// For hot queries only (the session lookup of every authenticated request): the two-backend
/// connection writes out a statement's SQL on every execution, which the backend's own type
/// skips for a statement it has prepared. The expression is written once and compiled once
/// per backend, so both still run the same query.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// How long a readiness probe waits for a connection before it calls the database down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of connections to the configured database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<DbConnectionManager>,
    target: DatabaseTarget,
    executor: Arc<executor::Executor>,
    /// Woken after mail is queued through this pool, so that this replica's outbox worker
    /// sends it at once rather than at its next poll.
    mail_queued: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Db {
    /// Creates the pool without connecting: a database that is down at start-up makes the
    /// server not ready (`/readyz` answers 503) rather than unable to start, and the pool
    /// reconnects by itself when the database comes back. For SQLite, the folder of the file
    /// is created (owner-only) if missing, and so is the file itself (mode 0600).
    pub fn new(settings: &DatabaseSettings) -> Result<Self, DbError> {
        Self::open(settings, 1)
    }

    /// [`Db::new`] for a command that runs once and exits (`migrate`, `users`, `audit`...):
    /// no connection is kept idle, so the pool never opens one in the background. With one
    /// kept idle, taking it makes the pool's thread open a replacement, which may still be
    /// inside the driver when the command returns and the process exits under it.
    pub fn for_command(settings: &DatabaseSettings) -> Result<Self, DbError> {
        Self::open(settings, 0)
    }

    fn open(settings: &DatabaseSettings, min_idle: u32) -> Result<Self, DbError> {
        let target = settings.target().clone();
        if let DatabaseTarget::Sqlite { path } = &target {
            create_parent_dir(path)?;
            create_owner_only_file(path)?;
        }
        let size = settings.pool_max_size();
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(min_idle))
            .connection_timeout(settings.acquire_timeout())
            // A connection that broke while idle (database restarted) is detected and replaced
            // before a request gets it; one used in the last two seconds skips the check
            // (connection::VALIDATION_BYPASS).
            .test_on_check_out(true)
            .error_handler(Box::new(connection::LogPoolErrors))
            .build_unchecked(DbConnectionManager::new(target.clone()));
        let executor = Arc::new(executor::Executor::new(usize::try_from(size).unwrap_or(1)));
        Ok(Self { pool, target, executor, mail_queued: Arc::new(tokio::sync::Notify::new()) })
    }

    /// The signal that mail was queued through this pool (`outbox.rs` waits on it).
    pub fn mail_queued(&self) -> &tokio::sync::Notify {
        &self.mail_queued
    }

    /// Which database this is, safe to log (no credentials).
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.target.backend_name()
    }

    /// Runs `work` with a pooled connection on a database thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        self.execute(move || {
            let mut pooled = pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
            pooled.run(work)
        })
        .await?
    }

    /// Runs `work`, a closure that reaches this database itself (rule code calling the
    /// `AuthStore`, which uses [`Db::run_blocking`]), on a database thread, in the caller's
    /// span (whatever it logs names its request). For work that holds a connection and nothing
    /// slower: a closure that hashes a password belongs on the blocking pool
    /// (`crate::blocking::run`), where waiting for a hashing slot holds no database thread.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when every database thread is busy and their queue is full;
    /// [`DbError::TaskFailed`] when `work` panicked.
    pub async fn execute<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.executor.run(work).await.map_err(|e| match e {
            executor::ExecutorError::Full => DbError::Unavailable(e.to_string()),
            executor::ExecutorError::Failed => DbError::TaskFailed,
        })
    }

    /// Runs `work` on the calling thread, for the command line and tests where no async
    /// runtime is involved.
    pub fn run_blocking<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut pooled = self.pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
        pooled.run(work)
    }

    /// Checks that the database answers a trivial query within a short timeout.
    pub async fn ping(&self) -> Result<(), DbError> {
        let pool = self.pool.clone();
        crate::blocking::run(move || {
            let mut conn = pool
                .get_timeout(READINESS_TIMEOUT)
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            conn.run(connection::ping)
        })
        .await
        .map_err(|_| DbError::TaskFailed)?
    }

    /// Applies every migration not yet applied; safe to run from several replicas at once.
    pub fn migrate(&self) -> Result<MigrationReport, DbError> {
        self.run_blocking(migrations::run_pending)
    }
}

fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    owner_only::create_dir_all(parent).map_err(|e| {
        DbError::Unavailable(format!("cannot create database folder {}: {e}", parent.display()))
    })
}

/// Creates the SQLite file, empty and owner-only, before SQLite opens it.
///
/// SQLite would create it with 0644 less the umask; it gives the `-wal` and `-shm` files it
/// creates later the mode of the main file (and sets that mode explicitly, whatever the
/// umask), so an owner-only main file makes all three owner-only. An existing file keeps its
/// mode (an operator may have chosen it); a warning names one that others can read.
fn create_owner_only_file(path: &Path) -> Result<(), DbError> {
    let mut options = owner_only::file_options();
    options.write(true).create_new(true);
    match options.open(path) {
        Ok(file) => {
            // The mode given at creation passes through the umask: set it explicitly.
            owner_only::restrict(&file).map_err(|e| {
                DbError::Unavailable(format!(
                    "cannot make the database file {} owner-only: {e}",
                    path.display()
                ))
            })?;
            drop(file);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(Some(mode)) = owner_only::mode_of(path)
                && !owner_only::is_owner_only(mode)
            {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the database file is readable or writable by others than its owner; \
                     its -wal and -shm files get the same mode: chmod 600 it"
                );
            }
            Ok(())
        }
        Err(e) => Err(DbError::Unavailable(format!(
            "cannot create the database file {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use sec_config::{Settings, Sources};

    use super::*;

    fn on_sqlite(dir: &Path) -> Settings {
        let url = format!("sqlite://{}", dir.join("test.db").display());
        Settings::load(&Sources::new(dir.to_path_buf(), [("DATABASE_URL", url.as_str())])).unwrap()
    }

    #[test]
    fn a_command_pool_opens_no_connection_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let settings = on_sqlite(dir.path());

        // The server's pool keeps one connection idle: its thread opens it unasked.
        let server = Db::new(settings.database()).unwrap();
        let mut opened = false;
        for _ in 0..500 {
            if server.pool.state().connections > 0 {
                opened = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(opened, "the server's pool fills its idle connection by itself");

        // A command's pool opens one only when asked, and none after giving it back.
        let command = Db::for_command(settings.database()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(command.pool.state().connections, 0);
        command.run_blocking(connection::ping).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(command.pool.state().connections, 1, "no replacement opened behind it");
    }
}
