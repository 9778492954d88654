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
//! 4. the encrypted secrets file `config/secrets.{APP_ENV}.enc` (optional; see
//!    [`SecretsFile`]), opened with the master keys from `APP_MASTER_KEY` or
//!    `APP_MASTER_KEY_FILE` ([`MasterKeys`]),
//! 5. environment variables `APP__SECTION__KEY` (and `DATABASE_URL` as an alias of
//!    `APP__DATABASE__URL`).
//!
//! [`Settings::load`] then applies the deploy rules ([`RULES`]) that refuse unsafe values
//! for the environment; `server check --deploy` runs the same rules as a report.

mod atomic;
mod database;
mod deploy;
mod env;
mod inspection;
mod keyring;
mod master_key;
mod problem;
mod secrets_file;
mod settings;
mod sources;
mod tls;

pub use database::{DatabaseTarget, DatabaseTargetError};
pub use deploy::{
    CERT_EXPIRY_WARNING, Finding, LOAD_FAILURE_ID, MIN_PASSWORD_ENTROPY_BITS, MIN_RSA_BITS,
    PENDING_CHECKS, RULES, Report, Rule, Scope, Severity,
};
pub use env::{AppEnv, UnknownAppEnv};
pub use inspection::{Inspection, Layer, SecretsFileState};
pub use keyring::{
    DEV_KEY_PREFIX, Decrypted, KeyError, KeyRing, MAX_CLOCK_SKEW_SECS, MasterKey, TokenError,
};
pub use master_key::{
    DEV_KEY_FILE, KeyOrigin, MASTER_KEY_FILE_VAR, MASTER_KEY_VAR, MasterKeyError, MasterKeys,
};
pub use problem::{Problem, SettingsError};
/// The origin type the origin settings hold, re-exported so callers name the same type.
pub use sec_core::{Origin, OriginError};
pub use secrets_file::{
    EditOutcome, SECRET_KEYS, SECRETS_FILE_MODE, SecretsDoc, SecretsError, SecretsFile,
};
pub use settings::{
    AuthSettings, ClientIpHeader, CorsOrigins, CorsSettings, CsrfSettings,
    DEFAULT_HSTS_MAX_AGE_SECS, DEFAULT_MAIL_FROM, DEFAULT_PAGE_CSP, DEV_MFA_KEY_FILE,
    DatabaseSettings, HeadersSettings, KNOWN_KEYS, LimitsSettings, LogFormat, LogRotation,
    LogSettings, MailSettings, MailTransportSetting, RateLimitSettings,
    SESSION_TOUCH_INTERVAL_SECS, ServerSettings, Settings, SmtpSettings, SmtpTls, TlsFiles,
    TlsSettings, TrustedProxies,
};
pub use sources::Sources;
pub use tls::{
    CertificateError, CertificateFacts, DEV_CERT_DIR, DEV_CERT_NAMES, DEV_CERT_VALIDITY_DAYS,
    DevCertError, DevCertificate, TLS_KEY_FILE_MODE,
};
