//! Typed, layered settings for the reference server, and the checks that stop it from starting
//! on unsafe values.
//!
//! This crate is the only one in the workspace that reads environment variables: everything
//! else receives a validated [`Settings`]. Loading is two-phase, like parsing: the layers are
//! merged into a raw serde structure, then every value is checked and turned into a typed
//! field, and *every* problem is reported at once with the key it belongs to.
//!
//! Layers, lowest to highest precedence:
//! 1. built-in defaults (so an empty working directory is enough to start),
//! 2. `config/default.toml` (optional),
//! 3. `config/{APP_ENV}.toml` (optional),
//! 4. environment variables `APP__SECTION__KEY` (and `DATABASE_URL` as an alias of
//!    `APP__DATABASE__URL`).

mod database;
mod env;
mod keyring;
mod problem;
mod settings;

pub use database::{DatabaseTarget, DatabaseTargetError};
pub use env::{AppEnv, UnknownAppEnv};
pub use keyring::{
    DEV_KEY_PREFIX, Decrypted, KeyError, KeyRing, MAX_CLOCK_SKEW_SECS, MasterKey, TokenError,
};
pub use problem::{Problem, SettingsError};
pub use settings::{
    DatabaseSettings, KNOWN_KEYS, LogFormat, LogRotation, LogSettings, ServerSettings, Settings,
    Sources,
};
