//! What the rules answer when they refuse.

use crate::store::StoreError;

/// One rejected input field, with a stable code and a message safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name in the request, e.g. `password`.
    pub field: &'static str,
    /// Stable code, e.g. `password_too_short` or `taken`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Input failed validation; every problem is listed.
    #[error("invalid input")]
    Invalid(Vec<FieldProblem>),
    /// Wrong identifier or password, or a disabled account: one answer for all, by design.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed attempts; try again after this many seconds.
    #[error("too many attempts")]
    Throttled {
        /// Seconds to wait.
        retry_after_secs: i64,
    },
    /// No valid session.
    #[error("not authenticated")]
    Unauthenticated,
    /// Authenticated without the permission needed.
    #[error("permission denied")]
    Forbidden,
    /// The target (account, session, role) does not exist.
    #[error("not found")]
    NotFound,
    /// The change would leave no enabled administrator.
    #[error("the last administrator cannot lose the role or be disabled")]
    LastAdmin,
    /// Password hashing is saturated; retry shortly.
    #[error("busy")]
    Busy,
    /// The action needs a recent authentication (password or second factor within the
    /// re-authentication window); `POST /api/v1/auth/reauth` gives one.
    #[error("re-authentication required")]
    ReauthRequired,
    /// The action needs an active second factor on the account, and a session established
    /// with it.
    #[error("multi-factor authentication required")]
    MfaRequired,
    /// The action needs an active second factor and the account has none.
    #[error("multi-factor authentication is not enabled")]
    MfaNotEnabled,
    /// No key for secrets at rest is configured, so MFA cannot be used.
    #[error("multi-factor authentication is unavailable: no key configured")]
    MfaUnavailable,
    /// A link's token (address verification, password reset) is wrong, expired, used, or for
    /// an account that is gone or disabled: one answer for all.
    #[error("invalid or expired link")]
    InvalidToken,
    /// The password was right, but the account's address is not verified and
    /// `auth.require_verified_email` is on.
    #[error("e-mail address not verified")]
    EmailUnverified,
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Something that should not fail did (no randomness, hashing error).
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

impl From<crate::hasher::HashFailure> for AuthError {
    fn from(f: crate::hasher::HashFailure) -> Self {
        match f {
            crate::hasher::HashFailure::Busy => Self::Busy,
            crate::hasher::HashFailure::Failed => Self::Internal("password hashing failed"),
        }
    }
}

impl From<sec_core::RandomnessError> for AuthError {
    fn from(_: sec_core::RandomnessError) -> Self {
        Self::Internal("the OS random number generator failed")
    }
}

impl From<crate::mfa::SealError> for AuthError {
    fn from(e: crate::mfa::SealError) -> Self {
        match e {
            crate::mfa::SealError::NoKey => Self::MfaUnavailable,
            crate::mfa::SealError::NotAuthentic => {
                Self::Internal("no configured MFA key opens a stored TOTP secret")
            }
            crate::mfa::SealError::Malformed => Self::Internal("a stored TOTP secret is malformed"),
        }
    }
}

impl From<crate::totp::TotpError> for AuthError {
    fn from(e: crate::totp::TotpError) -> Self {
        match e {
            crate::totp::TotpError::Params => Self::Internal("TOTP parameters out of range"),
            crate::totp::TotpError::SecretTooShort => Self::Internal("a TOTP secret is too short"),
            crate::totp::TotpError::Qr => {
                Self::Internal("the enrollment QR code could not be drawn")
            }
        }
    }
}
