//! Step-up: what a sensitive action demands of a session (a recent authentication, a second
//! factor) and the re-authentication that provides it.

use sec_audit::{Actor, AuditEvent, LoginFailure, Subject};

use super::{Auth, FactorOutcome, Principal, Reauthentication, RequestMeta, incorrect, problem};
use crate::error::AuthError;
use crate::mfa::{Aal, Proof, SecondFactor};
use crate::token::SessionToken;

impl Auth {
    /// Refuses a principal whose last authentication (login, re-authentication) is older
    /// than the re-authentication window: sensitive actions need a fresh proof.
    ///
    /// # Errors
    /// [`AuthError::ReauthRequired`].
    pub fn require_recent_auth(&self, principal: &Principal) -> Result<(), AuthError> {
        let age = self.now().saturating_sub(principal.session.authenticated_at);
        if age <= self.config.reauth_window_secs { Ok(()) } else { Err(AuthError::ReauthRequired) }
    }

    /// With `admin_requires_mfa` on, refuses a principal whose account has no active second
    /// factor or whose session was not established (or re-authenticated) with it.
    ///
    /// # Errors
    /// [`AuthError::MfaRequired`].
    pub fn require_admin_mfa(&self, principal: &Principal) -> Result<(), AuthError> {
        if !self.config.admin_requires_mfa {
            return Ok(());
        }
        let enrolled = self.store.totp_of(principal.user.id)?.is_some();
        if enrolled && principal.session.aal == Aal::Two {
            return Ok(());
        }
        tracing::info!(
            user = %principal.user.id,
            enrolled,
            "administration refused: the session lacks a second factor"
        );
        Err(AuthError::MfaRequired)
    }

    /// Refuses a change to the principal's factors (a new enrollment or its confirmation,
    /// new recovery codes, turning TOTP off) unless this session may make it: the last
    /// authentication is within the re-authentication window and, once the account has a
    /// second factor, the session holds two factors and proved the second one within the
    /// window. A password alone never changes an existing factor: not a session signed in
    /// before the enrollment, and not a password re-authentication.
    ///
    /// # Errors
    /// [`AuthError::MfaRequired`] when the account has a factor and this session has no
    /// recent proof of it (re-authenticate with a TOTP or recovery code);
    /// [`AuthError::ReauthRequired`] when the account has none and the last authentication
    /// is too old.
    pub fn require_factor_change(&self, principal: &Principal) -> Result<(), AuthError> {
        if self.store.totp_of(principal.user.id)?.is_some() {
            self.require_second_factor_proof(principal)?;
        }
        self.require_recent_auth(principal)
    }

    pub(super) fn require_second_factor_proof(
        &self,
        principal: &Principal,
    ) -> Result<(), AuthError> {
        let session = &principal.session;
        let recent = session
            .second_factor_at
            .is_some_and(|at| self.now().saturating_sub(at) <= self.config.reauth_window_secs);
        if session.aal == Aal::Two && recent {
            return Ok(());
        }
        tracing::info!(
            user = %principal.user.id,
            aal = session.aal.as_i64(),
            "factor change refused: no recent second-factor proof in this session"
        );
        Err(AuthError::MfaRequired)
    }

    /// Proves the principal's identity again (step-up): with the password, or with a second
    /// factor, a TOTP or recovery code (which also raises the session to two factors and
    /// counts as the recent second-factor proof that changes to factors need). Throttled on
    /// the same counters as the password and second factor elsewhere. The session gets a new
    /// token and a new authentication time, returned with its new state.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming `password`, `code` or `recovery_code` (`incorrect`, or
    /// `mfa_not_enabled` for a code without TOTP); [`AuthError::Throttled`];
    /// [`AuthError::Unauthenticated`] when the session ended meanwhile.
    pub fn reauthenticate(
        &self,
        principal: &Principal,
        proof: &Reauthentication,
        meta: &RequestMeta,
    ) -> Result<(SessionToken, Proof), AuthError> {
        let user = &principal.user;
        let (aal, second_factor) = match proof {
            Reauthentication::Password(password) => {
                let key = format!("user:{}", user.id);
                self.reserve_attempt(&key, Subject::User(user.id.into()), meta)?;
                if self.hasher.verify(password, &user.password_hash)?.is_none() {
                    let event = AuditEvent::LoginFailed { reason: LoginFailure::BadPassword };
                    self.audit.record(meta.audit(event, Actor::User(user.id.into())));
                    return Err(incorrect("password", "the password is not correct"));
                }
                self.store.throttle_success(&key, &meta.throttle_ip(), self.now())?;
                (principal.session.aal, false)
            }
            Reauthentication::SecondFactor(factor) => {
                let field = match factor {
                    SecondFactor::Totp(_) => "code",
                    SecondFactor::RecoveryCode(_) => "recovery_code",
                };
                match self.verify_second_factor(user, factor, meta)? {
                    FactorOutcome::Accepted => (Aal::Two, true),
                    FactorOutcome::NotEnrolled => return Err(not_enrolled(field)),
                    FactorOutcome::Wrong | FactorOutcome::Replayed => {
                        return Err(incorrect(field, "the code is not correct"));
                    }
                }
            }
        };
        let proof = Proof { at: self.now(), aal, second_factor };
        let token = self.replace_token(principal, proof)?;
        self.audit.record(meta.audit(AuditEvent::Reauthenticated, Actor::User(user.id.into())));
        Ok((token, proof))
    }

    /// Gives the principal's session a new token carrying `proof`.
    pub(super) fn replace_token(
        &self,
        principal: &Principal,
        proof: Proof,
    ) -> Result<SessionToken, AuthError> {
        let token = SessionToken::generate()?;
        let swapped = self.store.reissue_session(
            principal.session.id,
            &principal.token_hash,
            &token.hash(),
            principal.session.privilege_epoch,
            Some(proof),
            proof.at,
        )?;
        if !swapped {
            return Err(AuthError::Unauthenticated);
        }
        Ok(token)
    }
}

fn not_enrolled(field: &'static str) -> AuthError {
    AuthError::Invalid(vec![problem(
        field,
        "mfa_not_enabled",
        "this account has no authenticator app enrolled".to_owned(),
    )])
}
