//! Server-side session records and the timeout rules applied to them.

use std::fmt;

use crate::account::UserId;
use crate::mfa::Aal;

/// A session's id: a random UUID, safe to show the user (it names the session in "my
/// sessions" and in revoke requests) because it cannot be used to act as the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(uuid::Uuid);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// Parses the hyphenated form.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s).ok().map(Self)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A stored session (without its token hash, which only the store needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// Whose it is.
    pub user_id: UserId,
    /// When it was created (login), Unix seconds.
    pub created_at: i64,
    /// When it was last used, Unix seconds; written at most once per
    /// [`SessionPolicy::touch_interval_secs`].
    pub last_seen_at: i64,
    /// When its owner last proved who they are (login, re-authentication), Unix seconds.
    pub authenticated_at: i64,
    /// With how many factors the session was established (or last re-authenticated).
    pub aal: Aal,
    /// When this session last proved a second factor (a login completed with it, a
    /// re-authentication with it, or the confirmation of an enrollment), Unix seconds; `None`
    /// when it never did. A password re-authentication does not move it: changes to the
    /// factors need this proof to be recent.
    pub second_factor_at: Option<i64>,
    /// The user's privilege epoch when the token was last issued; a different epoch on the
    /// account means a role changed since, and the token is replaced on the next request.
    pub privilege_epoch: i64,
    /// Client address at login.
    pub ip: Option<String>,
    /// `User-Agent` at login, cut to 256 characters.
    pub user_agent: Option<String>,
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than the absolute lifetime.
    Absolute,
}

/// What the timeout rules say about a session now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Valid; `touch` says whether `last_seen_at` is old enough to be written again.
    Valid {
        /// Write `last_seen_at = now`.
        touch: bool,
    },
    /// No longer valid.
    Expired(Expiry),
}

/// Session lifetimes. Defaults: idle 30 minutes, absolute 12 hours (NIST SP 800-63B AAL2
/// re-authentication), `last_seen_at` written at most once a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Idle timeout in seconds.
    pub idle_secs: i64,
    /// Absolute lifetime in seconds.
    pub absolute_secs: i64,
    /// Least time between two writes of `last_seen_at`.
    pub touch_interval_secs: i64,
    /// Most sessions one account may hold; a new one beyond it ends the oldest first.
    pub max_per_account: u32,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_secs: 30 * 60,
            absolute_secs: 12 * 3600,
            touch_interval_secs: 60,
            max_per_account: 10,
        }
    }
}

impl SessionPolicy {
    /// A session last seen at or before this second has run out of idle time at `now` (the
    /// same rule as [`SessionPolicy::check`], for queries over many rows).
    pub fn idle_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.idle_secs)
    }

    /// A session created at or before this second has reached its absolute lifetime at `now`.
    pub fn absolute_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.absolute_secs)
    }

    /// Applies the timeouts at time `now`.
    ///
    /// `last_seen_at` lags real use by up to one touch interval, so a session may expire up to
    /// that much *before* a full idle timeout of real inactivity: the rule errs towards ending
    /// sessions, never towards keeping them.
    pub fn check(&self, session: &SessionRecord, now: i64) -> SessionCheck {
        if now.saturating_sub(session.created_at) >= self.absolute_secs {
            return SessionCheck::Expired(Expiry::Absolute);
        }
        let idle = now.saturating_sub(session.last_seen_at);
        if idle >= self.idle_secs {
            return SessionCheck::Expired(Expiry::Idle);
        }
        SessionCheck::Valid { touch: idle >= self.touch_interval_secs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created_at: i64, last_seen_at: i64) -> SessionRecord {
        SessionRecord {
            id: SessionId::random(),
            user_id: UserId::random(),
            created_at,
            last_seen_at,
            authenticated_at: created_at,
            aal: Aal::One,
            second_factor_at: None,
            privilege_epoch: 0,
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn idle_and_absolute_limits_are_exclusive_upper_bounds() {
        let p = SessionPolicy::default();
        let s = session(0, 0);
        assert_eq!(p.check(&s, 0), SessionCheck::Valid { touch: false });
        assert_eq!(p.check(&s, 59), SessionCheck::Valid { touch: false });
        assert_eq!(p.check(&s, 60), SessionCheck::Valid { touch: true });
        assert_eq!(p.check(&s, 30 * 60 - 1), SessionCheck::Valid { touch: true });
        assert_eq!(p.check(&s, 30 * 60), SessionCheck::Expired(Expiry::Idle));
        let busy = session(0, 12 * 3600 - 1);
        assert_eq!(p.check(&busy, 12 * 3600 - 1), SessionCheck::Valid { touch: false });
        assert_eq!(p.check(&busy, 12 * 3600), SessionCheck::Expired(Expiry::Absolute));
    }

    #[test]
    fn a_clock_far_off_expires_rather_than_overflows() {
        let p = SessionPolicy::default();
        assert_eq!(
            p.check(&session(i64::MIN, i64::MIN), i64::MAX),
            SessionCheck::Expired(Expiry::Absolute)
        );
    }
}
