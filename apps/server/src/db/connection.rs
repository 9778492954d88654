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
    /// The driver's message, with anything it quoted from a PostgreSQL URL's credentials or
    /// parameters removed ([`redact_libpq_message`]).
    #[error("cannot connect: {0}")]
    Connect(String),
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
                let url = url.expose_secret();
                let conn = PgConnection::establish(url).map_err(|e| {
                    ManagerError::Connect(redact_libpq_message(&e.to_string(), url))
                })?;
                DbConnection::Postgres(conn)
            }
            DatabaseTarget::Sqlite { path } => {
                let path = path.to_str().ok_or(ManagerError::Path)?;
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| ManagerError::Connect(e.to_string()))?;
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

/// `message` (from libpq) without what it may have quoted from the secret parts of `url`.
///
/// libpq quotes the offending part of a connection string it cannot parse, so a password with
/// a malformed percent-escape (`postgres://u:%zz…@host/db`) would be written to the log by the
/// pool's warnings and by every `database_unavailable` error. This is the one place a driver
/// message about connecting becomes our error, so it is cleaned here:
///
/// - a quoted span (`"…"`) is kept only when it is part of the URL's public part (host, port,
///   database, parameter names) or an IP address (libpq's "connection to server at "…"");
///   any other span becomes `"[redacted]"`: it may be a password or a parameter value;
/// - the password, as written in the URL and percent-decoded, is then removed wherever it
///   still appears.
pub(crate) fn redact_libpq_message(message: &str, url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (userinfo, after_userinfo) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (userinfo, after),
        None => ("", rest),
    };
    let (location, query) = after_userinfo.split_once('?').unwrap_or((after_userinfo, ""));
    let parameter_names: Vec<&str> =
        query.split('&').filter_map(|pair| pair.split('=').next()).collect();
    let public = |span: &str| {
        !span.is_empty()
            && (location.contains(span)
                || parameter_names.contains(&span)
                || span.parse::<std::net::IpAddr>().is_ok())
    };

    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Odd pieces are inside quotes; an unpaired last quote leaves its tail redacted too.
    for (i, piece) in parts.enumerate() {
        out.push('"');
        if i % 2 == 0 && !public(piece) {
            out.push_str("[redacted]");
        } else {
            out.push_str(piece);
        }
    }

    let password = userinfo.split_once(':').map_or("", |(_, password)| password);
    let decoded = percent_decode_lossy(password);
    for secret in [password, decoded.as_str()] {
        if !secret.is_empty() {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

/// `%XX` escapes decoded, anything malformed kept as written.
fn percent_decode_lossy(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Sends the pool's connection failures to the log instead of `log`'s default handler.
#[derive(Debug)]
pub(crate) struct LogPoolErrors;

impl r2d2::HandleError<ManagerError> for LogPoolErrors {
    fn handle_error(&self, error: ManagerError) {
        // libpq's messages span several lines, folded here so each failure is one log line
        // (what they quote from the URL was already removed: `redact_libpq_message`).
        let message = error.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        tracing::warn!(error = %message, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_quotes_of_a_password_are_redacted() {
        let url = "postgres://app:%zzCanary1@db.internal:5432/app?sslmode=require";
        let shown = redact_libpq_message(r#"invalid percent-encoded token: "%zzCanary1""#, url);
        assert_eq!(shown, r#"invalid percent-encoded token: "[redacted]""#);

        let url = "postgres://app:pa%00Canary2@db.internal/app";
        let shown = redact_libpq_message(
            r#"forbidden value %00 in percent-encoded value: "pa%00Canary2""#,
            url,
        );
        assert!(!shown.contains("Canary2"), "{shown}");

        // Unquoted, and decoded: still removed.
        let url = "postgres://app:Canary%33@db.internal/app";
        let shown = redact_libpq_message("odd: Canary3 and Canary%33", url);
        assert!(!shown.contains("Canary"), "{shown}");
    }

    #[test]
    fn libpq_quotes_of_the_public_part_are_kept() {
        let url = "postgres://app:secret@db.internal:5432/app?sslmode=bogus&foo=1";
        for message in [
            r#"could not translate host name "db.internal" to address"#,
            r#"connection to server at "10.0.0.5", port 5432 failed: Connection refused"#,
            r#"invalid URI query parameter: "foo""#,
            r#"FATAL: database "app" does not exist"#,
        ] {
            assert_eq!(redact_libpq_message(message, url), message);
        }
        // A parameter value may be a password (`?password=`).
        assert_eq!(
            redact_libpq_message(r#"invalid sslmode value: "bogus""#, url),
            r#"invalid sslmode value: "[redacted]""#
        );
    }
}
