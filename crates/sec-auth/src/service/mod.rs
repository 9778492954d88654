//! The rules, over an [`AuthStore`], a [`CredentialHasher`], a [`Clock`] and an [`AuditSink`].
//!
//! Every method blocks (storage and hashing): the app calls them on its blocking thread pool.
//!
//! This file holds [`Auth`], its configuration and the types its operations take and return;
//! the operations live beside it, one `impl Auth` block per responsibility:
//!
//! - `accounts`: registration, the first administrator, password changes;
//! - `login`: the password step, the second-factor step of a login, the throttle reservation;
//! - `sessions`: issuing, checking and ending sessions;
//! - `admin`: permissions, roles and the administration of accounts;
//! - `step_up`: what sensitive actions demand of a session, and re-authentication;
//! - `second_factor`: checking TOTP and recovery codes, sealing TOTP secrets;
//! - `enrollment`: turning TOTP on and off, new recovery codes;
//! - `lifecycle`: address verification, password reset, an operator's reset of a lost second
//!   factor, and the notices mailed about changes to an account.

mod accounts;
mod admin;
mod enrollment;
mod lifecycle;
mod login;
mod second_factor;
mod sessions;
mod step_up;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use sec_audit::{Actor, AuditEvent, AuditRecord, RequestId};
use sec_core::{PasswordPolicy, SecretString};

use crate::account::UserRecord;
use crate::clock::{Clock, unix_now};
use crate::error::{AuthError, FieldProblem};
use crate::hasher::CredentialHasher;
use crate::mfa::{NoSealer, SecondFactor, SecretSealer};
use crate::recovery::RecoveryCode;
use crate::session::{SessionPolicy, SessionRecord};
use crate::store::AuthStore;
use crate::throttle::ThrottlePolicy;
use crate::token::{SessionToken, TokenHash};
use crate::totp::TotpParams;

pub use lifecycle::Verified;

/// Where audit events go. The app writes them to its hash-chained trail.
pub trait AuditSink: Send + Sync {
    /// Records one event. Implementations must not fail the caller: a write failure is
    /// theirs to report.
    fn record(&self, record: AuditRecord);
}

/// What the rules know about the request they serve.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address, as the app determined it.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
    /// The request id, for audit records.
    pub request_id: Option<String>,
}

impl RequestMeta {
    fn throttle_ip(&self) -> String {
        self.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    /// A record of `event` by `actor` in this request: with its client address and request id.
    /// The rules build every record here, and so does the app for the events it records
    /// itself (`NoteDeleted`), so the two cannot fill these in differently.
    pub fn audit(&self, event: AuditEvent, actor: Actor) -> AuditRecord {
        let mut record = AuditRecord::new(event, actor);
        if let Some(ip) = self.ip {
            record = record.source_ip(ip);
        }
        if let Some(id) = self.request_id.as_deref().and_then(RequestId::new) {
            record = record.request_id(id);
        }
        record
    }
}

/// Tunable parts of the rules.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Session lifetimes.
    pub sessions: SessionPolicy,
    /// Login throttling (passwords and second factors alike, on separate counters).
    pub throttle: ThrottlePolicy,
    /// New-password rules.
    pub password_policy: Arc<PasswordPolicy>,
    /// Words a password must not contain (the service's name, say).
    pub context_words: Vec<String>,
    /// Sensitive actions need an authentication at most this many seconds old (default 600).
    pub reauth_window_secs: i64,
    /// Permission routes (administration) need an active second factor and a session
    /// established with it (default true).
    pub admin_requires_mfa: bool,
    /// TOTP and the pending second-factor step.
    pub mfa: MfaPolicy,
    /// Address verification and password reset.
    pub lifecycle: LifecyclePolicy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            throttle: ThrottlePolicy::default(),
            password_policy: Arc::new(PasswordPolicy::default()),
            context_words: Vec::new(),
            reauth_window_secs: 600,
            admin_requires_mfa: true,
            mfa: MfaPolicy::default(),
            lifecycle: LifecyclePolicy::default(),
        }
    }
}

/// Lifetimes of the links mail carries, and whether an unverified address may sign in.
#[derive(Debug, Clone, Copy)]
pub struct LifecyclePolicy {
    /// How long a verification link works (default 24 hours).
    pub verify_email_ttl_secs: i64,
    /// How long a reset link works (default 30 minutes).
    pub reset_ttl_secs: i64,
    /// Refuse to sign in an account whose address is not verified (the app's default: on in
    /// production, off elsewhere).
    pub require_verified_email: bool,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            verify_email_ttl_secs: 24 * 60 * 60,
            reset_ttl_secs: 30 * 60,
            require_verified_email: false,
        }
    }
}

/// TOTP parameters and the lifetimes of the MFA intermediate states.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// Code parameters (SHA-1, 6 digits, 30 s, ±1 step).
    pub totp: TotpParams,
    /// The issuer named in the enrollment URI (what the authenticator app shows).
    pub issuer: String,
    /// How long a password-verified login waits for its second factor (default 300 s).
    pub challenge_ttl_secs: i64,
    /// How long a new TOTP secret may wait for its confirming code (default 600 s).
    pub enrollment_ttl_secs: i64,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            totp: TotpParams::default(),
            issuer: "server".to_owned(),
            challenge_ttl_secs: 300,
            enrollment_ttl_secs: 600,
        }
    }
}

/// Input of a registration.
#[derive(Debug)]
pub struct Registration<'a> {
    /// Wanted user name.
    pub username: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Wanted password.
    pub password: &'a SecretString,
}

/// The outcome of a registration. The app answers both the same way: the one registering
/// learns nothing about whether the address has an account.
#[derive(Debug)]
pub enum Registered {
    /// A new account, and its verification link on its way.
    Created(UserRecord),
    /// The address has an account; its owner is told instead.
    AddressInUse,
}

/// A signed-in user: the session and its account. Only [`Auth::authenticate`] makes one.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The session.
    pub session: SessionRecord,
    /// Its account.
    pub user: UserRecord,
    /// The hash of the token the request presented (or of its replacement), so that a
    /// re-authentication can replace exactly that token.
    token_hash: TokenHash,
    /// The account's roles when the request was authenticated, sorted.
    pub roles: Vec<String>,
}

/// A request's session, checked.
#[derive(Debug)]
pub struct Authenticated {
    /// Who.
    pub principal: Principal,
    /// A replacement token the client must store (its privileges changed since the token was
    /// issued; the old token no longer works).
    pub reissued: Option<SessionToken>,
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The account.
    pub user: UserRecord,
    /// The new session.
    pub session: SessionRecord,
    /// Its token, for the cookie.
    pub token: SessionToken,
}

/// The outcome of a correct password.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: a new session.
    Session(LoggedIn),
    /// The account has a second factor: no session yet, only a pending step that
    /// [`Auth::complete_mfa_login`] finishes.
    MfaRequired(MfaPending),
}

/// A login waiting for its second factor.
#[derive(Debug)]
pub struct MfaPending {
    /// The account.
    pub user: UserRecord,
    /// The pending step's token, for its own cookie. It is not a session token.
    pub token: SessionToken,
    /// Unix second from which it no longer works.
    pub expires_at: i64,
}

/// A confirmed TOTP enrollment.
pub struct Confirmed {
    /// The ten new recovery codes, shown once.
    pub recovery_codes: Vec<RecoveryCode>,
    /// The confirming session's new token (two factors).
    pub token: SessionToken,
    /// How many other sessions of the account ended.
    pub sessions_ended: u64,
}

impl std::fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmed")
            .field("sessions_ended", &self.sessions_ended)
            .finish_non_exhaustive()
    }
}

/// What a signed-in user presents to re-authenticate.
pub enum Reauthentication {
    /// The account password.
    Password(SecretString),
    /// A second factor: a TOTP code or an unused recovery code.
    SecondFactor(SecondFactor),
}

impl std::fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Reauthentication::Password([REDACTED])"),
            Self::SecondFactor(factor) => write!(f, "Reauthentication::SecondFactor({factor:?})"),
        }
    }
}

/// How a second factor fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactorOutcome {
    Accepted,
    Wrong,
    /// A correct TOTP code for a step already accepted (or older than one).
    Replayed,
    /// The account has no active TOTP factor.
    NotEnrolled,
}

/// The rules.
pub struct Auth {
    store: Arc<dyn AuthStore>,
    hasher: Arc<dyn CredentialHasher>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    sealer: Arc<dyn SecretSealer>,
    config: AuthConfig,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Auth {
    /// The rules over these parts.
    pub fn new(
        store: Arc<dyn AuthStore>,
        hasher: Arc<dyn CredentialHasher>,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn AuditSink>,
        config: AuthConfig,
    ) -> Self {
        Self { store, hasher, clock, audit, sealer: Arc::new(NoSealer), config }
    }

    /// Seals TOTP secrets at rest with `sealer`. Without one, MFA is unavailable
    /// ([`AuthError::MfaUnavailable`]) rather than stored in the clear.
    #[must_use]
    pub fn with_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = sealer;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Opens a message the outbox holds ([`crate::QueuedMail::payload`]) with the rules' key
    /// ring, for the worker that sends it.
    ///
    /// # Errors
    /// [`crate::PayloadError`] for a payload no key of the ring opens.
    pub fn open_mail(&self, payload: &str) -> Result<crate::Envelope, crate::PayloadError> {
        crate::QueuedMail::open(payload, self.sealer.as_ref())
    }

    /// The current time in Unix seconds, from the injected clock.
    pub fn now(&self) -> i64 {
        unix_now(self.clock.as_ref())
    }
}

fn incorrect(field: &'static str, message: &str) -> AuthError {
    AuthError::Invalid(vec![problem(field, "incorrect", message.to_owned())])
}

fn problem(field: &'static str, code: &'static str, message: String) -> FieldProblem {
    FieldProblem { field, code, message }
}

/// `s` cut to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
