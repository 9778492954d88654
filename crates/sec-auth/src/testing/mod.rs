//! Test doubles for the rules: an in-memory [`crate::AuthStore`] and stand-ins for the
//! hasher, the audit sink and the sealer, so [`crate::Auth`] can be tested without a database
//! or an app. Compiled for this crate's tests only.

mod doubles;
mod store;
mod tables;

pub(crate) use doubles::{CountingHasher, HexSealer, RecordingAudit};
pub(crate) use store::MemoryStore;
