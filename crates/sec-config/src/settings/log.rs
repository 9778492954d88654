//! Log output settings: the `log` section, its raw form and its checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::in_range;
use crate::env::AppEnv;
use crate::problem::Problem;

const DEFAULT_LOG_DIR: &str = "./var/log";

/// Log output settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    dir: PathBuf,
    filter: String,
    format: LogFormat,
    max_files: usize,
    rotation: LogRotation,
    max_file_mb: u64,
    audit_key_file: Option<PathBuf>,
}

/// When the log and audit files start a new file (besides reaching `log.max_file_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRotation {
    /// At each UTC hour.
    Hourly,
    /// At each UTC midnight (the default).
    Daily,
    /// Only when a file reaches its size limit.
    Never,
}

/// How console log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (development default).
    Pretty,
    /// One JSON object per line (production default, for log collectors).
    Json,
}

impl LogSettings {
    /// Folder of the log files (`log.dir`, default ./var/log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Level filter in `tracing` directive syntax (`log.level`, default `info`; `RUST_LOG`
    /// wins when set).
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Console format (`log.format`: pretty or json; default json in production).
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// Rotated log files kept (`log.max_files`, default 14). Audit files are never deleted.
    pub fn max_files(&self) -> usize {
        self.max_files
    }

    /// When a new log or audit file is started (`log.rotation`: hourly, daily or never;
    /// default daily).
    pub fn rotation(&self) -> LogRotation {
        self.rotation
    }

    /// Size at which a log or audit file is closed and the next one started, in bytes
    /// (`log.max_file_mb`, in MiB, default 100).
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mb * 1024 * 1024
    }

    /// The key file of the audit chain (`log.audit_key_file`); `None` when unset, in which case
    /// the app uses a development key it keeps beside the audit files.
    pub fn audit_key_file(&self) -> Option<&Path> {
        self.audit_key_file.as_deref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    dir: Option<String>,
    level: Option<String>,
    format: Option<String>,
    max_files: Option<usize>,
    rotation: Option<String>,
    max_file_mb: Option<u64>,
    audit_key_file: Option<String>,
}

/// The `log` section. Every problem is pushed; the value is only used when there are none.
pub(super) fn validate(env: AppEnv, raw: RawLog, problems: &mut Vec<Problem>) -> LogSettings {
    let dir = raw.dir.unwrap_or_else(|| DEFAULT_LOG_DIR.to_owned());
    if dir.trim().is_empty() {
        problems.push(Problem::new("log.dir", "must not be empty"));
    }
    let filter = raw.level.unwrap_or_else(|| "info".to_owned());
    let format = match raw.format.as_deref() {
        None if env == AppEnv::Production => LogFormat::Json,
        None => LogFormat::Pretty,
        Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            problems.push(Problem::new(
                "log.format",
                format!("must be pretty or json (got {other:?})"),
            ));
            LogFormat::Pretty
        }
    };
    let max_files = in_range("log.max_files", raw.max_files, 14, 1, 3650, problems);
    let rotation = match raw.rotation.as_deref() {
        None | Some("daily") => LogRotation::Daily,
        Some("hourly") => LogRotation::Hourly,
        Some("never") => LogRotation::Never,
        Some(other) => {
            problems.push(Problem::new(
                "log.rotation",
                format!("must be hourly, daily or never (got {other:?})"),
            ));
            LogRotation::Daily
        }
    };
    let max_file_mb = in_range("log.max_file_mb", raw.max_file_mb, 100, 1, 100_000, problems);
    let audit_key_file = match raw.audit_key_file {
        Some(path) if path.trim().is_empty() => {
            problems.push(Problem::new("log.audit_key_file", "must not be empty when set"));
            None
        }
        other => other.map(PathBuf::from),
    };
    LogSettings {
        dir: PathBuf::from(dir),
        filter,
        format,
        max_files,
        rotation,
        max_file_mb,
        audit_key_file,
    }
}
