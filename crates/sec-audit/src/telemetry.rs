//! Installs the process-wide `tracing` subscriber: console output (escaped text or JSON lines)
//! and a rolling JSON file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::Subscriber;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::clock::SystemClock;
use crate::escape::EscapedFields;
use crate::rolling::{RollingFile, Rotation};

/// How console lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleFormat {
    /// Human-readable, coloured only when stdout is a terminal, with control characters in
    /// every field escaped.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

/// What to log and where.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Level filter in `tracing` directive syntax, e.g. `info` or `info,server=debug`.
    pub filter: String,
    /// Console format.
    pub console: ConsoleFormat,
    /// Folder for the rolling JSON log files; `None` logs to the console only.
    pub file_dir: Option<PathBuf>,
    /// How many log files to keep before the oldest is deleted.
    pub max_files: usize,
    /// When a new log file is started.
    pub rotation: Rotation,
    /// Size at which a log file is closed and the next one started.
    pub max_file_bytes: u64,
}

impl Default for TelemetryConfig {
    /// `info` to the escaped text console only; files, when a folder is set, rotate daily or at
    /// 100 MiB, and 14 are kept.
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            console: ConsoleFormat::Pretty,
            file_dir: None,
            max_files: 14,
            rotation: Rotation::Daily,
            max_file_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Keeps the background log writer alive; dropping it flushes what is buffered, so hold it
/// until the process ends.
#[must_use = "dropping the guard stops the file writer"]
#[derive(Debug)]
pub struct TelemetryGuard {
    _file: Option<WorkerGuard>,
}

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The level filter is not valid directive syntax.
    #[error("log level filter {filter:?} is invalid: {reason}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The log folder could not be created or opened.
    #[error("cannot use log directory {}: {reason}", dir.display())]
    Directory {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A subscriber was already installed in this process.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the subscriber for the whole process. Call once, early in `main`, and hold the
/// guard until the process ends: dropping it flushes the file writer.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = || {
        EnvFilter::try_new(&config.filter).map_err(|e| TelemetryError::Filter {
            filter: config.filter.clone(),
            reason: e.to_string(),
        })
    };

    let console = match config.console {
        ConsoleFormat::Pretty => text_layer(std::io::stdout, std::io::stdout().is_terminal())
            .with_filter(filter()?)
            .boxed(),
        ConsoleFormat::Json => json_layer(std::io::stdout).with_filter(filter()?).boxed(),
    };

    let (file_layer, guard) = match &config.file_dir {
        None => (None, None),
        Some(dir) => {
            let directory = |e: std::io::Error| TelemetryError::Directory {
                dir: dir.clone(),
                reason: e.to_string(),
            };
            let appender = RollingFile::new(
                dir,
                "server",
                "log",
                config.rotation,
                config.max_file_bytes,
                config.max_files,
                Arc::new(SystemClock),
            )
            .map_err(directory)?;
            // Lossy: when the writer falls behind by 128k lines, lines are dropped rather than
            // stalling request handling. The audit file (`AuditTrail`) never drops a record.
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (Some(json_layer(writer).with_filter(filter()?).boxed()), Some(guard))
        }
    };

    tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { _file: guard })
}

/// The console's human-readable format, writing to `writer`: one line per event, every field
/// value escaped ([`crate::escape_control`]), colours when `ansi`. For tests and custom set-ups;
/// [`init`] uses it for the console.
pub fn text_layer<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer().fmt_fields(EscapedFields).with_ansi(ansi).with_target(true).with_writer(writer)
}

/// The JSON-lines format of the file log (and of the console in production), writing to
/// `writer`: one object per event, with the fields of the current span (the request id among
/// them) and the list of enclosing spans. For tests and custom set-ups.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_ansi(false)
        .with_writer(writer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn an_invalid_filter_is_a_typed_error() {
        let config = TelemetryConfig {
            filter: "info,[".to_owned(),
            console: ConsoleFormat::Pretty,
            ..TelemetryConfig::default()
        };
        assert!(matches!(init(&config), Err(TelemetryError::Filter { .. })));
    }

    const HOSTILE: &str =
        "mallory\n{\"event\":\"LoginSucceeded\",\"actor\":\"admin\"}\r\x1b[2J\x1b]0;pwned\x07";

    /// Emits a failed login for [`HOSTILE`] inside a request span whose path is hostile too,
    /// with `subscriber` as the only log output; returns the audit file's text.
    fn emit_hostile_login(subscriber: impl Subscriber + Send + Sync + 'static) -> String {
        use crate::{Actor, AuditConfig, AuditEvent, AuditRecord, AuditTrail, LoginFailure};
        let dir = tempfile::tempdir().unwrap();
        let trail = AuditTrail::open(AuditConfig::new(dir.path(), "h"), None).unwrap();
        let record = AuditRecord::new(
            AuditEvent::LoginFailed { reason: LoginFailure::UnknownUser },
            Actor::Anonymous,
        )
        .subject(crate::Subject::Username(crate::UserText::new(HOSTILE)));
        tracing::subscriber::with_default(subscriber, || {
            // Callsite interest is cached process-wide; another test thread creating or dropping
            // its own subscriber at the same moment can leave these callsites cached as unwanted
            // (seen under load). Recomputing it with this subscriber alive makes the test see
            // every line it emits.
            tracing::callsite::rebuild_interest_cache();
            let span = tracing::info_span!("request", request_id = "r1", path = %HOSTILE);
            let _entered = span.enter();
            trail.emit(&record).unwrap();
        });
        drop(trail);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .unwrap();
        crate::verify(dir.path(), None).unwrap();
        std::fs::read_to_string(file).unwrap()
    }

    #[test]
    fn a_forged_line_in_a_username_stays_one_escaped_line_in_text_json_and_audit_file() {
        let text = crate::LogCapture::default();
        let json = crate::LogCapture::default();
        let subscriber = tracing_subscriber::registry()
            .with(text_layer(text.clone(), false))
            .with(json_layer(json.clone()));
        let audit = emit_hostile_login(subscriber);

        // Text console: one line, no raw control character, the payload visibly escaped.
        let text = text.text().unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with('\n'));
        let body = &text[..text.len() - 1];
        assert!(!body.chars().any(char::is_control), "{body:?}");
        assert!(body.contains(r#"mallory\n{"event":"LoginSucceeded""#), "{body}");
        assert!(body.contains(r"\r\u{1b}[2J\u{1b}]0;pwned\u{7}"), "{body}");
        assert!(body.contains("request{request_id=r1 path=mallory\\n"), "span fields too: {body}");

        // JSON log: one line, and the name comes back exactly as typed.
        let json = json.text().unwrap();
        assert_eq!(json.lines().count(), 1, "{json}");
        let line: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(line["subject"], format!("username:{HOSTILE}"));
        assert_eq!(line["event"], "LoginFailed");
        assert_eq!(line["span"]["request_id"], "r1");

        // Audit file: genesis plus one record, the name intact inside a JSON string.
        assert_eq!(audit.lines().count(), 2, "{audit}");
        let record: serde_json::Value =
            serde_json::from_str(audit.lines().nth(1).unwrap()).unwrap();
        assert_eq!(record["subject"]["username"], HOSTILE);
        assert_eq!(record["event"], "LoginFailed");
    }

    #[test]
    fn with_colours_on_the_hostile_escape_sequences_still_never_reach_the_terminal() {
        let text = crate::LogCapture::default();
        emit_hostile_login(tracing_subscriber::registry().with(text_layer(text.clone(), true)));
        let text = text.text().unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains("\x1b[2J") && !text.contains("\x1b]0;") && !text.contains('\r'));
    }

    #[cfg(unix)]
    #[test]
    fn the_log_directory_is_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/log");
        crate::owner_only::create_dir_all(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
