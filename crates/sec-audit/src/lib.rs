//! Everything the server writes about itself: the `tracing` subscriber (console plus rolling
//! JSON files, with forged lines made impossible), the panic hook, the typed audit events, and
//! the hash-chained audit file with its verifier. See `docs/audit.md`.
//!
//! This crate is a leaf: it depends on no other `sec-*` crate and on no web framework, so the
//! app translates its settings into a [`TelemetryConfig`] and an [`AuditConfig`], and its
//! requests into [`AuditRecord`]s. Being the lowest crate that writes files, it also holds the
//! workspace's one way to create owner-only files and folders ([`owner_only`]).

mod canary;
mod capture;
mod chain;
mod clock;
mod escape;
mod event;
mod head;
pub mod owner_only;
mod panic;
mod rolling;
mod telemetry;
mod trail;
mod verify;

pub use canary::{Leak, find_leaks};
pub use capture::LogCapture;
pub use chain::ChainHead;
pub use chain::{ChainKey, KeyError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use escape::{escape_control, escaped, needs_escape};
pub use event::{
    Actor, AuditEvent, AuditRecord, DiscontinuityFinding, DiscontinuityResolution, Label,
    LabelError, LoginFailure, Outcome, RequestId, ResourceId, RevocationReason, Subject, UserId,
    UserText,
};
pub use head::{Continuity, check_continuity};
pub use panic::install_panic_hook;
pub use rolling::Rotation;
pub use telemetry::{
    ConsoleFormat, TelemetryConfig, TelemetryError, TelemetryGuard, init, json_layer, text_layer,
};
pub use trail::{AuditConfig, AuditError, AuditTrail};
pub use verify::{BreakKind, ChainBreak, ChainSummary, VerifyError, verify};
