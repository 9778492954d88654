//! Multi-factor authentication as the rules see it: assurance levels, the stored TOTP state,
//! the pending second-factor step of a login, the encryption of secrets at rest, and what a
//! user presents as a second factor.

use std::fmt;

use secrecy::{SecretSlice, SecretString};

use crate::account::UserId;

/// How a session's owner last proved who they are (NIST SP 800-63B authenticator assurance
/// level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aal {
    /// One factor: the password.
    One,
    /// Two factors: the password and a TOTP or recovery code.
    Two,
}

impl Aal {
    /// The stored number: 1 or 2.
    pub fn as_i64(self) -> i64 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// From the stored number; anything but 2 reads as one factor (never more than proven).
    pub fn from_i64(n: i64) -> Self {
        if n == 2 { Self::Two } else { Self::One }
    }
}

/// A fresh proof of identity to record on a session: when, with how many factors, and
/// whether the proof itself was a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// Unix seconds.
    pub at: i64,
    /// The level the session holds from now on.
    pub aal: Aal,
    /// The proof was a second factor (a TOTP or recovery code), not the password: the
    /// session's [`second_factor_at`](crate::SessionRecord::second_factor_at) becomes `at`.
    pub second_factor: bool,
}

/// An account's active TOTP factor, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed by the [`SecretSealer`] (never the plaintext).
    pub sealed_secret: String,
    /// The last time step accepted for this account; only later steps are accepted.
    pub last_step: i64,
    /// When it was activated, Unix seconds.
    pub enabled_at: i64,
}

/// A TOTP secret handed out for enrollment and not yet confirmed with a code.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingTotp {
    /// The secret, sealed.
    pub sealed_secret: String,
    /// Unix seconds.
    pub created_at: i64,
    /// It cannot be confirmed from this Unix second on.
    pub expires_at: i64,
}

// Sealed secrets are ciphertext, but there is no reason to put them in logs either.
impl fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpRecord")
            .field("last_step", &self.last_step)
            .field("enabled_at", &self.enabled_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PendingTotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingTotp").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A login that passed its password check and waits for the second factor. It is not a
/// session: its token authenticates nothing but `POST /api/v1/auth/mfa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    /// Its id (a random UUID).
    pub id: uuid::Uuid,
    /// Whose login it is.
    pub user_id: UserId,
    /// Unix seconds.
    pub created_at: i64,
    /// It cannot be completed from this Unix second on.
    pub expires_at: i64,
}

/// What a user presents as a second factor.
pub enum SecondFactor {
    /// A code from the authenticator app.
    Totp(SecretString),
    /// One of the printed recovery codes.
    RecoveryCode(SecretString),
}

impl fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "SecondFactor::Totp([REDACTED])",
            Self::RecoveryCode(_) => "SecondFactor::RecoveryCode([REDACTED])",
        })
    }
}

/// A user's MFA state, for "my account".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    /// TOTP is active.
    pub totp_enabled: bool,
    /// When it was activated.
    pub enabled_at: Option<i64>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// An enrollment waits for confirmation.
    pub enrollment_pending: bool,
}

/// What a new TOTP enrollment hands the user, once: the secret inside an `otpauth://` URI and
/// the same URI as QR codes. Every field holds the secret; there is no `Debug`.
pub struct TotpEnrollment {
    /// The `otpauth://totp/…` URI.
    pub otpauth_uri: SecretString,
    /// The URI as a QR code, PNG, as a `data:` URI.
    pub qr_png: SecretString,
    /// The URI as a QR code, SVG, as a `data:` URI.
    pub qr_svg: SecretString,
    /// It must be confirmed before this Unix second.
    pub expires_at: i64,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A secret could not be sealed or opened. Carries nothing of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// No key is configured: MFA cannot be used until one is.
    #[error("no key is configured for secrets at rest")]
    NoKey,
    /// No configured key opens it (a key was removed too early, or the value was altered).
    #[error("no configured key opens the stored secret")]
    NotAuthentic,
    /// The stored value is not a sealed secret.
    #[error("the stored secret is malformed")]
    Malformed,
}

/// A sealed secret, opened.
pub struct Opened {
    /// The plaintext.
    pub plaintext: SecretSlice<u8>,
    /// It was sealed with an older key: seal it again with the newest.
    pub stale: bool,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened").field("stale", &self.stale).finish_non_exhaustive()
    }
}

/// Authenticated encryption of secrets at rest (TOTP secrets). The app implements it with the
/// MFA key ring from the encrypted secrets file (Fernet, newest key first), so a copy of the
/// database alone reveals no TOTP secret.
pub trait SecretSealer: Send + Sync {
    /// Encrypts with the newest key.
    ///
    /// # Errors
    /// [`SealError::NoKey`].
    fn seal(&self, plaintext: &[u8]) -> Result<String, SealError>;

    /// Decrypts with whichever key authenticates `sealed`.
    ///
    /// # Errors
    /// [`SealError`].
    fn open(&self, sealed: &str) -> Result<Opened, SealError>;
}

/// The sealer of a server with no MFA key configured: every use fails with
/// [`SealError::NoKey`], so MFA is unavailable rather than stored in the clear.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSealer;

impl SecretSealer for NoSealer {
    fn seal(&self, _: &[u8]) -> Result<String, SealError> {
        Err(SealError::NoKey)
    }

    fn open(&self, _: &str) -> Result<Opened, SealError> {
        Err(SealError::NoKey)
    }
}
