//! The audit vocabulary: what happened ([`AuditEvent`]), who did it ([`Actor`]), to whom or
//! what ([`Subject`]), from where, in which request, and how it ended ([`Outcome`]).
//!
//! Secrets cannot be recorded, by construction: no field is a free-form string except
//! [`UserText`] (the name someone typed at a login), every other value is an enum, a number, an
//! IP address, a UUID or a [`Label`] (a short identifier), and none of these converts from a
//! `secrecy` secret or from `sec-core`'s password type. Getting a secret in would take an
//! explicit `expose_secret()`, which review catches:
//!
//! ```compile_fail
//! use sec_audit::UserText;
//! let password = secrecy::SecretString::from("hunter2");
//! let _ = UserText::new(password); // a secret is not text
//! ```
//!
//! ```compile_fail
//! use sec_audit::Label;
//! let token = secrecy::SecretString::from("session-token");
//! let _ = Label::new(&token); // nor a label
//! ```
//!
//! The explicit route compiles, and stands out in review:
//!
//! ```
//! use secrecy::ExposeSecret;
//! let typed = secrecy::SecretString::from("bob");
//! let _ = sec_audit::UserText::new(typed.expose_secret());
//! ```

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Something that happened and must be answerable for later. New variants may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", content = "detail")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A login succeeded.
    LoginSucceeded,
    /// A login was refused.
    LoginFailed {
        /// Why (recorded here; the client only ever sees a generic failure).
        reason: LoginFailure,
    },
    /// A login was refused without checking the password, because of too many failures.
    LoginThrottled {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// A user logged out.
    Logout,
    /// A session was ended by something other than its own logout.
    SessionRevoked {
        /// Why.
        reason: RevocationReason,
    },
    /// A password was changed.
    PasswordChanged,
    /// TOTP was enrolled.
    MfaEnrolled,
    /// TOTP was removed.
    MfaDisabled,
    /// A TOTP code was wrong.
    MfaFailed,
    /// A one-time recovery code was used.
    RecoveryCodeUsed {
        /// Codes left.
        remaining: u32,
    },
    /// A TOTP code was presented a second time within its window.
    TotpReplayRejected,
    /// A user's recovery codes were replaced by a new set.
    RecoveryCodesRegenerated,
    /// A signed-in user proved their identity again (step-up before a sensitive action).
    Reauthenticated,
    /// A role was granted.
    RoleGranted {
        /// The role.
        role: Label,
    },
    /// A role was revoked.
    RoleRevoked {
        /// The role.
        role: Label,
    },
    /// A request was refused for lack of a permission.
    PermissionDenied {
        /// The permission that was missing.
        permission: Label,
    },
    /// An account was created.
    AccountCreated,
    /// An account was locked.
    AccountLocked {
        /// Seconds until it unlocks by itself; `None` until an administrator unlocks it.
        for_secs: Option<u64>,
    },
    /// An administrator unlocked (re-enabled) an account.
    AccountUnlocked,
    /// An administrator or operator cleared an account's login-failure counters (password and
    /// second factor, every address), lifting any back-off or hard limit at once.
    LoginFailuresCleared {
        /// How many counters held failures.
        counters: u64,
    },
    /// Someone registered with an address that already has an account (the subject): no
    /// account was made, and its owner was told by mail.
    RegistrationAddressInUse,
    /// The account's address was proved to reach its owner.
    EmailVerified,
    /// The account's owner asked to move it to another address (a link went to the new one).
    EmailChangeRequested,
    /// The account moved to a new, verified address.
    EmailChanged,
    /// A password reset was asked for: by anyone for the subject (a link went to the account's
    /// address when it exists), or by an administrator or operator.
    PasswordResetRequested,
    /// A new password was set with a reset link.
    PasswordReset,
    /// An administrator or operator removed the subject's second factor (lost by its owner).
    SecondFactorReset,
    /// The encrypted secrets were re-keyed.
    SecretsRotated,
    /// A setting was refused at start-up.
    ConfigRejected {
        /// The settings key.
        key: Label,
    },
    /// The server started serving.
    ServerStarted {
        /// The server's version.
        version: Label,
    },
    /// The server stopped serving.
    ServerStopped,
    /// A user deleted one of their notes (the worked example resource: a fork records the
    /// deletions of its own resources the same way, one variant each, by id only, never by
    /// content).
    NoteDeleted {
        /// The note's id.
        note_id: ResourceId,
    },
    /// The audit folder did not hold the chain head recorded outside it (in the database): its
    /// newest lines were cut, or it was deleted or replaced. Written when the finding is
    /// accepted, into the chain as the folder holds it. (Production refuses to run instead,
    /// writing nothing, until an operator acknowledges the finding.)
    AuditTrailDiscontinuity {
        /// What the folder lacks.
        finding: DiscontinuityFinding,
        /// Sequence number of the head recorded outside the folder.
        recorded_seq: u64,
        /// Sequence number of the last line the folder held (0 when it held none).
        found_seq: u64,
        /// What was done about it.
        resolution: DiscontinuityResolution,
    },
}

/// What an audit folder lacked, compared with the head recorded outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiscontinuityFinding {
    /// No line with the recorded sequence number: lines cut from the end, or the folder
    /// deleted.
    Missing,
    /// A line with that number, but not the recorded one: the trail was replaced.
    Replaced,
}

/// What was done when an audit folder did not continue the recorded head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiscontinuityResolution {
    /// An operator acknowledged it (`server audit acknowledge`); the folder's chain is the
    /// recorded one from now on.
    Acknowledged,
    /// Outside production: a warning, and the folder's chain is the recorded one from now on.
    Continued,
}

impl AuditEvent {
    /// The event's name as written in the audit file, e.g. `LoginFailed`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LoginSucceeded => "LoginSucceeded",
            Self::LoginFailed { .. } => "LoginFailed",
            Self::LoginThrottled { .. } => "LoginThrottled",
            Self::Logout => "Logout",
            Self::SessionRevoked { .. } => "SessionRevoked",
            Self::PasswordChanged => "PasswordChanged",
            Self::MfaEnrolled => "MfaEnrolled",
            Self::MfaDisabled => "MfaDisabled",
            Self::MfaFailed => "MfaFailed",
            Self::RecoveryCodeUsed { .. } => "RecoveryCodeUsed",
            Self::TotpReplayRejected => "TotpReplayRejected",
            Self::RecoveryCodesRegenerated => "RecoveryCodesRegenerated",
            Self::Reauthenticated => "Reauthenticated",
            Self::RoleGranted { .. } => "RoleGranted",
            Self::RoleRevoked { .. } => "RoleRevoked",
            Self::PermissionDenied { .. } => "PermissionDenied",
            Self::AccountCreated => "AccountCreated",
            Self::AccountLocked { .. } => "AccountLocked",
            Self::AccountUnlocked => "AccountUnlocked",
            Self::LoginFailuresCleared { .. } => "LoginFailuresCleared",
            Self::RegistrationAddressInUse => "RegistrationAddressInUse",
            Self::EmailVerified => "EmailVerified",
            Self::EmailChangeRequested => "EmailChangeRequested",
            Self::EmailChanged => "EmailChanged",
            Self::PasswordResetRequested => "PasswordResetRequested",
            Self::PasswordReset => "PasswordReset",
            Self::SecondFactorReset => "SecondFactorReset",
            Self::SecretsRotated => "SecretsRotated",
            Self::ConfigRejected { .. } => "ConfigRejected",
            Self::ServerStarted { .. } => "ServerStarted",
            Self::ServerStopped => "ServerStopped",
            Self::NoteDeleted { .. } => "NoteDeleted",
            Self::AuditTrailDiscontinuity { .. } => "AuditTrailDiscontinuity",
        }
    }

    /// How the event ended: a refusal is a failure or a denial, everything else a success.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::LoginFailed { .. }
            | Self::MfaFailed
            | Self::TotpReplayRejected
            | Self::ConfigRejected { .. } => Outcome::Failure,
            Self::LoginThrottled { .. } | Self::PermissionDenied { .. } => Outcome::Denied,
            _ => Outcome::Success,
        }
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoginFailure {
    /// No account has that name.
    UnknownUser,
    /// The password did not match.
    BadPassword,
    /// The account is locked.
    AccountLocked,
    /// The second factor was missing or wrong.
    MfaRequired,
    /// The password was right, but the account's address is not verified (and the settings
    /// require it).
    EmailUnverified,
}

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// Its owner revoked it from the session list.
    ByOwner,
    /// The password changed, which ends every session.
    PasswordChanged,
    /// A second factor was enrolled, replaced or turned off, which ends every other session of
    /// the account.
    SecondFactorChanged,
    /// An administrator revoked it.
    ByAdministrator,
    /// Its idle or absolute lifetime ran out.
    Expired,
    /// A new session of the account would have exceeded the per-account cap; the oldest end.
    SessionLimit,
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed (wrong credentials, invalid input).
    Failure,
    /// It was refused by policy (throttling, missing permission).
    Denied,
}

impl Outcome {
    /// `success`, `failure` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// An account, by its id (never by name or email, which change and identify a person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(uuid::Uuid);

impl Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl From<uuid::Uuid> for UserId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored resource of the app (a note, say), by its id: a UUID, so it names the row and
/// carries none of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceId(uuid::Uuid);

impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl From<uuid::Uuid> for ResourceId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// Nobody logged in.
    Anonymous,
    /// The server itself (start-up, shutdown, scheduled work).
    System,
    /// A logged-in user.
    User(UserId),
    /// An operator at the server's command line (`server users ...`).
    Operator,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("anonymous"),
            Self::System => f.write_str("system"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Operator => f.write_str("operator"),
        }
    }
}

/// Whom or what it was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Subject {
    /// An account, by id.
    User(UserId),
    /// A name as someone typed it, for events where no account is known yet (a failed login
    /// for an unknown user). It is user-controlled: escaped on every output.
    Username(UserText),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Username(name) => write!(f, "username:{}", name.as_str()),
        }
    }
}

/// Text a user typed, kept for the record: at most [`UserText::MAX_CHARS`] characters (longer
/// input is cut, and the cut marked with `…`). Written escaped: as a JSON string in files and
/// JSON logs, with control characters escaped in the text console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UserText(String);

impl UserText {
    /// Longest text kept.
    pub const MAX_CHARS: usize = 128;

    /// Keeps `text`, cut to [`UserText::MAX_CHARS`] characters.
    pub fn new(text: &str) -> Self {
        match text.char_indices().nth(Self::MAX_CHARS) {
            None => Self(text.to_owned()),
            Some((cut, _)) => Self(format!("{}…", &text[..cut])),
        }
    }

    /// The text, unescaped.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short identifier (role, permission, settings key, version): 1 to 64 characters of
/// `[A-Za-z0-9._:-]`, so it needs no escaping anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Label(String);

/// The text is not a valid [`Label`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a label is 1 to 64 characters of letters, digits and . _ : -")]
pub struct LabelError;

impl Label {
    /// Checks and keeps `text`.
    pub fn new(text: &str) -> Result<Self, LabelError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok { Ok(Self(text.to_owned())) } else { Err(LabelError) }
    }

    /// A label made from any text: characters outside the set become `_`, the text is cut to
    /// 64 characters, and empty text becomes `_`. For values that are labels in spirit but not
    /// guaranteed in form (a version with `+build` metadata).
    pub fn lossy(text: &str) -> Self {
        let mut out: String = text
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.is_empty() {
            out.push('_');
        }
        Self(out)
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of the HTTP request an event belongs to: the same characters and length as a
/// [`Label`], which is what the app accepts in `X-Request-Id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestId(Label);

impl RequestId {
    /// Checks and keeps `id`; `None` if it is not a valid id.
    pub fn new(id: &str) -> Option<Self> {
        Label::new(id).ok().map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// One audit event with its context, ready for [`crate::AuditTrail::emit`]. The time and the
/// chain fields are added when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub(crate) event: AuditEvent,
    pub(crate) actor: Actor,
    pub(crate) subject: Option<Subject>,
    pub(crate) source_ip: Option<IpAddr>,
    pub(crate) request_id: Option<RequestId>,
}

impl AuditRecord {
    /// A record of `event` by `actor`, with no subject, address or request.
    pub fn new(event: AuditEvent, actor: Actor) -> Self {
        Self { event, actor, subject: None, source_ip: None, request_id: None }
    }

    /// Whom or what the event concerns.
    #[must_use]
    pub fn subject(mut self, subject: Subject) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The client's address (as the app determined it, trusting proxies only when configured).
    #[must_use]
    pub fn source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// The request the event happened in.
    #[must_use]
    pub fn request_id(mut self, id: RequestId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The event.
    pub fn event(&self) -> &AuditEvent {
        &self.event
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn events_serialize_as_a_name_and_a_detail_object() {
        let json = |e: &AuditEvent| serde_json::to_string(e).unwrap();
        assert_eq!(json(&AuditEvent::Logout), r#"{"event":"Logout"}"#);
        assert_eq!(
            json(&AuditEvent::LoginFailed { reason: LoginFailure::BadPassword }),
            r#"{"event":"LoginFailed","detail":{"reason":"bad_password"}}"#
        );
        let role = Label::new("admin").unwrap();
        let granted = AuditEvent::RoleGranted { role };
        assert!(json(&granted).starts_with(&format!(r#"{{"event":"{}""#, granted.name())));
    }

    #[test]
    fn a_deleted_note_is_recorded_by_its_id_alone() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
        let deleted = AuditEvent::NoteDeleted { note_id: ResourceId::from(id) };
        assert_eq!(
            serde_json::to_string(&deleted).unwrap(),
            r#"{"event":"NoteDeleted","detail":{"note_id":"01234567-89ab-4def-8123-456789abcdef"}}"#
        );
        assert_eq!(deleted.name(), "NoteDeleted");
        assert_eq!(deleted.outcome(), Outcome::Success);
    }

    #[test]
    fn refusals_are_failures_or_denials() {
        assert_eq!(AuditEvent::LoginSucceeded.outcome(), Outcome::Success);
        assert_eq!(AuditEvent::MfaFailed.outcome(), Outcome::Failure);
        let denied = AuditEvent::PermissionDenied { permission: Label::new("users:read").unwrap() };
        assert_eq!(denied.outcome(), Outcome::Denied);
    }

    #[test]
    fn labels_refuse_anything_that_would_need_escaping() {
        for ok in ["admin", "users:write", "database.url", "0.1.0", "a-b_c"] {
            assert!(Label::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a\nb", "\"x\"", "é", &"x".repeat(65)] {
            assert!(Label::new(bad).is_err(), "{bad:?}");
            assert!(Label::new(Label::lossy(bad).as_str()).is_ok(), "{bad:?}");
        }
        assert_eq!(Label::lossy("1.0.0+build.5").as_str(), "1.0.0_build.5");
    }

    #[test]
    fn user_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(UserText::MAX_CHARS + 10);
        let kept = UserText::new(&long);
        assert_eq!(kept.as_str().chars().count(), UserText::MAX_CHARS + 1);
        assert!(kept.as_str().ends_with('…'));
        assert_eq!(UserText::new("bob").as_str(), "bob");
    }
}
