//! Translates the settings into `sec-audit`'s logging configuration, and installs the panic
//! hook that logs panics with the request id.
//!
//! ERROR is what alerting watches, so it must mean the server is at fault. actix-http's
//! HTTP/1 dispatcher logs at ERROR what clients cause: a request the parser refuses (a
//! malformed header, two `Content-Length`s), a connection cut mid-body, a peer that stopped
//! reading. The client already got its 400 (or nothing to get), and tracing cannot lower an
//! event's level after the fact, so that target is switched off unless `log.level` names
//! `actix_http` itself (e.g. `info,actix_http=error` to see them again). The events it loses
//! of our own making: a streaming response body that fails (the server streams none) and a
//! failed protocol upgrade (it has none). Our own targets are untouched.

use sec_audit::{ConsoleFormat, Rotation, TelemetryConfig, TelemetryError, TelemetryGuard};
use sec_config::{LogFormat, LogRotation, Settings};

use crate::http::request_id;

/// Installs the process-wide log subscriber described by `settings`, and the panic hook. Hold
/// the guard until the process ends: dropping it flushes the log file.
pub fn init(settings: &Settings) -> Result<TelemetryGuard, TelemetryError> {
    let log = settings.log();
    let guard = sec_audit::init(&TelemetryConfig {
        filter: filter_directives(log.filter()),
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

/// The log target of actix-http's HTTP/1 connection handling, whose ERROR events are client
/// faults (see the module documentation).
pub const CLIENT_FAULT_TARGET: &str = "actix_http::h1::dispatcher";

/// `log.level` with [`CLIENT_FAULT_TARGET`] switched off, unless the operator's filter names
/// `actix_http` (then theirs is kept as written).
pub fn filter_directives(configured: &str) -> String {
    if configured.contains("actix_http") {
        return configured.to_owned();
    }
    let configured = configured.trim().trim_end_matches(',');
    if configured.is_empty() {
        format!("{CLIENT_FAULT_TARGET}=off")
    } else {
        format!("{configured},{CLIENT_FAULT_TARGET}=off")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// What the filter lets through, for an ERROR from actix's dispatcher and one of ours.
    fn logged(configured: &str) -> String {
        let capture = sec_audit::LogCapture::default();
        let filter = EnvFilter::try_new(filter_directives(configured)).unwrap();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::Layer::with_filter(sec_audit::json_layer(capture.clone()), filter),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: client fault");
            tracing::error!(target: "server::startup", "database gone");
            tracing::warn!(target: "actix_http::h1::dispatcher", "other");
        });
        capture.text().unwrap()
    }

    #[test]
    fn client_faults_from_actix_are_dropped_and_our_errors_kept() {
        for configured in ["info", "warn", "error", "info,server=debug", "error,"] {
            let text = logged(configured);
            assert!(!text.contains("client fault"), "{configured:?}: {text}");
            assert!(text.contains("database gone"), "{configured:?}: {text}");
        }
    }

    #[test]
    fn an_operator_who_names_actix_http_gets_exactly_their_filter() {
        assert_eq!(filter_directives("info,actix_http=error"), "info,actix_http=error");
        assert!(logged("info,actix_http=error").contains("client fault"));
    }
}
