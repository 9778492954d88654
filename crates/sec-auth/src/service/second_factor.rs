//! Checking a presented second factor: TOTP codes (each time step accepted once per account),
//! one-time recovery codes, and the sealing of TOTP secrets at rest.

use sec_audit::{Actor, AuditEvent, Subject};
use sec_core::SecretString;
use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;

use super::{Auth, FactorOutcome, RequestMeta};
use crate::account::{UserId, UserRecord};
use crate::error::AuthError;
use crate::mfa::SecondFactor;
use crate::recovery::RecoveryCode;
use crate::totp::{Totp, TotpSecret};

impl Auth {
    /// Checks a second factor for `user`, throttled on the counters of subject
    /// `mfa:user:<id>`: a TOTP code whose step is later than the last one accepted (the step is
    /// then recorded, atomically), or a recovery code (then deleted). Failures and replays are
    /// audited.
    pub(super) fn verify_second_factor(
        &self,
        user: &UserRecord,
        factor: &SecondFactor,
        meta: &RequestMeta,
    ) -> Result<FactorOutcome, AuthError> {
        let key = format!("mfa:user:{}", user.id);
        let subject = Subject::User(user.id.into());
        self.reserve_attempt(&key, subject.clone(), meta)?;
        let outcome = match factor {
            SecondFactor::Totp(code) => self.verify_totp(user.id, code.expose_secret())?,
            SecondFactor::RecoveryCode(code) => self.spend_recovery_code(user.id, code, meta)?,
        };
        let actor = Actor::User(user.id.into());
        match outcome {
            FactorOutcome::Accepted => {
                self.store.throttle_success(&key, &meta.throttle_ip(), self.now())?;
            }
            FactorOutcome::Replayed => {
                self.audit.record(meta.audit(AuditEvent::TotpReplayRejected, actor));
            }
            FactorOutcome::Wrong | FactorOutcome::NotEnrolled => {
                self.audit.record(meta.audit(AuditEvent::MfaFailed, actor));
            }
        }
        Ok(outcome)
    }

    fn verify_totp(&self, user: UserId, code: &str) -> Result<FactorOutcome, AuthError> {
        let Some(record) = self.store.totp_of(user)? else {
            return Ok(FactorOutcome::NotEnrolled);
        };
        let secret = self.open_totp(user, &record.sealed_secret)?;
        let steps = self.totp()?.matching_steps(&secret, code, self.now())?;
        // The latest matching step that is later than the last accepted one; a code whose
        // steps are all at or before it is a replay (or a code older than one already used).
        let Some(&step) = steps.iter().rev().find(|s| **s > record.last_step) else {
            return Ok(if steps.is_empty() {
                FactorOutcome::Wrong
            } else {
                FactorOutcome::Replayed
            });
        };
        if !self.store.accept_totp_step(user, step)? {
            // Another request accepted this step (or a later one) between the read and now.
            return Ok(FactorOutcome::Replayed);
        }
        Ok(FactorOutcome::Accepted)
    }

    fn spend_recovery_code(
        &self,
        user: UserId,
        typed: &SecretString,
        meta: &RequestMeta,
    ) -> Result<FactorOutcome, AuthError> {
        let Some(code) = RecoveryCode::parse(typed.expose_secret()) else {
            return Ok(FactorOutcome::Wrong);
        };
        if self.store.totp_of(user)?.is_none() {
            return Ok(FactorOutcome::NotEnrolled);
        }
        if !self.store.use_recovery_code(user, &code.hash())? {
            return Ok(FactorOutcome::Wrong);
        }
        let remaining = self.store.recovery_codes_left(user)?;
        let event = AuditEvent::RecoveryCodeUsed { remaining };
        self.audit.record(meta.audit(event, Actor::User(user.into())));
        Ok(FactorOutcome::Accepted)
    }

    pub(super) fn totp(&self) -> Result<Totp, AuthError> {
        Ok(Totp::new(self.config.mfa.totp)?)
    }

    /// The sealed plaintext binds the secret to its account (`totp1:<user id>:<secret>`), so
    /// a sealed value copied into another account's row does not open there.
    pub(super) fn seal_totp(&self, user: UserId, secret: &TotpSecret) -> Result<String, AuthError> {
        let mut plaintext = Zeroizing::new(format!("totp1:{user}:").into_bytes());
        plaintext.extend_from_slice(secret.expose());
        Ok(self.sealer.seal(&plaintext)?)
    }

    /// Opens a sealed secret of `user`; one sealed with an older key is sealed again with the
    /// newest (a failure there is only logged: the old value still opens).
    pub(super) fn open_totp(&self, user: UserId, sealed: &str) -> Result<TotpSecret, AuthError> {
        let opened = self.sealer.open(sealed)?;
        let prefix = format!("totp1:{user}:");
        let secret = opened
            .plaintext
            .expose_secret()
            .strip_prefix(prefix.as_bytes())
            .map(|raw| TotpSecret::from_bytes(raw.to_vec()))
            .ok_or(AuthError::Internal("a stored TOTP secret belongs to another account"))?;
        if opened.stale {
            let resealed = self
                .seal_totp(user, &secret)
                .and_then(|new| Ok(self.store.reseal_totp(user, sealed, &new)?));
            match resealed {
                Ok(_) => tracing::info!(%user, "TOTP secret sealed again with the newest MFA key"),
                Err(e) => tracing::warn!(%user, error = %e, "could not reseal a TOTP secret"),
            }
        }
        Ok(secret)
    }
}
