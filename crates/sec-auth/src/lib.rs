//! Authentication and authorization rules: accounts, server-side sessions, login throttling
//! and role-based access control, with storage behind the [`AuthStore`] trait and no web
//! framework. The app (`apps/server`) implements the store on its database and adapts the
//! rules to HTTP.
//!
//! - [`Auth`]: the operations (register, login, authenticate a session token, change the
//!   password, list and revoke sessions, administer accounts and roles), each one atomic and
//!   audited.
//! - [`ThrottlePolicy`]: exponential back-off on failure counters stored in the database.
//! - [`SessionPolicy`]: idle and absolute timeouts, throttled `last_seen` writes.
//! - [`Permission`] and roles: permissions are a closed enum; roles are named sets stored in
//!   the database.
//! - [`SessionToken`]: 256 random bits; only their SHA-256 is stored. Its form token (an
//!   HMAC keyed with it) is the synchronizer token of server-rendered forms.
//! - [`Totp`], [`RecoveryCode`]: the second factor (RFC 6238 codes, each time step accepted at
//!   most once per account; one-time recovery codes stored as SHA-256), with TOTP secrets
//!   sealed at rest by a [`SecretSealer`] the app provides; step-up re-authentication for
//!   sensitive actions.

mod account;
pub mod clock;
mod error;
mod hasher;
mod lifecycle;
mod mfa;
mod permission;
mod recovery;
mod service;
mod session;
mod store;
#[cfg(test)]
mod testing;
mod throttle;
mod token;
mod totp;

pub use account::{UserId, UserRecord, email_canonical};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, FieldProblem};
pub use hasher::{CredentialHasher, HashFailure, PooledHasher};
pub use lifecycle::{
    AccountMail, AccountToken, Envelope, NewAccountToken, PayloadError, QueuedMail, TokenPurpose,
};
pub use mfa::{
    Aal, MfaChallenge, MfaStatus, NoSealer, Opened, PendingTotp, Proof, SealError, SecondFactor,
    SecretSealer, TotpEnrollment, TotpRecord,
};
pub use permission::{InvalidRoleName, Permission, PermissionSet, ROLE_ADMIN, ROLE_USER, RoleName};
pub use recovery::{RECOVERY_CODE_COUNT, RecoveryCode, RecoveryCodeHash};
pub use service::{
    AuditSink, Auth, AuthConfig, Authenticated, Confirmed, LifecyclePolicy, LoggedIn, LoginOutcome,
    MfaPending, MfaPolicy, Principal, Reauthentication, Registered, Registration, RequestMeta,
    Verified,
};
pub use session::{Expiry, SessionCheck, SessionId, SessionPolicy, SessionRecord};
pub use store::{
    Activation, AuthStore, Change, NewAccount, NewSession, SessionLookup, StoreError, UniqueField,
    UserLookup,
};
pub use throttle::{Decision, DenyReason, ThrottleCounter, ThrottlePolicy, ThrottleView};
pub use token::{FORM_TOKEN_CHARS, SessionToken, TOKEN_CHARS, TokenHash};
pub use totp::{
    TOTP_SECRET_BYTES, Totp, TotpAlgorithm, TotpError, TotpParams, TotpSecret, qr_png_data_uri,
    qr_svg_data_uri,
};
