//! The account lifecycle: proving an address (at registration and when it changes), resetting
//! a forgotten password, an operator's recovery of a lost second factor, and the notices that
//! tell an account's owner about changes to it. Mail goes through the store's outbox
//! ([`crate::AuthStore::issue_account_token`], [`crate::AuthStore::queue_mail`]).
//!
//! Threat model (docs/auth.md, "Account lifecycle"): an attacker who knows or guesses an
//! address or user name learns nothing from these answers (the same answer after the same work
//! for known and unknown accounts, throttled per identifier and per client address); holding a
//! link is all a token gives (256 bits, SHA-256 stored, single use, short-lived, void when the
//! password changes or a newer one is sent); a reset never bypasses a second factor.

use sec_audit::{Actor, AuditEvent, RevocationReason, Subject, UserText};
use sec_core::{Email, SecretString, Username};

use super::{Auth, FactorOutcome, Principal, RequestMeta, cut, incorrect, problem};
use crate::account::{UserId, UserRecord, email_canonical};
use crate::error::AuthError;
use crate::lifecycle::{
    AccountMail, AccountToken, Envelope, NewAccountToken, QueuedMail, TokenPurpose,
};
use crate::mfa::SecondFactor;
use crate::store::{StoreError, UniqueField, UserLookup};
use crate::token::SessionToken;

/// Longest identifier kept in a throttle key.
const THROTTLE_KEY_MAX_CHARS: usize = 256;

/// What a verification link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The account's address is verified.
    Address,
    /// The account moved to the new address, now verified.
    NewAddress,
}

impl Auth {
    /// Queues a notice to the account's current address. The change it reports has already
    /// happened, so a failure to queue is logged and does not fail the caller.
    pub(super) fn notify(&self, user: &UserRecord, mail: AccountMail, meta: &RequestMeta) {
        let kind = mail.kind();
        let queued = self
            .sealed(&user.email, user, mail, meta)
            .and_then(|queued| Ok(self.store.queue_mail(&queued)?));
        if let Err(error) = queued {
            tracing::error!(user = %user.id, kind, %error, "a notice could not be queued");
        }
    }

    /// `mail` to `to` about `user`'s account, with the time and client address of `meta`,
    /// sealed for the outbox.
    fn sealed(
        &self,
        to: &str,
        user: &UserRecord,
        mail: AccountMail,
        meta: &RequestMeta,
    ) -> Result<QueuedMail, AuthError> {
        let now = self.now();
        let envelope = Envelope {
            to: to.to_owned(),
            username: user.username.clone(),
            mail,
            at: now,
            ip: meta.ip.map(|ip| ip.to_string()),
        };
        QueuedMail::seal(&envelope, self.sealer.as_ref(), now)
            .map_err(|_| AuthError::Internal("the outbox payload could not be sealed"))
    }

    /// Makes a token for `user` and queues the mail that carries it, in one transaction (the
    /// account's earlier tokens of the same purpose stop working). `to` is where the link goes.
    fn issue_token(
        &self,
        user: &UserRecord,
        purpose: TokenPurpose,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let token = SessionToken::generate()?;
        let now = self.now();
        let ttl = match purpose {
            TokenPurpose::VerifyEmail | TokenPurpose::ChangeEmail => {
                self.config.lifecycle.verify_email_ttl_secs
            }
            TokenPurpose::ResetPassword => self.config.lifecycle.reset_ttl_secs,
        };
        let expires_at = now.saturating_add(ttl);
        let secret = token.expose().to_owned();
        let mail = match purpose {
            TokenPurpose::VerifyEmail => AccountMail::VerifyEmail { token: secret, expires_at },
            TokenPurpose::ChangeEmail => AccountMail::ConfirmNewEmail { token: secret, expires_at },
            TokenPurpose::ResetPassword => AccountMail::PasswordReset { token: secret, expires_at },
        };
        let queued = self.sealed(email, user, mail, meta)?;
        let record = AccountToken {
            user_id: user.id,
            purpose,
            email: Some(email.to_owned()),
            created_at: now,
            expires_at,
        };
        self.store.issue_account_token(
            &NewAccountToken { hash: &token.hash(), token: &record },
            &queued,
        )?;
        Ok(())
    }

    /// Sends the verification link of a new account's address.
    pub(super) fn send_verification(
        &self,
        user: &UserRecord,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        self.issue_token(user, TokenPurpose::VerifyEmail, &user.email, meta)
    }

    /// Tells the owner of an address that already has an account that someone tried to
    /// register with it (instead of telling the one registering).
    pub(super) fn address_in_use(
        &self,
        email_key: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let Some(owner) = self.store.find_user(UserLookup::Email(email_key))? else {
            // The account went away since the conflict: nothing to tell anyone.
            return Ok(());
        };
        let subject = Subject::User(owner.id.into());
        let event = AuditEvent::RegistrationAddressInUse;
        self.audit.record(meta.audit(event, Actor::Anonymous).subject(subject.clone()));
        // Told at the pace of the login throttle (a few a day once it backs off), so that
        // registering with someone's address again and again cannot fill their inbox. The
        // answer is the same either way.
        let key = format!("address-in-use:{}", owner.id);
        if !owner.disabled && self.reserve_attempt(&key, subject, meta).is_ok() {
            self.notify(&owner, AccountMail::RegistrationAttempt, meta);
        }
        Ok(())
    }

    /// Reserves a mail-sending request against two throttles: per identifier (and per client
    /// address for it), and per client address across identifiers. The same for known and
    /// unknown identifiers, so a refusal tells nothing either.
    fn reserve_mail_request(
        &self,
        kind: &str,
        identifier: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let key = cut(&identifier.trim().to_lowercase(), THROTTLE_KEY_MAX_CHARS);
        let subject = Subject::Username(UserText::new(identifier));
        self.reserve_attempt(&format!("{kind}:{key}"), subject.clone(), meta)?;
        self.reserve_attempt(&format!("{kind}-from:{}", meta.throttle_ip()), subject, meta)
    }

    /// Checks the throttles of a password-reset request (`POST /api/v1/auth/password-reset`).
    /// The work that differs between known and unknown accounts is
    /// [`Auth::send_password_reset`], which the app runs after answering.
    ///
    /// # Errors
    /// [`AuthError::Throttled`].
    pub fn reserve_password_reset(
        &self,
        identifier: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        self.reserve_mail_request("reset", identifier, meta)
    }

    /// Sends a reset link to the account named by `identifier` (user name or address), if
    /// there is an enabled one; otherwise does nothing. Audited either way.
    ///
    /// # Errors
    /// Storage failures.
    pub fn send_password_reset(
        &self,
        identifier: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let user = self.find_by_identifier(identifier)?.filter(|u| !u.disabled);
        let Some(user) = user else {
            let subject = Subject::Username(UserText::new(identifier));
            self.audit.record(
                meta.audit(AuditEvent::PasswordResetRequested, Actor::Anonymous).subject(subject),
            );
            return Ok(());
        };
        self.issue_token(&user, TokenPurpose::ResetPassword, &user.email, meta)?;
        let event = AuditEvent::PasswordResetRequested;
        self.audit
            .record(meta.audit(event, Actor::Anonymous).subject(Subject::User(user.id.into())));
        Ok(())
    }

    /// An operator or administrator sends the account a reset link (`server users
    /// reset-password`). `by` is the administrator, `None` for the command line.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; storage failures.
    pub fn issue_password_reset(
        &self,
        by: Option<&Principal>,
        target: UserId,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let user = self.store.find_user(UserLookup::Id(target))?.ok_or(AuthError::NotFound)?;
        self.issue_token(&user, TokenPurpose::ResetPassword, &user.email, meta)?;
        let actor = by.map_or(Actor::Operator, |p| Actor::User(p.user.id.into()));
        let event = AuditEvent::PasswordResetRequested;
        self.audit.record(meta.audit(event, actor).subject(Subject::User(target.into())));
        Ok(())
    }

    /// Sets a new password with a reset link's token: checks the token (unused, unexpired,
    /// for an enabled account), the new password against the policy and, when the account has
    /// a second factor, that factor (`factor`; a reset never bypasses it). Then, in one
    /// transaction: the password, every session ended, every reset token of the account void,
    /// the address marked verified (the link reached it), and a notice queued.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a wrong, expired or used token (one answer for all);
    /// [`AuthError::Invalid`] naming `new_password`, or `code` when the second factor is
    /// missing (`second_factor_required`) or wrong; [`AuthError::Throttled`].
    pub fn complete_password_reset(
        &self,
        presented: &str,
        new_password: &SecretString,
        factor: Option<&SecondFactor>,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let token = SessionToken::parse(presented).ok_or(AuthError::InvalidToken)?;
        let hash = token.hash();
        let (record, user) = self.live_token(&hash, &[TokenPurpose::ResetPassword])?;
        let username = Username::parse(&user.username).ok();
        let email = Email::parse(&user.email).ok();
        let mut problems = Vec::new();
        let password = self.check_new_password(
            "new_password",
            new_password,
            username.as_ref(),
            email.as_ref(),
            &mut problems,
        );
        let Some(password) = password else {
            return Err(AuthError::Invalid(problems));
        };
        if self.store.totp_of(user.id)?.is_some() {
            let Some(factor) = factor else {
                return Err(AuthError::Invalid(vec![problem(
                    "code",
                    "second_factor_required",
                    "this account has a second factor: give a code from the authenticator app \
                     or a recovery code"
                        .to_owned(),
                )]));
            };
            match self.verify_second_factor(&user, factor, meta)? {
                FactorOutcome::Accepted => {}
                FactorOutcome::Wrong | FactorOutcome::Replayed | FactorOutcome::NotEnrolled => {
                    return Err(incorrect("code", "the code is not correct"));
                }
            }
        }
        let password_hash = self.hasher.hash(&password)?;
        let now = self.now();
        let notice = self.sealed(&user.email, &user, AccountMail::PasswordChanged, meta)?;
        let verified_email = record.email.as_deref().filter(|e| *e == user.email);
        let ended = self
            .store
            .reset_password(&hash, user.id, password_hash.as_str(), verified_email, now, &notice)?
            .ok_or(AuthError::InvalidToken)?;
        let actor = Actor::User(user.id.into());
        self.audit.record(meta.audit(AuditEvent::PasswordReset, actor.clone()));
        if ended > 0 {
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::PasswordChanged };
            self.audit.record(meta.audit(event, actor).subject(Subject::User(user.id.into())));
        }
        Ok(())
    }

    /// The stored token with this hash and its account, if it is one of `purposes`, unexpired,
    /// and its account exists and is enabled.
    fn live_token(
        &self,
        hash: &crate::token::TokenHash,
        purposes: &[TokenPurpose],
    ) -> Result<(AccountToken, UserRecord), AuthError> {
        let record = self.store.account_token(hash)?.ok_or(AuthError::InvalidToken)?;
        if !purposes.contains(&record.purpose) || self.now() >= record.expires_at {
            return Err(AuthError::InvalidToken);
        }
        let user = self.store.find_user(UserLookup::Id(record.user_id))?;
        match user {
            Some(user) if !user.disabled => Ok((record, user)),
            _ => Err(AuthError::InvalidToken),
        }
    }

    /// Uses a verification link: the account's address is verified, or (for a change of
    /// address) the account moves to the new address, verified, and the old address gets a
    /// notice.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a wrong, expired or used token, or one for an address
    /// the account no longer has; [`AuthError::Invalid`] naming `email` when another account
    /// took the new address in the meantime.
    pub fn verify_email(&self, presented: &str, meta: &RequestMeta) -> Result<Verified, AuthError> {
        let token = SessionToken::parse(presented).ok_or(AuthError::InvalidToken)?;
        let hash = token.hash();
        let (record, user) =
            self.live_token(&hash, &[TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail])?;
        let email = record.email.clone().ok_or(AuthError::InvalidToken)?;
        let actor = Actor::User(user.id.into());
        let now = self.now();
        match record.purpose {
            TokenPurpose::ChangeEmail => {
                let parsed = Email::parse(&email).map_err(|_| AuthError::InvalidToken)?;
                let notice = self.sealed(&user.email, &user, AccountMail::EmailChanged, meta)?;
                let moved = self.store.change_email(
                    &hash,
                    user.id,
                    parsed.as_str(),
                    &email_canonical(&parsed),
                    now,
                    &notice,
                );
                match moved {
                    Ok(true) => {}
                    Ok(false) => return Err(AuthError::InvalidToken),
                    Err(StoreError::Conflict(UniqueField::Email)) => {
                        return Err(AuthError::Invalid(vec![problem(
                            "email",
                            "taken",
                            "another account has this address now".to_owned(),
                        )]));
                    }
                    Err(other) => return Err(other.into()),
                }
                self.audit.record(meta.audit(AuditEvent::EmailChanged, actor));
                Ok(Verified::NewAddress)
            }
            _ => {
                if email != user.email || !self.store.verify_email(&hash, user.id, &email, now)? {
                    return Err(AuthError::InvalidToken);
                }
                self.audit.record(meta.audit(AuditEvent::EmailVerified, actor));
                Ok(Verified::Address)
            }
        }
    }

    /// Checks the throttles of a request for a new verification link.
    ///
    /// # Errors
    /// [`AuthError::Throttled`].
    pub fn reserve_verification_resend(
        &self,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        self.reserve_mail_request("verify", email, meta)
    }

    /// Sends a new verification link to `email` if it is the unverified address of an enabled
    /// account; otherwise does nothing.
    ///
    /// # Errors
    /// Storage failures.
    pub fn resend_verification(&self, email: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let Ok(parsed) = Email::parse(email) else { return Ok(()) };
        let user = self.store.find_user(UserLookup::Email(&email_canonical(&parsed)))?;
        match user {
            Some(user) if !user.disabled && user.email_verified_at.is_none() => {
                self.send_verification(&user, meta)
            }
            _ => Ok(()),
        }
    }

    /// Starts moving the principal's account to `new_email`: a link to the new address (the
    /// address changes only when it is used) and a notice to the current one. When another
    /// account has the new address, nothing is sent to it and the answer is the same.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming `email` (malformed, or the account's address already).
    pub fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let parsed = Email::parse(new_email).map_err(|e| {
            AuthError::Invalid(vec![problem("email", "invalid_email", e.to_string())])
        })?;
        let key = email_canonical(&parsed);
        let user = &principal.user;
        if Email::parse(&user.email).is_ok_and(|current| email_canonical(&current) == key) {
            return Err(AuthError::Invalid(vec![problem(
                "email",
                "unchanged",
                "this is the account's address already".to_owned(),
            )]));
        }
        let actor = Actor::User(user.id.into());
        self.audit.record(meta.audit(AuditEvent::EmailChangeRequested, actor));
        if self.store.find_user(UserLookup::Email(&key))?.is_none() {
            self.issue_token(user, TokenPurpose::ChangeEmail, parsed.as_str(), meta)?;
        }
        let notice = AccountMail::EmailChangeRequested { new_email: parsed.as_str().to_owned() };
        self.notify(user, notice, meta);
        Ok(())
    }

    /// Removes an account's second factor for its owner who lost it (an administrator, or an
    /// operator with `server users reset-mfa`): the factor, pending enrollment and recovery
    /// codes go and every session of the account ends, in one transaction with the notice to
    /// its owner. `by` is the administrator, `None` for the command line. Returns how many
    /// sessions ended.
    ///
    /// # Errors
    /// [`AuthError::NotFound`]; [`AuthError::MfaNotEnabled`] when the account has no factor.
    pub fn reset_second_factor(
        &self,
        by: Option<&Principal>,
        target: UserId,
        meta: &RequestMeta,
    ) -> Result<u64, AuthError> {
        let user = self.store.find_user(UserLookup::Id(target))?.ok_or(AuthError::NotFound)?;
        let mail = AccountMail::SecondFactorRemoved { by_operator: true };
        let notice = self.sealed(&user.email, &user, mail, meta)?;
        let ended =
            self.store.reset_second_factor(target, &notice)?.ok_or(AuthError::MfaNotEnabled)?;
        let actor = by.map_or(Actor::Operator, |p| Actor::User(p.user.id.into()));
        let subject = Subject::User(target.into());
        self.audit.record(
            meta.audit(AuditEvent::SecondFactorReset, actor.clone()).subject(subject.clone()),
        );
        if ended > 0 {
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::ByAdministrator };
            self.audit.record(meta.audit(event, actor).subject(subject));
        }
        Ok(ended)
    }

    /// The account a user name or address names, if any.
    pub(super) fn find_by_identifier(
        &self,
        identifier: &str,
    ) -> Result<Option<UserRecord>, AuthError> {
        let (key, by_email) = super::login::canonical_identifier(identifier);
        Ok(match (key, by_email) {
            (Some(key), true) => self.store.find_user(UserLookup::Email(&key))?,
            (Some(key), false) => self.store.find_user(UserLookup::Username(&key))?,
            (None, _) => None,
        })
    }
}
