//! Authentication and authorization rules: accounts, server-side sessions, TOTP MFA, RBAC and
//! login throttling, with storage behind traits and no web framework.
//!
//! The crate is part of the workspace layout from the start so that its dependency boundary
//! (no actix-web, diesel, clap or anyhow) is enforced by `tests/architecture` before any code
//! lands here; its features arrive with the accounts, sessions and MFA work.
