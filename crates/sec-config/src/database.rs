//! Which database the server talks to, parsed from `database.url` once, at load time.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// A database the server can use, chosen by the scheme of `database.url`.
///
/// The PostgreSQL URL may carry a password, so it stays a [`SecretString`] and only its
/// redacted form ([`DatabaseTarget::describe`]) is ever printed.
#[derive(Clone)]
pub enum DatabaseTarget {
    /// An SQLite database file (created on first use).
    Sqlite {
        /// The file, relative to the working directory unless absolute.
        path: PathBuf,
    },
    /// A PostgreSQL server, reached with a libpq connection URL.
    Postgres {
        /// The full `postgres://` URL, credentials included.
        url: SecretString,
    },
}

/// `database.url` could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseTargetError {
    /// The URL names a scheme this server does not speak.
    #[error("unsupported scheme {0:?}: use postgres://, postgresql:// or sqlite://")]
    UnsupportedScheme(String),
    /// An SQLite in-memory database was asked for.
    #[error(
        "in-memory SQLite is not supported: each pooled connection would see its own empty \
         database; use a file path"
    )]
    InMemory,
    /// The URL is empty or has no path after the scheme.
    #[error("the URL is empty")]
    Empty,
}

impl DatabaseTarget {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH` (`sqlite:///abs/path` for an
    /// absolute one), `sqlite:PATH`, or a bare file path (SQLite).
    pub fn parse(url: &str) -> Result<Self, DatabaseTargetError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(DatabaseTargetError::Empty);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres { url: SecretString::from(url.to_owned()) });
        }
        let path = if let Some(rest) = url.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(DatabaseTargetError::UnsupportedScheme(scheme.to_owned()));
        } else {
            url
        };
        if path.is_empty() {
            return Err(DatabaseTargetError::Empty);
        }
        if path == ":memory:" || path.contains("mode=memory") {
            return Err(DatabaseTargetError::InMemory);
        }
        Ok(Self::Sqlite { path: PathBuf::from(path) })
    }

    /// A short name of the backend: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }

    /// A description safe to log: the SQLite path, or the PostgreSQL host, port and database
    /// with any user name and password removed.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite {}", path.display()),
            Self::Postgres { url } => format!("postgres {}", redact_pg_url(url.expose_secret())),
        }
    }

    /// True when the SQLite file lives under the system temporary directory, where it may be
    /// wiped at reboot.
    pub fn is_in_temp_dir(&self) -> bool {
        match self {
            Self::Sqlite { path } => path_is_under(path, &std::env::temp_dir()),
            Self::Postgres { .. } => false,
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

fn path_is_under(path: &Path, dir: &Path) -> bool {
    path.is_absolute() && path.starts_with(dir)
}

/// Keeps `host[:port]/db` of a URL and drops user information and query parameters (which
/// may hold `password=`).
fn redact_pg_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    format!("//{rest}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, reason = "a failed match in a test is a test failure")]

    use super::*;

    fn sqlite_path(url: &str) -> PathBuf {
        match DatabaseTarget::parse(url) {
            Ok(DatabaseTarget::Sqlite { path }) => path,
            other => panic!("{url:?} should be SQLite, got {other:?}"),
        }
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(sqlite_path("sqlite://./var/server.db"), PathBuf::from("./var/server.db"));
        assert_eq!(sqlite_path("sqlite:///srv/app.db"), PathBuf::from("/srv/app.db"));
        assert_eq!(sqlite_path("sqlite:data.db"), PathBuf::from("data.db"));
        assert_eq!(sqlite_path("var/app.db"), PathBuf::from("var/app.db"));
    }

    #[test]
    fn postgres_forms() {
        for url in ["postgres://u:p@h/db", "postgresql://h:5432/db"] {
            assert!(matches!(DatabaseTarget::parse(url), Ok(DatabaseTarget::Postgres { .. })));
        }
    }

    #[test]
    fn rejects_what_it_cannot_serve() {
        assert_eq!(
            DatabaseTarget::parse("mysql://h/db").err(),
            Some(DatabaseTargetError::UnsupportedScheme("mysql".into()))
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite::memory:").err(),
            Some(DatabaseTargetError::InMemory)
        );
        assert_eq!(DatabaseTarget::parse("  ").err(), Some(DatabaseTargetError::Empty));
        assert_eq!(DatabaseTarget::parse("sqlite://").err(), Some(DatabaseTargetError::Empty));
    }

    #[test]
    fn description_never_contains_credentials() {
        let target = DatabaseTarget::parse(
            "postgres://admin:hunter2-canary@db.internal:5432/app?password=q",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{} {:?}", target.describe(), target);
        assert!(!shown.contains("hunter2-canary"), "{shown}");
        assert!(!shown.contains("admin"), "{shown}");
        assert!(!shown.contains("password"), "{shown}");
        assert!(shown.contains("db.internal:5432/app"), "{shown}");
    }
}
