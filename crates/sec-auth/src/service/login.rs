//! Signing in: the password step (enumeration-safe, throttled), the second-factor step that
//! may follow it, and the throttle reservation every credential check goes through.

use sec_audit::{Actor, AuditEvent, LoginFailure, Subject, UserText};
use sec_core::{Email, SecretString, Username};

use super::{Auth, FactorOutcome, LoggedIn, LoginOutcome, MfaPending, RequestMeta, cut};
use crate::account::{UserRecord, email_canonical};
use crate::error::AuthError;
use crate::mfa::{Aal, MfaChallenge, SecondFactor};
use crate::store::UserLookup;
use crate::throttle::Decision;
use crate::token::SessionToken;

/// Longest identifier kept as a throttle key for a name that matches no account.
const THROTTLE_NAME_MAX_CHARS: usize = 256;

impl Auth {
    /// Logs in by user name or e-mail address.
    ///
    /// Unknown account, wrong password and disabled account give the same
    /// [`AuthError::InvalidCredentials`] after the same work (one Argon2 verification, a
    /// dummy one for an unknown account). `previous` is the session token the client already
    /// held, if any: that session is ended, so no token from before the login survives it.
    ///
    /// When the account has an active second factor, a correct password yields
    /// [`LoginOutcome::MfaRequired`]: a short-lived pending step with its own token, not a
    /// session.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::Throttled`], [`AuthError::Busy`].
    pub fn login(
        &self,
        identifier: &str,
        password: &SecretString,
        previous: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome, AuthError> {
        let (lookup_key, by_email) = canonical_identifier(identifier);
        let user = match (&lookup_key, by_email) {
            (Some(key), true) => self.store.find_user(UserLookup::Email(key))?,
            (Some(key), false) => self.store.find_user(UserLookup::Username(key))?,
            (None, _) => None,
        };
        let subject = match &user {
            Some(u) => Subject::User(u.id.into()),
            None => Subject::Username(UserText::new(identifier)),
        };
        let throttle_key = match (&user, &lookup_key) {
            (Some(u), _) => format!("user:{}", u.id),
            (None, Some(key)) => format!("name:{key}"),
            (None, None) => {
                format!("name:{}", cut(&identifier.to_lowercase(), THROTTLE_NAME_MAX_CHARS))
            }
        };
        self.reserve_attempt(&throttle_key, subject.clone(), meta)?;

        let verified = match &user {
            Some(u) => self.hasher.verify(password, &u.password_hash)?,
            None => {
                self.hasher.dummy_verify(password)?;
                None
            }
        };
        let (user, verified) = match (user, verified) {
            (Some(user), Some(verified)) if !user.disabled => (user, verified),
            (user, verified) => {
                let reason = match (&user, verified) {
                    (None, _) => LoginFailure::UnknownUser,
                    (Some(_), None) => LoginFailure::BadPassword,
                    (Some(_), Some(_)) => LoginFailure::AccountLocked,
                };
                let event = AuditEvent::LoginFailed { reason };
                self.audit.record(meta.audit(event, Actor::Anonymous).subject(subject));
                return Err(AuthError::InvalidCredentials);
            }
        };
        let now = self.now();
        self.store.throttle_success(&throttle_key, &meta.throttle_ip(), now)?;
        if verified.needs_rehash() {
            self.upgrade_hash(&user, password, now);
        }
        // Told only after the right password, so it reveals nothing to anyone else.
        if self.config.lifecycle.require_verified_email && user.email_verified_at.is_none() {
            let event = AuditEvent::LoginFailed { reason: LoginFailure::EmailUnverified };
            let subject = Subject::User(user.id.into());
            self.audit.record(meta.audit(event, Actor::Anonymous).subject(subject));
            return Err(AuthError::EmailUnverified);
        }
        if let Some(previous) = previous {
            self.end_presented_session(previous);
        }
        if self.store.totp_of(user.id)?.is_some() {
            let token = SessionToken::generate()?;
            let challenge = MfaChallenge {
                id: uuid::Uuid::new_v4(),
                user_id: user.id,
                created_at: now,
                expires_at: now.saturating_add(self.config.mfa.challenge_ttl_secs),
            };
            self.store.create_mfa_challenge(&challenge, &token.hash())?;
            tracing::info!(user = %user.id, "password accepted; waiting for the second factor");
            return Ok(LoginOutcome::MfaRequired(MfaPending {
                user,
                token,
                expires_at: challenge.expires_at,
            }));
        }
        let (session, token) = self.issue_session(&user, now, Aal::One, meta)?;
        self.audit.record(meta.audit(AuditEvent::LoginSucceeded, Actor::User(user.id.into())));
        Ok(LoginOutcome::Session(LoggedIn { user, session, token }))
    }

    /// Finishes a login that waits for its second factor: `presented` is the pending step's
    /// token, `factor` a TOTP code (each time step accepted once per account) or an unused
    /// recovery code. On success the step is consumed and a new session, established with two
    /// factors, is issued; the session token `previous` held by the browser, if any, is
    /// ended. Attempts are throttled like passwords, on their own counters.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`] for a missing, expired or consumed step;
    /// [`AuthError::InvalidCredentials`] for a wrong or replayed code; [`AuthError::Throttled`];
    /// [`AuthError::MfaUnavailable`] without a key for secrets at rest.
    pub fn complete_mfa_login(
        &self,
        presented: &str,
        factor: &SecondFactor,
        previous: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
        let token = SessionToken::parse(presented).ok_or(AuthError::Unauthenticated)?;
        let (challenge, user) =
            self.store.mfa_challenge_by_token(&token.hash())?.ok_or(AuthError::Unauthenticated)?;
        if self.now() >= challenge.expires_at || user.disabled || challenge.user_id != user.id {
            self.store.delete_mfa_challenge(challenge.id)?;
            return Err(AuthError::Unauthenticated);
        }
        match self.verify_second_factor(&user, factor, meta)? {
            FactorOutcome::Accepted => {}
            FactorOutcome::Wrong | FactorOutcome::Replayed | FactorOutcome::NotEnrolled => {
                let event = AuditEvent::LoginFailed { reason: LoginFailure::MfaRequired };
                self.audit.record(
                    meta.audit(event, Actor::Anonymous).subject(Subject::User(user.id.into())),
                );
                return Err(AuthError::InvalidCredentials);
            }
        }
        if let Some(previous) = previous {
            self.end_presented_session(previous);
        }
        let now = self.now();
        let (record, token) = self.new_session(&user, now, Aal::Two, meta)?;
        let stored = self
            .store
            .complete_mfa_challenge(challenge.id, &self.new_session_row(&record, &token.hash()))?;
        let Some(ended) = stored else {
            // Another request completed this step first: it got the session.
            return Err(AuthError::Unauthenticated);
        };
        self.audit_session_limit(user.id, ended, meta);
        self.audit.record(meta.audit(AuditEvent::LoginSucceeded, Actor::User(user.id.into())));
        Ok(LoggedIn { user, session: record, token })
    }

    pub(super) fn reserve_attempt(
        &self,
        key: &str,
        subject: Subject,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let policy = self.config.throttle;
        let decision = self.store.throttle_reserve(
            key,
            &meta.throttle_ip(),
            now,
            policy.forget_before(now),
            &|view| policy.decide(view, now),
        )?;
        match decision {
            Decision::Allow => Ok(()),
            Decision::Deny { reason, retry_after_secs } => {
                tracing::info!(
                    reason = reason.as_str(),
                    retry_after_secs,
                    "login attempt throttled"
                );
                let secs = u64::try_from(retry_after_secs).unwrap_or(1);
                let event = AuditEvent::LoginThrottled { retry_after_secs: secs };
                self.audit.record(meta.audit(event, Actor::Anonymous).subject(subject));
                Err(AuthError::Throttled { retry_after_secs })
            }
        }
    }

    /// Re-hashes at the current parameters after a login; a failure here must not fail the
    /// login (the old hash still verifies), so it is only logged.
    fn upgrade_hash(&self, user: &UserRecord, password: &SecretString, now: i64) {
        let outcome = self
            .hasher
            .rehash_verified(password)
            .map_err(AuthError::from)
            .and_then(|hash| Ok(self.store.set_password_hash(user.id, hash.as_str(), now)?));
        match outcome {
            Ok(()) => {
                tracing::info!(user = %user.id, "password hash upgraded to the current parameters")
            }
            Err(e) => tracing::warn!(user = %user.id, error = %e, "password hash upgrade failed"),
        }
    }

    fn end_presented_session(&self, presented: &str) {
        let Some(token) = SessionToken::parse(presented) else { return };
        match self.store.session_by_token(&token.hash()) {
            Ok(Some(found)) => {
                if let Err(e) = self.store.delete_session(found.user.id, found.session.id) {
                    tracing::warn!(error = %e, "could not end the session presented at login");
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the session presented at login")
            }
        }
    }
}

/// The lookup key of a login identifier and whether it is an e-mail address; `None` when it
/// is neither a valid user name nor a valid address (no account can match it).
pub(super) fn canonical_identifier(identifier: &str) -> (Option<String>, bool) {
    if identifier.contains('@') {
        (Email::parse(identifier).ok().map(|e| email_canonical(&e)), true)
    } else {
        (Username::parse(identifier).ok().map(|u| u.canonical().to_owned()), false)
    }
}
