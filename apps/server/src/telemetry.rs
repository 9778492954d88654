//! Translates the settings into `sec-audit`'s logging configuration.

use sec_audit::{ConsoleFormat, TelemetryConfig, TelemetryError, TelemetryGuard};
use sec_config::{LogFormat, Settings};

/// Installs the process-wide log subscriber described by `settings`.
pub fn init(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    let log = settings.log();
    sec_audit::init(&TelemetryConfig {
        filter: log.filter().to_owned(),
        console: match log.format() {
            LogFormat::Pretty => ConsoleFormat::Pretty,
            LogFormat::Json => ConsoleFormat::Json,
        },
        file_dir: Some(log.dir().to_path_buf()),
        max_files: log.max_files(),
    })
}
