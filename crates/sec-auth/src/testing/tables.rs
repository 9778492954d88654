//! The tables of [`super::MemoryStore`] and the row-level steps several of its methods share
//! (the database store's helper functions: `make_room`, `end_other_sessions`,
//! `count_failure`, ...). Nothing here locks: the caller holds the one lock over all of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::account::{UserId, UserRecord};
use crate::lifecycle::{AccountToken, QueuedMail};
use crate::mfa::{MfaChallenge, PendingTotp, TotpRecord};
use crate::permission::ROLE_ADMIN;
use crate::session::{SessionId, SessionRecord};
use crate::store::{NewSession, StoreError};
use crate::throttle::ThrottleCounter;

/// The address column of an account-wide throttle counter (as in the `login_throttle` table).
pub(super) const ACCOUNT_WIDE: &str = "";

/// An account row: the record plus the unique keys only the store needs.
pub(super) struct UserRow {
    pub(super) record: UserRecord,
    pub(super) username_canonical: String,
    pub(super) email_canonical: String,
}

/// A session row: the record plus its token hash (hex, as stored).
pub(super) struct SessionRow {
    pub(super) record: SessionRecord,
    pub(super) token_hash: String,
}

/// Every table, behind one lock.
#[derive(Default)]
pub(super) struct Tables {
    pub(super) users: HashMap<UserId, UserRow>,
    /// `roles` and `role_permissions`: role name to permission names.
    pub(super) roles: BTreeMap<String, BTreeSet<String>>,
    /// `user_roles`.
    pub(super) user_roles: HashMap<UserId, BTreeSet<String>>,
    pub(super) sessions: HashMap<SessionId, SessionRow>,
    /// `login_throttle`, keyed by (subject, ip); ip [`ACCOUNT_WIDE`] is the account counter.
    pub(super) throttle: BTreeMap<(String, String), ThrottleCounter>,
    pub(super) totp: HashMap<UserId, TotpRecord>,
    pub(super) pending_totp: HashMap<UserId, PendingTotp>,
    pub(super) recovery_codes: HashMap<UserId, BTreeSet<String>>,
    /// Pending second-factor steps with their token hash (hex).
    pub(super) challenges: HashMap<uuid::Uuid, (MfaChallenge, String)>,
    /// `account_tokens`, by token hash (hex).
    pub(super) account_tokens: HashMap<String, AccountToken>,
    /// `mail_outbox`, in the order queued.
    pub(super) outbox: Vec<QueuedMail>,
}

/// A write the database would refuse with an error (a foreign key, a missing row).
pub(super) fn refused(what: &'static str) -> StoreError {
    StoreError::Other(what.into())
}

impl Tables {
    pub(super) fn roles_of(&self, id: UserId) -> Vec<String> {
        // A BTreeSet iterates in order: the roles come out sorted, as `ORDER BY role`.
        self.user_roles.get(&id).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Enabled accounts holding the admin role.
    pub(super) fn enabled_admins(&self) -> usize {
        self.user_roles
            .iter()
            .filter(|(id, roles)| {
                roles.contains(ROLE_ADMIN) && self.users.get(id).is_some_and(|u| !u.record.disabled)
            })
            .count()
    }

    pub(super) fn bump_epoch(&mut self, id: UserId, now: i64) {
        if let Some(user) = self.users.get_mut(&id) {
            user.record.privilege_epoch += 1;
            user.record.updated_at = now;
        }
    }

    /// Ends every session of `user` but `keep`; returns how many.
    pub(super) fn end_other_sessions(&mut self, user: UserId, keep: Option<SessionId>) -> u64 {
        let before = self.sessions.len();
        self.sessions.retain(|id, s| s.record.user_id != user || Some(*id) == keep);
        u64::try_from(before - self.sessions.len()).unwrap_or(u64::MAX)
    }

    /// Deletes the oldest sessions of `user` (by creation, then id) until one more fits under
    /// `cap`, then stores `session`; returns how many were deleted. As the database's
    /// `make_room`, a cap of 0 counts as 1.
    pub(super) fn store_session(&mut self, session: &NewSession<'_>) -> Result<u64, StoreError> {
        let user = session.record.user_id;
        let token_hash = session.token_hash.to_hex();
        if !self.users.contains_key(&user) {
            return Err(refused("a session needs an existing account (foreign key)"));
        }
        if self.sessions.values().any(|s| s.token_hash == token_hash)
            || self.sessions.contains_key(&session.record.id)
        {
            return Err(refused("session id and token hash are unique"));
        }
        let mut held: Vec<(i64, String, SessionId)> = self
            .sessions
            .values()
            .filter(|s| s.record.user_id == user)
            .map(|s| (s.record.created_at, s.record.id.to_string(), s.record.id))
            .collect();
        let cap = usize::try_from(session.max_per_account.max(1)).unwrap_or(usize::MAX);
        let excess = (held.len() + 1).saturating_sub(cap);
        held.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (_, _, id) in held.iter().take(excess) {
            self.sessions.remove(id);
        }
        self.sessions
            .insert(session.record.id, SessionRow { record: session.record.clone(), token_hash });
        Ok(u64::try_from(excess).unwrap_or(u64::MAX))
    }

    /// A throttle counter as `decide` sees it: without failures once it has decayed.
    pub(super) fn counter(
        &self,
        subject: &str,
        ip: &str,
        forget_before: i64,
    ) -> Option<ThrottleCounter> {
        self.throttle.get(&(subject.to_owned(), ip.to_owned())).map(|c| ThrottleCounter {
            failures: if c.last_failure_at <= forget_before { 0 } else { c.failures },
            ..*c
        })
    }

    /// Counts one failure: a new counter starts at one, as does a decayed one.
    pub(super) fn count_failure(&mut self, subject: &str, ip: &str, now: i64, forget_before: i64) {
        let key = (subject.to_owned(), ip.to_owned());
        let counter = self.throttle.entry(key).or_insert(ThrottleCounter {
            failures: 0,
            last_failure_at: now,
            last_success_at: None,
        });
        counter.failures = if counter.last_failure_at <= forget_before {
            1
        } else {
            counter.failures.saturating_add(1)
        };
        counter.last_failure_at = now;
    }
}
