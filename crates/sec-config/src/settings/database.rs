//! Database settings: the `database` section, its raw form and its checks. What a database
//! URL means is `crate::database`'s ([`DatabaseTarget`]).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::in_range;
use crate::database::DatabaseTarget;
use crate::env::AppEnv;
use crate::problem::Problem;

const DEFAULT_DATABASE_URL: &str = "sqlite://./var/server.db";

/// `database.pool_max_size` when not set: twice the cores, at least 4 and at most 10.
///
/// Every pooled connection is also a database thread that runs requests' queries (the
/// server's `db/executor.rs`), so the pool is how many queries are in flight at once. More
/// than the machine can run adds waiting, not throughput: on 2 cores with PostgreSQL on the
/// same host, 10 gave the same requests/s as 4 with a p99 fifteen times longer
/// (docs/performance.md). The cap keeps the old default, so a larger machine opens no more
/// connections per replica than before; a database on other hosts, with its own cores and
/// a network round trip per query, may want more (the Kubernetes manifests set 10).
fn default_pool_max_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX).clamp(4, 10)
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    target: DatabaseTarget,
    // Read by `Settings::database_url_explicit`, for the deploy rules.
    pub(super) url_explicit: bool,
    pool_max_size: u32,
    acquire_timeout: Duration,
    migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The database to use (`database.url`, `DATABASE_URL`, or the file `database.url_file`
    /// names).
    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }

    /// Upper bound on pooled connections, and the number of database threads
    /// (`database.pool_max_size`; default twice the cores, from 4 to 10).
    pub fn pool_max_size(&self) -> u32 {
        self.pool_max_size
    }

    /// How long a request waits for a pooled connection (`database.acquire_timeout_ms`,
    /// default 5000).
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// Whether `serve` applies pending migrations before listening
    /// (`database.migrate_on_start`; default true except in production).
    pub fn migrate_on_start(&self) -> bool {
        self.migrate_on_start
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDatabase {
    url: Option<String>,
    url_file: Option<String>,
    pool_max_size: Option<u32>,
    acquire_timeout_ms: Option<u64>,
    migrate_on_start: Option<bool>,
}

/// The `database` section; `None` when the URL is unusable (its problem is pushed).
pub(super) fn validate(
    env: AppEnv,
    raw: &RawDatabase,
    problems: &mut Vec<Problem>,
) -> Option<DatabaseSettings> {
    let url_explicit = raw.url.is_some() || raw.url_file.is_some();
    // The URL may hold a password: the message names the key, never the value.
    let target = match raw.url_file.as_deref() {
        Some(file) => database_url_from_file(file, raw.url.is_some()),
        None => DatabaseTarget::parse(raw.url.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
            .map_err(|e| Problem::new("database.url", e.to_string())),
    }
    .map_err(|p| problems.push(p));
    let pool_max_size = in_range(
        "database.pool_max_size",
        raw.pool_max_size,
        default_pool_max_size(),
        1,
        1000,
        problems,
    );
    let acquire_ms = in_range(
        "database.acquire_timeout_ms",
        raw.acquire_timeout_ms,
        5000,
        100,
        120_000,
        problems,
    );
    let migrate_on_start = raw.migrate_on_start.unwrap_or(env != AppEnv::Production);
    Some(DatabaseSettings {
        target: target.ok()?,
        url_explicit,
        pool_max_size,
        acquire_timeout: Duration::from_millis(acquire_ms),
        migrate_on_start,
    })
}

/// `database.url_file`: the URL read from a file that only its owner may read (as a key file),
/// without one trailing newline; refused when `database.url` (or `DATABASE_URL`) is set too,
/// since which one wins would be a guess. Messages name the file, never its contents.
fn database_url_from_file(file: &str, url_set_too: bool) -> Result<DatabaseTarget, Problem> {
    let problem = |message: String| Problem::new("database.url_file", message);
    if file.trim().is_empty() {
        return Err(problem("must not be empty when set".to_owned()));
    }
    if url_set_too {
        return Err(problem(
            "database.url (or DATABASE_URL) is set too: keep one of the two".to_owned(),
        ));
    }
    let path = Path::new(file);
    let unreadable = |e: std::io::Error| problem(format!("cannot read {}: {e}", path.display()));
    match crate::atomic::mode_of(path).map_err(unreadable)? {
        Some(mode) if !crate::atomic::is_owner_only(mode) => {
            return Err(problem(format!(
                "{} is readable by others (mode {mode:04o}): make it owner-only (0400 or 0600)",
                path.display()
            )));
        }
        _ => {}
    }
    let text = secrecy::SecretString::from(std::fs::read_to_string(path).map_err(unreadable)?);
    let url = secrecy::ExposeSecret::expose_secret(&text);
    let url = url.strip_suffix('\n').map_or(url, |u| u.strip_suffix('\r').unwrap_or(u));
    DatabaseTarget::parse(url).map_err(|e| problem(format!("{}: {e}", path.display())))
}
