//! Installs the process-wide `tracing` subscriber: console output and a rolling JSON file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{self, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// How console lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleFormat {
    /// Human-readable, coloured only when stdout is a terminal.
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
    /// How many daily files to keep before the oldest is deleted.
    pub max_files: usize,
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

/// Installs the subscriber for the whole process. Call once, early in `main`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = || {
        EnvFilter::try_new(&config.filter).map_err(|e| TelemetryError::Filter {
            filter: config.filter.clone(),
            reason: e.to_string(),
        })
    };

    let console = match config.console {
        ConsoleFormat::Pretty => fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .with_target(true)
            .with_filter(filter()?)
            .boxed(),
        ConsoleFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter()?)
            .boxed(),
    };

    let (file_layer, guard) = match &config.file_dir {
        None => (None, None),
        Some(dir) => {
            create_private_dir(dir)?;
            let appender = rolling::Builder::new()
                .rotation(Rotation::DAILY)
                .filename_prefix("server")
                .filename_suffix("log")
                .max_log_files(config.max_files.max(1))
                .build(dir)
                .map_err(|e| TelemetryError::Directory {
                    dir: dir.clone(),
                    reason: e.to_string(),
                })?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter()?)
                .boxed();
            (Some(layer), Some(guard))
        }
    };

    tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(TelemetryGuard { _file: guard })
}

/// Creates the folder (and parents) readable by the owner only: log lines name users and
/// addresses, which other local accounts have no business reading.
fn create_private_dir(dir: &Path) -> Result<(), TelemetryError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| TelemetryError::Directory { dir: dir.to_path_buf(), reason: e.to_string() })
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
            file_dir: None,
            max_files: 1,
        };
        assert!(matches!(init(&config), Err(TelemetryError::Filter { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn the_log_directory_is_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/log");
        create_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
