//! Everything the server writes about itself: the `tracing` subscriber (console plus rolling
//! JSON files), and, as the audit work lands, audit events and their hash-chained file.
//!
//! This crate is a leaf: it depends on no other `sec-*` crate, so the app translates its
//! settings into a [`TelemetryConfig`].

mod telemetry;

pub use telemetry::{ConsoleFormat, TelemetryConfig, TelemetryError, TelemetryGuard, init};
