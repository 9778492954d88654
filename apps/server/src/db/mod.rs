//! The database layer: one connection type that is either SQLite or PostgreSQL, a pool, the
//! embedded migrations, and the repositories of each table.
//!
//! Queries are written once against [`DbConnection`] (diesel's `MultiConnection`), so both
//! backends run the same code and the same tests. Diesel is synchronous: every call goes
//! through [`Db::run`], which takes a pooled connection on the blocking thread pool, never on
//! an async worker.

pub mod audit_heads;
pub mod auth_store;
mod connection;
mod error;
pub(crate) mod housekeeping;
mod login_throttle;
pub(crate) mod mfa;
mod migrations;
pub mod notes;
pub mod page;
mod roles;
pub mod schema;
mod sessions;
pub mod users;

use std::path::Path;
use std::time::Duration;

use sec_audit::owner_only;
use sec_config::{DatabaseSettings, DatabaseTarget};

pub use auth_store::DbAuthStore;
pub use connection::DbConnection;
use connection::DbConnectionManager;
pub use error::DbError;
pub use migrations::MigrationReport;

/// How long a readiness probe waits for a connection before it calls the database down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of connections to the configured database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<DbConnectionManager>,
    target: DatabaseTarget,
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
        let target = settings.target().clone();
        if let DatabaseTarget::Sqlite { path } = &target {
            create_parent_dir(path)?;
            create_owner_only_file(path)?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_max_size())
            .min_idle(Some(1))
            .connection_timeout(settings.acquire_timeout())
            // A connection that broke while idle (database restarted) is detected and replaced
            // before a request gets it; one used in the last two seconds skips the check
            // (connection::VALIDATION_BYPASS).
            .test_on_check_out(true)
            .error_handler(Box::new(connection::LogPoolErrors))
            .build_unchecked(DbConnectionManager::new(target.clone()));
        Ok(Self { pool, target })
    }

    /// Which database this is, safe to log (no credentials).
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.target.backend_name()
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        // In the caller's span, so that whatever the query logs names its request.
        crate::blocking::run(move || {
            let mut pooled = pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
            pooled.run(work)
        })
        .await
        .map_err(|_| DbError::TaskFailed)?
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
