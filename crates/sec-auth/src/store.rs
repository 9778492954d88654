//! What the rules need from storage. The app implements [`AuthStore`] on its database; every
//! method is one atomic step (one transaction where it writes more than one row).

use crate::account::{UserId, UserRecord};
use crate::lifecycle::{AccountToken, NewAccountToken, QueuedMail};
use crate::mfa::{MfaChallenge, PendingTotp, Proof, TotpRecord};
use crate::permission::PermissionSet;
use crate::recovery::RecoveryCodeHash;
use crate::session::{SessionId, SessionRecord};
use crate::throttle::{Decision, ThrottleView};
use crate::token::TokenHash;

/// How to find an account.
#[derive(Debug, Clone, Copy)]
pub enum UserLookup<'a> {
    /// By id.
    Id(UserId),
    /// By canonical user name.
    Username(&'a str),
    /// By canonical e-mail address.
    Email(&'a str),
}

/// A unique field a new account clashed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// The canonical user name is taken.
    Username,
    /// The canonical e-mail address is taken.
    Email,
}

/// A new account to store, with its first role.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Its id.
    pub id: UserId,
    /// Displayed user name.
    pub username: &'a str,
    /// Canonical user name (unique).
    pub username_canonical: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Canonical e-mail (unique).
    pub email_canonical: &'a str,
    /// PHC string.
    pub password_hash: &'a str,
    /// The role it starts with.
    pub role: &'a str,
    /// The address is the owner's already (an operator typed it): verified at `now`.
    pub email_verified: bool,
    /// Unix seconds.
    pub now: i64,
}

/// A session found by its token, with what every request needs about its account.
#[derive(Debug, Clone)]
pub struct SessionLookup {
    /// The session.
    pub session: SessionRecord,
    /// Its account.
    pub user: UserRecord,
    /// The account's roles, sorted.
    pub roles: Vec<String>,
}

/// A new session to store.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// The record.
    pub record: &'a SessionRecord,
    /// SHA-256 of its token.
    pub token_hash: &'a TokenHash,
    /// Most sessions the account may hold, this one included: when storing it would exceed
    /// this, the account's oldest sessions are deleted first, in the same transaction.
    pub max_per_account: u32,
}

/// The outcome of a change that a safety rule may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Done.
    Done,
    /// Nothing to do: already so.
    Unchanged,
    /// Refused: it would leave no enabled account holding the admin role.
    LastAdmin,
    /// The account (or role) does not exist.
    NotFound,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached; the request may be retried later.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A unique field is taken.
    #[error("{0:?} is taken")]
    Conflict(UniqueField),
    /// Anything else.
    #[error("storage failed")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A confirmed enrollment to make the account's factor ([`AuthStore::activate_totp`]).
pub struct Activation<'a> {
    /// The sealed secret of the pending enrollment that was checked.
    pub pending_sealed: &'a str,
    /// The account had an active factor when the rules checked the request (and so demanded
    /// a recent proof of it).
    pub replacing: bool,
    /// The new factor.
    pub active: &'a TotpRecord,
    /// The hashes of the new recovery codes.
    pub codes: &'a [RecoveryCodeHash],
    /// The session that confirmed it, which stays.
    pub keep: SessionId,
    /// Unix seconds.
    pub now: i64,
}

// The sealed secret is ciphertext, but there is no reason to put it in logs either.
impl std::fmt::Debug for Activation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activation")
            .field("replacing", &self.replacing)
            .field("keep", &self.keep)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Storage for accounts, roles, sessions and throttle counters.
///
/// Methods are synchronous: the app calls the rules on its blocking thread pool. Each method
/// takes its own connection, so nothing holds one while a password is being hashed.
pub trait AuthStore: Send + Sync {
    /// Stores a new account with its first role, atomically.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the user name or e-mail is taken; nothing is written.
    fn create_user(&self, account: &NewAccount<'_>) -> Result<(), StoreError>;

    /// Finds an account.
    fn find_user(&self, by: UserLookup<'_>) -> Result<Option<UserRecord>, StoreError>;

    /// Replaces an account's password hash (a re-hash at login).
    fn set_password_hash(&self, id: UserId, hash: &str, now: i64) -> Result<(), StoreError>;

    /// In one transaction: sets the new password hash, deletes every session of the account
    /// except `keep`, and gives `keep` the token hash `keep_token`. Returns how many sessions
    /// were deleted.
    fn change_password(
        &self,
        id: UserId,
        hash: &str,
        now: i64,
        keep: SessionId,
        keep_token: &TokenHash,
    ) -> Result<u64, StoreError>;

    /// Disables or enables an account. Disabling deletes its sessions in the same transaction
    /// and is refused ([`Change::LastAdmin`]) for the last enabled admin.
    fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Change, StoreError>;

    /// A page of accounts, oldest first, with their roles.
    fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<(UserRecord, Vec<String>)>, StoreError>;

    /// The roles an account holds, sorted.
    fn roles_of(&self, id: UserId) -> Result<Vec<String>, StoreError>;

    /// The union of the permissions of an account's roles. Names the code does not know (a
    /// newer release wrote them) are ignored.
    fn permissions_of(&self, id: UserId) -> Result<PermissionSet, StoreError>;

    /// Grants a role and bumps the account's privilege epoch.
    fn grant_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError>;

    /// Revokes a role and bumps the account's privilege epoch; refused for the last enabled
    /// admin's admin role.
    fn revoke_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError>;

    /// Stores a new session, first deleting the account's oldest sessions as far as
    /// [`NewSession::max_per_account`] requires (concurrent logins of one account are
    /// serialised, so the cap holds). Returns how many were deleted.
    fn create_session(&self, session: &NewSession<'_>) -> Result<u64, StoreError>;

    /// The session with this token hash, its account and the account's roles (sorted), on one
    /// connection: this runs on every authenticated request.
    fn session_by_token(&self, hash: &TokenHash) -> Result<Option<SessionLookup>, StoreError>;

    /// Writes `last_seen_at`.
    fn touch_session(&self, id: SessionId, now: i64) -> Result<(), StoreError>;

    /// Gives a session a new token hash (destroying the old token), records the privilege
    /// epoch and, when given, a new proof of identity (authentication time and assurance
    /// level), and sets `last_seen_at`. Only if the session still has the token hash `old`:
    /// false when it is gone or another request replaced the token first.
    fn reissue_session(
        &self,
        id: SessionId,
        old: &TokenHash,
        new: &TokenHash,
        privilege_epoch: i64,
        proof: Option<Proof>,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Every session of an account, newest first.
    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes one session of `user`; false if it did not exist (or is someone else's).
    fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError>;

    /// Deletes every session of `user` except `except`; returns how many.
    fn delete_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64, StoreError>;

    /// Atomically reads the counters of `(subject, ip)` and of `subject` alone, asks `decide`,
    /// and when it allows, counts the attempt as a failure in both (a later
    /// [`AuthStore::throttle_success`] takes it back). Concurrent callers, on any replica, are
    /// serialised so that each sees the other's count.
    ///
    /// A counter whose last failure is at or before `forget_before` has decayed
    /// ([`crate::ThrottlePolicy::forget_before`]): `decide` sees it with zero failures and the
    /// attempt is counted as its first.
    fn throttle_reserve(
        &self,
        subject: &str,
        ip: &str,
        now: i64,
        forget_before: i64,
        decide: &dyn Fn(&ThrottleView) -> Decision,
    ) -> Result<Decision, StoreError>;

    /// Resets both counters of `subject` after a success from `ip`, and marks `ip` as known
    /// for it.
    fn throttle_success(&self, subject: &str, ip: &str, now: i64) -> Result<(), StoreError>;

    /// Sets the failures of every counter of these subjects (account-wide and per address) to
    /// zero; known-address marks stay. Returns how many counters had failures.
    fn throttle_clear(&self, subjects: &[&str]) -> Result<u64, StoreError>;

    /// The account's active TOTP factor.
    fn totp_of(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Records `step` as the account's last accepted TOTP step, only if it is later than the
    /// one stored (one conditional write, so that two requests, on any replicas, cannot both
    /// accept the same step). False when the step is not later, or no TOTP is active.
    fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;

    /// Replaces the sealed secret `old` with `new` (the same secret sealed with the newest
    /// key); false when the stored value is no longer `old`.
    fn reseal_totp(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError>;

    /// Stores a pending enrollment, replacing any earlier one of the account.
    fn put_pending_totp(&self, user: UserId, pending: &PendingTotp) -> Result<(), StoreError>;

    /// The account's pending enrollment.
    fn pending_totp_of(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError>;

    /// In one transaction: deletes the pending enrollment (only if it is still the one sealed
    /// as `activation.pending_sealed`), checks that the account has an active factor exactly
    /// when `activation.replacing` says so, makes `activation.active` the account's TOTP
    /// factor, replaces its recovery codes and ends every session but `activation.keep`.
    /// `None` when the pending enrollment changed or is gone, or a factor appeared or went
    /// away: nothing is written. Otherwise how many sessions ended.
    fn activate_totp(
        &self,
        user: UserId,
        activation: &Activation<'_>,
    ) -> Result<Option<u64>, StoreError>;

    /// Replaces the account's recovery codes, in one transaction; false (nothing written) when
    /// no TOTP factor is active.
    fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the account's recovery code with this hash; true if it existed. One statement,
    /// so a code works once however many requests present it at the same time.
    fn use_recovery_code(&self, user: UserId, code: &RecoveryCodeHash) -> Result<bool, StoreError>;

    /// How many unused recovery codes the account has.
    fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;

    /// In one transaction: deletes the account's TOTP factor, pending enrollment and recovery
    /// codes, and every session but `keep`. `None` when no TOTP was active (nothing written);
    /// otherwise how many sessions ended.
    fn disable_totp(&self, user: UserId, keep: SessionId) -> Result<Option<u64>, StoreError>;

    /// Stores a pending second-factor step, and deletes the account's expired ones.
    fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        token_hash: &TokenHash,
    ) -> Result<(), StoreError>;

    /// The pending second-factor step with this token hash, and its account.
    fn mfa_challenge_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(MfaChallenge, UserRecord)>, StoreError>;

    /// Deletes a pending second-factor step; true if it existed.
    fn delete_mfa_challenge(&self, id: uuid::Uuid) -> Result<bool, StoreError>;

    /// In one transaction: deletes the pending step `id` and stores `session` as
    /// [`AuthStore::create_session`] does (returning how many old sessions the cap ended).
    /// `None` when the step was already gone (another request completed it): nothing is
    /// written.
    fn complete_mfa_challenge(
        &self,
        id: uuid::Uuid,
        session: &NewSession<'_>,
    ) -> Result<Option<u64>, StoreError>;

    /// Queues a message in the outbox.
    fn queue_mail(&self, mail: &QueuedMail) -> Result<(), StoreError>;

    /// In one transaction: deletes the account's earlier tokens of the same purpose (one live
    /// link per purpose), stores this one, and queues `mail`, which carries it.
    fn issue_account_token(
        &self,
        token: &NewAccountToken<'_>,
        mail: &QueuedMail,
    ) -> Result<(), StoreError>;

    /// The token with this hash.
    fn account_token(&self, hash: &TokenHash) -> Result<Option<AccountToken>, StoreError>;

    /// In one transaction: deletes the verification token `hash` of `user` and marks the
    /// account's address verified if it is still `email`. False (nothing written) when the
    /// token was already gone or the address changed.
    fn verify_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// In one transaction: deletes the address-change token `hash` of `user` (and the
    /// account's other change tokens), gives the account the new address, verified, and
    /// queues `notice` (to the old address). False when the token was already gone.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another account has the address; nothing is written.
    fn change_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        email_canonical: &str,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<bool, StoreError>;

    /// In one transaction: deletes the reset token `hash` of `user`, sets the password hash,
    /// deletes every session, pending second-factor step and reset token of the account,
    /// marks the address verified when it is still `verified_email`, and queues `notice`.
    /// `None` when the token was already gone (nothing written); otherwise how many sessions
    /// ended.
    fn reset_password(
        &self,
        hash: &TokenHash,
        user: UserId,
        password_hash: &str,
        verified_email: Option<&str>,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError>;

    /// In one transaction: deletes the account's TOTP factor, pending enrollment, recovery
    /// codes, pending second-factor steps and every session, and queues `notice`. `None` when
    /// no TOTP was active (nothing written); otherwise how many sessions ended.
    fn reset_second_factor(
        &self,
        user: UserId,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError>;
}
