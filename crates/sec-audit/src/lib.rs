//! Telemetry and audit: tracing subscriber set-up, audit events and the hash-chained audit file.
