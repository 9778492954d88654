//! Pure security building blocks: validated input newtypes, output escaping, password hashing
//! and policy, constant-time helpers. No I/O, no async runtime, no web framework.
//!
//! - Input becomes a validated type at the boundary, or an error that says what is wrong:
//!   [`Email`], [`Username`], [`Password`] (a new password, checked by a [`PasswordPolicy`]),
//!   and [`BoundedText`] for any other free-text field. Nothing is stripped or rewritten
//!   except by documented normalisation (NFKC, IDNA, domain case).
//! - Output is escaped by context ([`html_escape`], [`html_attr_escape`]); the rare field
//!   holding markup goes through [`sanitize_rich_html`].
//! - Passwords are hashed with Argon2id by a [`PasswordHasher`], on a [`HashingPool`] whose few
//!   threads alone hash, in memory they reuse, behind a bounded queue; [`calibrate`] picks
//!   parameters for a machine.
//! - Web origins from settings and from `Origin`/`Referer`/`Host` headers are compared in one
//!   normal form ([`Origin`]).
//! - Secrets are compared with [`constant_time_eq`]; tokens come from [`random_token`].
//!
//! `docs/sec-core.md` records the decisions behind each rule.

mod blocklist;
mod email;
mod escape;
mod hashing;
mod nfkc;
mod origin;
mod password;
mod policy;
mod serde_str;
mod text;
mod tokens;
mod username;

pub use email::{EMAIL_LOCAL_PART_MAX_LEN, EMAIL_MAX_LEN, Email, EmailError};
pub use escape::{html_attr_escape, html_escape, sanitize_rich_html};
pub use hashing::{
    CALIBRATION_MAX_M_COST_KIB, DEFAULT_HASH_QUEUE, HASH_LEN, HashConfigError, HashError,
    HashParams, HashingPool, MAX_M_COST_KIB, MAX_P_COST, MAX_T_COST, PasswordHash, PasswordHasher,
    Pepper, PoolBusy, PoolError, SALT_LEN, Verified, VerifyError, WorkerLost, calibrate,
    calibrate_with_memory_limit, default_max_concurrent_hashes,
};
pub use origin::{Origin, OriginError};
pub use password::{Password, PasswordRejected};
pub use policy::{
    PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS_DEFAULT, PASSWORD_MIN_CHARS_FLOOR, PasswordCheck,
    PasswordContext, PasswordPolicy, PolicyConfigError, PolicyViolation,
};
pub use text::{BoundedText, TextError};
pub use tokens::{RandomnessError, TOKEN_BYTES, constant_time_eq, fill_random, random_token};
pub use username::{USERNAME_MAX_CHARS, USERNAME_MIN_CHARS, Username, UsernameError};

/// The `secrecy` types this crate's API takes, re-exported so callers name the same version.
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};
