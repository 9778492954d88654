//! [`MemoryStore`]: the [`AuthStore`] contract kept in memory, so the rules can be tested
//! without a database.
//!
//! It follows what the app's database store (`apps/server/src/db/auth_store.rs`) does, not
//! just the trait's prose: where that store refuses, counts or leaves a row alone, so does
//! this one, so that a rule that passes here does not fail only on the real store
//! (`store/tests.rs` pins the cases where the two could drift). Every method holds the one
//! lock over all tables for its whole run, which makes each call a single atomic step, as the
//! trait demands (the database gets the same from its transactions and conditional writes).
//! A refused step leaves the tables as they were, as a rolled-back transaction would.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::account::{UserId, UserRecord};
use crate::lifecycle::{AccountToken, NewAccountToken, QueuedMail, TokenPurpose};
use crate::mfa::{MfaChallenge, PendingTotp, Proof, TotpRecord};
use crate::permission::{Permission, PermissionSet, ROLE_ADMIN, ROLE_USER};
use crate::recovery::RecoveryCodeHash;
use crate::session::{SessionId, SessionRecord};
use crate::store::{
    Activation, AuthStore, Change, NewAccount, NewSession, SessionLookup, StoreError, UniqueField,
    UserLookup,
};
use crate::throttle::{Decision, ThrottleView};
use crate::token::TokenHash;

use super::tables::{ACCOUNT_WIDE, Tables, UserRow, refused};

/// Most accounts one page of [`AuthStore::list_users`] returns (the app's `MAX_PAGE`).
const MAX_PAGE: u32 = 100;

/// An [`AuthStore`] in memory, seeded like a migrated database: the roles `user` (no
/// permission) and `admin` (every permission).
pub(crate) struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    /// An empty store with the seeded roles.
    pub(crate) fn new() -> Self {
        let mut tables = Tables::default();
        tables.roles.insert(ROLE_USER.to_owned(), BTreeSet::new());
        let every = Permission::ALL.iter().map(|p| p.as_str().to_owned()).collect();
        tables.roles.insert(ROLE_ADMIN.to_owned(), every);
        Self { tables: Mutex::new(tables) }
    }

    /// Defines a role, as an operator would with a row in `roles` and `role_permissions`.
    pub(crate) fn define_role(&self, name: &str, permissions: &[&str]) {
        let permissions = permissions.iter().map(|p| (*p).to_owned()).collect();
        self.lock().roles.insert(name.to_owned(), permissions);
    }

    /// The queued mail, oldest first.
    pub(crate) fn outbox(&self) -> Vec<QueuedMail> {
        self.lock().outbox.clone()
    }

    /// The stored failure count of a throttle counter (`ip` "" for the account-wide one).
    pub(crate) fn throttle_failures(&self, subject: &str, ip: &str) -> Option<u32> {
        self.lock().throttle.get(&(subject.to_owned(), ip.to_owned())).map(|c| c.failures)
    }

    /// The lock over every table. A test that panicked while holding it leaves the tables as
    /// they were; later calls still read them (the panic already failed that test).
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuthStore for MemoryStore {
    fn create_user(&self, account: &NewAccount<'_>) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.users.values().any(|u| u.username_canonical == account.username_canonical) {
            return Err(StoreError::Conflict(UniqueField::Username));
        }
        if t.users.values().any(|u| u.email_canonical == account.email_canonical) {
            return Err(StoreError::Conflict(UniqueField::Email));
        }
        if t.users.contains_key(&account.id) {
            return Err(refused("account ids are unique"));
        }
        if !t.roles.contains_key(account.role) {
            return Err(refused("the first role must exist (foreign key)"));
        }
        let record = UserRecord {
            id: account.id,
            username: account.username.to_owned(),
            email: account.email.to_owned(),
            password_hash: account.password_hash.to_owned(),
            disabled: false,
            privilege_epoch: 0,
            email_verified_at: account.email_verified.then_some(account.now),
            created_at: account.now,
            updated_at: account.now,
        };
        t.users.insert(
            account.id,
            UserRow {
                record,
                username_canonical: account.username_canonical.to_owned(),
                email_canonical: account.email_canonical.to_owned(),
            },
        );
        t.user_roles.entry(account.id).or_default().insert(account.role.to_owned());
        Ok(())
    }

    fn find_user(&self, by: UserLookup<'_>) -> Result<Option<UserRecord>, StoreError> {
        let t = self.lock();
        let found = match by {
            UserLookup::Id(id) => t.users.get(&id),
            UserLookup::Username(name) => t.users.values().find(|u| u.username_canonical == name),
            UserLookup::Email(email) => t.users.values().find(|u| u.email_canonical == email),
        };
        Ok(found.map(|u| u.record.clone()))
    }

    fn set_password_hash(&self, id: UserId, hash: &str, now: i64) -> Result<(), StoreError> {
        let mut t = self.lock();
        let user = t.users.get_mut(&id).ok_or_else(|| refused("no such account"))?;
        user.record.password_hash = hash.to_owned();
        user.record.updated_at = now;
        Ok(())
    }

    fn change_password(
        &self,
        id: UserId,
        hash: &str,
        now: i64,
        keep: SessionId,
        keep_token: &TokenHash,
    ) -> Result<u64, StoreError> {
        let mut t = self.lock();
        let user = t.users.get_mut(&id).ok_or_else(|| refused("no such account"))?;
        user.record.password_hash = hash.to_owned();
        user.record.updated_at = now;
        // As the database: a new password voids every reset link.
        t.account_tokens
            .retain(|_, tok| !(tok.user_id == id && tok.purpose == TokenPurpose::ResetPassword));
        let ended = t.end_other_sessions(id, Some(keep));
        // The database's UPDATE by id alone: the kept session gets the new token and counts
        // as just authenticated.
        if let Some(kept) = t.sessions.get_mut(&keep) {
            kept.token_hash = keep_token.to_hex();
            kept.record.authenticated_at = now;
            kept.record.last_seen_at = now;
        }
        Ok(ended)
    }

    fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Change, StoreError> {
        let mut t = self.lock();
        let Some(user) = t.users.get_mut(&id) else { return Ok(Change::NotFound) };
        if user.record.disabled == disabled {
            return Ok(Change::Unchanged);
        }
        let was_updated_at = user.record.updated_at;
        user.record.disabled = disabled;
        user.record.updated_at = now;
        if disabled {
            // As the database: counted after the change, so disabling is refused whenever it
            // would leave no enabled admin (even when none was left before it).
            if t.enabled_admins() == 0 {
                if let Some(user) = t.users.get_mut(&id) {
                    user.record.disabled = false;
                    user.record.updated_at = was_updated_at;
                }
                return Ok(Change::LastAdmin);
            }
            t.sessions.retain(|_, s| s.record.user_id != id);
        }
        Ok(Change::Done)
    }

    fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<(UserRecord, Vec<String>)>, StoreError> {
        let t = self.lock();
        let mut rows: Vec<&UserRow> = t.users.values().collect();
        rows.sort_by_key(|u| (u.record.created_at, u.record.id.to_string()));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit.min(MAX_PAGE)).unwrap_or(usize::MAX);
        Ok(rows
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|u| (u.record.clone(), t.roles_of(u.record.id)))
            .collect())
    }

    fn roles_of(&self, id: UserId) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().roles_of(id))
    }

    fn permissions_of(&self, id: UserId) -> Result<PermissionSet, StoreError> {
        let t = self.lock();
        let held = t.user_roles.get(&id).into_iter().flatten();
        Ok(held
            .filter_map(|role| t.roles.get(role))
            .flatten()
            .filter_map(|name| Permission::parse(name))
            .collect())
    }

    fn grant_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let mut t = self.lock();
        if !t.users.contains_key(&id) || !t.roles.contains_key(role) {
            return Ok(Change::NotFound);
        }
        if !t.user_roles.entry(id).or_default().insert(role.to_owned()) {
            return Ok(Change::Unchanged);
        }
        t.bump_epoch(id, now);
        Ok(Change::Done)
    }

    fn revoke_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let mut t = self.lock();
        let held = t.user_roles.get_mut(&id).is_some_and(|roles| roles.remove(role));
        if !held {
            // As the database: a role the account does not hold (known or not) is no change.
            let exists = t.users.contains_key(&id);
            return Ok(if exists { Change::Unchanged } else { Change::NotFound });
        }
        if role == ROLE_ADMIN && t.enabled_admins() == 0 {
            t.user_roles.entry(id).or_default().insert(role.to_owned());
            return Ok(Change::LastAdmin);
        }
        t.bump_epoch(id, now);
        Ok(Change::Done)
    }

    fn create_session(&self, session: &NewSession<'_>) -> Result<u64, StoreError> {
        self.lock().store_session(session)
    }

    fn session_by_token(&self, hash: &TokenHash) -> Result<Option<SessionLookup>, StoreError> {
        let t = self.lock();
        let hex = hash.to_hex();
        let Some(row) = t.sessions.values().find(|s| s.token_hash == hex) else { return Ok(None) };
        let Some(user) = t.users.get(&row.record.user_id) else { return Ok(None) };
        Ok(Some(SessionLookup {
            session: row.record.clone(),
            user: user.record.clone(),
            roles: t.roles_of(user.record.id),
        }))
    }

    fn touch_session(&self, id: SessionId, now: i64) -> Result<(), StoreError> {
        if let Some(row) = self.lock().sessions.get_mut(&id) {
            row.record.last_seen_at = now;
        }
        Ok(())
    }

    fn reissue_session(
        &self,
        id: SessionId,
        old: &TokenHash,
        new: &TokenHash,
        privilege_epoch: i64,
        proof: Option<Proof>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let Some(row) = t.sessions.get_mut(&id).filter(|s| s.token_hash == old.to_hex()) else {
            return Ok(false);
        };
        row.token_hash = new.to_hex();
        let r = &mut row.record;
        r.privilege_epoch = privilege_epoch;
        r.last_seen_at = now;
        if let Some(proof) = proof {
            r.authenticated_at = proof.at;
            r.aal = proof.aal;
            if proof.second_factor {
                r.second_factor_at = Some(proof.at);
            }
        }
        Ok(true)
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let t = self.lock();
        let mut rows: Vec<&SessionRecord> =
            t.sessions.values().map(|s| &s.record).filter(|r| r.user_id == user).collect();
        // Newest first; ties by id ascending, as `ORDER BY created_at DESC, id ASC`.
        rows.sort_by(|a, b| {
            b.created_at.cmp(&a.created_at).then_with(|| a.id.to_string().cmp(&b.id.to_string()))
        });
        Ok(rows.into_iter().cloned().collect())
    }

    fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        let mut t = self.lock();
        if t.sessions.get(&id).is_some_and(|s| s.record.user_id == user) {
            t.sessions.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    fn delete_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        Ok(self.lock().end_other_sessions(user, except))
    }

    fn throttle_reserve(
        &self,
        subject: &str,
        ip: &str,
        now: i64,
        forget_before: i64,
        decide: &dyn Fn(&ThrottleView) -> Decision,
    ) -> Result<Decision, StoreError> {
        // The lock makes the read, the decision and the count one step: the database gets the
        // same from its compare-and-set loop.
        let mut t = self.lock();
        let view = ThrottleView {
            account: t.counter(subject, ACCOUNT_WIDE, forget_before),
            pair: t.counter(subject, ip, forget_before),
        };
        let decision = decide(&view);
        if decision == Decision::Allow {
            t.count_failure(subject, ACCOUNT_WIDE, now, forget_before);
            t.count_failure(subject, ip, now, forget_before);
        }
        Ok(decision)
    }

    fn throttle_success(&self, subject: &str, ip: &str, now: i64) -> Result<(), StoreError> {
        // Two UPDATEs in the database: a counter that does not exist is not created.
        let mut t = self.lock();
        if let Some(account) = t.throttle.get_mut(&(subject.to_owned(), ACCOUNT_WIDE.to_owned())) {
            account.failures = 0;
        }
        if let Some(pair) = t.throttle.get_mut(&(subject.to_owned(), ip.to_owned())) {
            pair.failures = 0;
            pair.last_success_at = Some(now);
        }
        Ok(())
    }

    fn throttle_clear(&self, subjects: &[&str]) -> Result<u64, StoreError> {
        let mut t = self.lock();
        let mut cleared = 0;
        for ((subject, _), counter) in &mut t.throttle {
            if counter.failures > 0 && subjects.contains(&subject.as_str()) {
                counter.failures = 0;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    fn totp_of(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        Ok(self.lock().totp.get(&user).cloned())
    }

    fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let mut t = self.lock();
        match t.totp.get_mut(&user) {
            Some(totp) if totp.last_step < step => {
                totp.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn reseal_totp(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError> {
        let mut t = self.lock();
        match t.totp.get_mut(&user) {
            Some(totp) if totp.sealed_secret == old => {
                new.clone_into(&mut totp.sealed_secret);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn put_pending_totp(&self, user: UserId, pending: &PendingTotp) -> Result<(), StoreError> {
        let mut t = self.lock();
        if !t.users.contains_key(&user) {
            return Err(refused("an enrollment needs an existing account (foreign key)"));
        }
        t.pending_totp.insert(user, pending.clone());
        Ok(())
    }

    fn pending_totp_of(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError> {
        Ok(self.lock().pending_totp.get(&user).cloned())
    }

    fn activate_totp(
        &self,
        user: UserId,
        activation: &Activation<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        let checked =
            t.pending_totp.get(&user).is_some_and(|p| p.sealed_secret == activation.pending_sealed);
        // Both refusals come before any write: the database rolls back instead.
        if !checked || t.totp.contains_key(&user) != activation.replacing {
            return Ok(None);
        }
        t.pending_totp.remove(&user);
        t.totp.insert(user, activation.active.clone());
        let codes = activation.codes.iter().map(|c| c.as_str().to_owned()).collect();
        t.recovery_codes.insert(user, codes);
        Ok(Some(t.end_other_sessions(user, Some(activation.keep))))
    }

    fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        _now: i64,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        if !t.totp.contains_key(&user) {
            return Ok(false);
        }
        t.recovery_codes.insert(user, codes.iter().map(|c| c.as_str().to_owned()).collect());
        Ok(true)
    }

    fn use_recovery_code(&self, user: UserId, code: &RecoveryCodeHash) -> Result<bool, StoreError> {
        Ok(self.lock().recovery_codes.get_mut(&user).is_some_and(|set| set.remove(code.as_str())))
    }

    fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let t = self.lock();
        let left = t.recovery_codes.get(&user).map_or(0, BTreeSet::len);
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    fn disable_totp(&self, user: UserId, keep: SessionId) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        if t.totp.remove(&user).is_none() {
            return Ok(None);
        }
        t.pending_totp.remove(&user);
        t.recovery_codes.remove(&user);
        // Beyond the trait's words, as the database: pending login steps of the account go
        // too, so none can be completed against the factor just removed.
        t.challenges.retain(|_, (c, _)| c.user_id != user);
        Ok(Some(t.end_other_sessions(user, Some(keep))))
    }

    fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        token_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let hex = token_hash.to_hex();
        if !t.users.contains_key(&challenge.user_id) {
            return Err(refused("a login step needs an existing account (foreign key)"));
        }
        if t.challenges.contains_key(&challenge.id) || t.challenges.values().any(|(_, h)| *h == hex)
        {
            return Err(refused("login step ids and token hashes are unique"));
        }
        t.challenges.retain(|_, (c, _)| {
            c.user_id != challenge.user_id || c.expires_at > challenge.created_at
        });
        t.challenges.insert(challenge.id, (challenge.clone(), hex));
        Ok(())
    }

    fn mfa_challenge_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(MfaChallenge, UserRecord)>, StoreError> {
        let t = self.lock();
        let hex = hash.to_hex();
        let found = t.challenges.values().find(|(_, h)| *h == hex).and_then(|(challenge, _)| {
            let user = t.users.get(&challenge.user_id)?;
            Some((challenge.clone(), user.record.clone()))
        });
        Ok(found)
    }

    fn delete_mfa_challenge(&self, id: uuid::Uuid) -> Result<bool, StoreError> {
        Ok(self.lock().challenges.remove(&id).is_some())
    }

    fn complete_mfa_challenge(
        &self,
        id: uuid::Uuid,
        session: &NewSession<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        let Some(taken) = t.challenges.remove(&id) else { return Ok(None) };
        match t.store_session(session) {
            Ok(ended) => Ok(Some(ended)),
            Err(e) => {
                // Rolled back: the step stays for another try.
                t.challenges.insert(id, taken);
                Err(e)
            }
        }
    }

    fn queue_mail(&self, mail: &QueuedMail) -> Result<(), StoreError> {
        self.lock().outbox.push(mail.clone());
        Ok(())
    }

    fn issue_account_token(
        &self,
        token: &NewAccountToken<'_>,
        mail: &QueuedMail,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let record = token.token;
        if !t.users.contains_key(&record.user_id) {
            return Err(refused("a token needs an existing account (foreign key)"));
        }
        t.account_tokens
            .retain(|_, tok| !(tok.user_id == record.user_id && tok.purpose == record.purpose));
        t.account_tokens.insert(token.hash.to_hex(), record.clone());
        t.outbox.push(mail.clone());
        Ok(())
    }

    fn account_token(&self, hash: &TokenHash) -> Result<Option<AccountToken>, StoreError> {
        Ok(self.lock().account_tokens.get(&hash.to_hex()).cloned())
    }

    fn verify_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let hex = hash.to_hex();
        let matches = t.account_tokens.get(&hex).is_some_and(|tok| tok.user_id == user);
        let current = t.users.get(&user).is_some_and(|u| u.record.email == email);
        if !matches || !current {
            return Ok(false);
        }
        t.account_tokens.remove(&hex);
        if let Some(u) = t.users.get_mut(&user) {
            u.record.email_verified_at = Some(now);
        }
        Ok(true)
    }

    fn change_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        email_canonical: &str,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let hex = hash.to_hex();
        if !t.account_tokens.get(&hex).is_some_and(|tok| tok.user_id == user) {
            return Ok(false);
        }
        if t.users.iter().any(|(id, u)| *id != user && u.email_canonical == email_canonical) {
            return Err(StoreError::Conflict(UniqueField::Email));
        }
        t.account_tokens
            .retain(|_, tok| !(tok.user_id == user && tok.purpose == TokenPurpose::ChangeEmail));
        let Some(u) = t.users.get_mut(&user) else { return Ok(false) };
        u.record.email = email.to_owned();
        u.email_canonical = email_canonical.to_owned();
        u.record.email_verified_at = Some(now);
        u.record.updated_at = now;
        t.outbox.push(notice.clone());
        Ok(true)
    }

    fn reset_password(
        &self,
        hash: &TokenHash,
        user: UserId,
        password_hash: &str,
        verified_email: Option<&str>,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        let hex = hash.to_hex();
        if !t.account_tokens.get(&hex).is_some_and(|tok| tok.user_id == user) {
            return Ok(None);
        }
        t.account_tokens
            .retain(|_, tok| !(tok.user_id == user && tok.purpose == TokenPurpose::ResetPassword));
        let Some(u) = t.users.get_mut(&user) else { return Ok(None) };
        u.record.password_hash = password_hash.to_owned();
        u.record.updated_at = now;
        if u.record.email_verified_at.is_none() && verified_email == Some(u.record.email.as_str()) {
            u.record.email_verified_at = Some(now);
        }
        t.challenges.retain(|_, (c, _)| c.user_id != user);
        let ended = t.end_other_sessions(user, None);
        t.outbox.push(notice.clone());
        Ok(Some(ended))
    }

    fn reset_second_factor(
        &self,
        user: UserId,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        if t.totp.remove(&user).is_none() {
            return Ok(None);
        }
        t.pending_totp.remove(&user);
        t.recovery_codes.remove(&user);
        t.challenges.retain(|_, (c, _)| c.user_id != user);
        let ended = t.end_other_sessions(user, None);
        t.outbox.push(notice.clone());
        Ok(Some(ended))
    }
}

#[cfg(test)]
mod tests;
