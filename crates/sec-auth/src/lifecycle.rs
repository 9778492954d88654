//! The account lifecycle's data: the one-time tokens that mail carries (address verification,
//! a new address's confirmation, password reset) and the mail itself, as the rules hand it to
//! the store's outbox.
//!
//! A token is 256 bits from the OS CSPRNG ([`SessionToken`]'s generator); only its SHA-256 is
//! stored. The mail that carries it is written in the same transaction as its hash
//! ([`crate::AuthStore::issue_account_token`]), so there is never a token without its mail or a
//! mail whose token was not stored. The mail's content is sealed with the MFA key ring before it
//! reaches the store, so the outbox table reveals no link.

use serde::{Deserialize, Serialize};

use crate::account::UserId;
use crate::mfa::{SealError, SecretSealer};
use crate::token::TokenHash;

/// What a token proves, and so what it may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// The account's address reaches its owner (sent at registration).
    VerifyEmail,
    /// A new address for the account reaches its owner; using it makes it the account's.
    ChangeEmail,
    /// A new password may be set (sent on request).
    ResetPassword,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ChangeEmail => "change_email",
            Self::ResetPassword => "reset_password",
        }
    }

    /// The purpose stored as `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "verify_email" => Some(Self::VerifyEmail),
            "change_email" => Some(Self::ChangeEmail),
            "reset_password" => Some(Self::ResetPassword),
            _ => None,
        }
    }
}

/// A stored token, found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    /// The account it acts on.
    pub user_id: UserId,
    /// What it may be used for.
    pub purpose: TokenPurpose,
    /// The address it proves (verification: the account's address when it was sent; change:
    /// the new address).
    pub email: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds from which it is refused.
    pub expires_at: i64,
}

/// A token to store ([`crate::AuthStore::issue_account_token`]).
#[derive(Debug)]
pub struct NewAccountToken<'a> {
    /// SHA-256 of the token.
    pub hash: &'a TokenHash,
    /// The stored record.
    pub token: &'a AccountToken,
}

/// The mail of the account lifecycle: what to tell the account's owner. Links carry the token
/// itself; the app turns it into a URL of its pages (the token in the fragment, never in a
/// query string).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccountMail {
    /// Registration: confirm that the address is yours.
    VerifyEmail {
        /// The token of the link.
        token: String,
        /// Unix seconds from which the link is refused.
        expires_at: i64,
    },
    /// A new address for an account: confirm it (sent to the new address).
    ConfirmNewEmail {
        /// The token of the link.
        token: String,
        /// Unix seconds from which the link is refused.
        expires_at: i64,
    },
    /// Someone asked to move the account to another address (sent to the current one).
    EmailChangeRequested {
        /// The address asked for.
        new_email: String,
    },
    /// The account's address changed (sent to the old one).
    EmailChanged,
    /// Someone tried to register with this address, which already has an account.
    RegistrationAttempt,
    /// A password reset was asked for: the link to set a new password.
    PasswordReset {
        /// The token of the link.
        token: String,
        /// Unix seconds from which the link is refused.
        expires_at: i64,
    },
    /// The password changed (by its owner, or through a reset).
    PasswordChanged,
    /// A second factor was added.
    SecondFactorAdded,
    /// The second factor was removed.
    SecondFactorRemoved {
        /// By an administrator or operator rather than by the owner.
        by_operator: bool,
    },
    /// New recovery codes were made; the old ones no longer work.
    RecoveryCodesRegenerated,
}

// Three variants carry a live token: no `{:?}` may print it.
impl std::fmt::Debug for AccountMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl AccountMail {
    /// The variant's stored name (also what logs may show).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::VerifyEmail { .. } => "verify_email",
            Self::ConfirmNewEmail { .. } => "confirm_new_email",
            Self::EmailChangeRequested { .. } => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::RegistrationAttempt => "registration_attempt",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::SecondFactorAdded => "second_factor_added",
            Self::SecondFactorRemoved { .. } => "second_factor_removed",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }
}

/// One message for the outbox, before sealing: to whom, what, and the circumstances every
/// security notice names (when, and from which client address).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The recipient's address.
    pub to: String,
    /// The account's user name, to greet its owner.
    pub username: String,
    /// What to say.
    pub mail: AccountMail,
    /// Unix seconds of the event.
    pub at: i64,
    /// The client address of the request that caused it, when known.
    pub ip: Option<String>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope").field("mail", &self.mail).finish_non_exhaustive()
    }
}

/// Marks a payload sealed with the key ring.
const SEALED: &str = "sealed:";
/// Marks a payload stored as JSON, when no key ring is configured (never in production, which
/// requires one).
const PLAIN: &str = "plain:";

/// A message as the outbox stores it: its id (the Message-ID of every attempt) and its sealed
/// payload.
#[derive(Clone)]
pub struct QueuedMail {
    /// Random; the row's key.
    pub id: uuid::Uuid,
    /// `sealed:` and a Fernet token of the [`Envelope`]'s JSON, or `plain:` and the JSON.
    pub payload: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for QueuedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedMail").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A payload could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Sealing or opening failed (a key missing from the ring, a damaged row).
    #[error("outbox payload: {0}")]
    Seal(#[from] SealError),
    /// The JSON inside is not an envelope.
    #[error("outbox payload is not a message")]
    Malformed,
}

impl QueuedMail {
    /// Seals `envelope` for the outbox. Without a key ring ([`SealError::NoKey`]) the JSON is
    /// stored as it is, marked so.
    ///
    /// # Errors
    /// A sealing failure other than a missing key.
    pub fn seal(
        envelope: &Envelope,
        sealer: &dyn SecretSealer,
        now: i64,
    ) -> Result<Self, PayloadError> {
        let json = serde_json::to_string(envelope).map_err(|_| PayloadError::Malformed)?;
        let payload = match sealer.seal(json.as_bytes()) {
            Ok(sealed) => format!("{SEALED}{sealed}"),
            Err(SealError::NoKey) => format!("{PLAIN}{json}"),
            Err(other) => return Err(other.into()),
        };
        Ok(Self { id: uuid::Uuid::new_v4(), payload, created_at: now })
    }

    /// Opens a stored payload.
    ///
    /// # Errors
    /// [`PayloadError`] for a payload no key of the ring opens, or that is not an envelope.
    pub fn open(payload: &str, sealer: &dyn SecretSealer) -> Result<Envelope, PayloadError> {
        let json = if let Some(sealed) = payload.strip_prefix(SEALED) {
            let opened = sealer.open(sealed)?;
            String::from_utf8(secrecy::ExposeSecret::expose_secret(&opened.plaintext).to_vec())
                .map_err(|_| PayloadError::Malformed)?
        } else if let Some(plain) = payload.strip_prefix(PLAIN) {
            plain.to_owned()
        } else {
            return Err(PayloadError::Malformed);
        };
        serde_json::from_str(&json).map_err(|_| PayloadError::Malformed)
    }
}
