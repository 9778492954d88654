//! Translates the settings into `sec-audit`'s logging configuration, and installs the panic
//! hook that logs panics with the request id.

use sec_audit::{ConsoleFormat, Rotation, TelemetryConfig, TelemetryError, TelemetryGuard};
use sec_config::{LogFormat, LogRotation, Settings};

use crate::request_id;

/// Installs the process-wide log subscriber described by `settings`, and the panic hook. Hold
/// the guard until the process ends: dropping it flushes the log file.
pub fn init(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    let log = settings.log();
    let guard = sec_audit::init(&TelemetryConfig {
        filter: log.filter().to_owned(),
        console: match log.format() {
            LogFormat::Pretty => ConsoleFormat::Pretty,
            LogFormat::Json => ConsoleFormat::Json,
        },
        file_dir: Some(log.dir().to_path_buf()),
        max_files: log.max_files(),
        rotation: rotation(settings),
        max_file_bytes: log.max_file_bytes(),
    })?;
    sec_audit::install_panic_hook(request_id::current);
    Ok(guard)
}

/// `log.rotation` as `sec-audit` spells it (for the log and the audit files alike).
pub fn rotation(settings: &Settings) -> Rotation {
    match settings.log().rotation() {
        LogRotation::Hourly => Rotation::Hourly,
        LogRotation::Daily => Rotation::Daily,
        LogRotation::Never => Rotation::Never,
    }
}
