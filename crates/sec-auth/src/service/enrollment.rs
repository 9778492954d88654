//! Managing an account's second factor: status, TOTP enrollment and its confirmation, new
//! recovery codes, turning TOTP off.

use sec_audit::{Actor, AuditEvent, RevocationReason, Subject};
use sec_core::SecretString;
use secrecy::ExposeSecret;

use super::{Auth, Confirmed, FactorOutcome, Principal, RequestMeta, incorrect, problem};
use crate::error::AuthError;
use crate::lifecycle::AccountMail;
use crate::mfa::{Aal, MfaStatus, PendingTotp, Proof, SecondFactor, TotpEnrollment, TotpRecord};
use crate::recovery::{self, RecoveryCode};
use crate::store::Activation;
use crate::totp::{TotpSecret, qr_png_data_uri, qr_svg_data_uri};

impl Auth {
    /// The principal's MFA state.
    ///
    /// # Errors
    /// Storage failures.
    pub fn mfa_status(&self, principal: &Principal) -> Result<MfaStatus, AuthError> {
        let id = principal.user.id;
        let totp = self.store.totp_of(id)?;
        let pending = self.store.pending_totp_of(id)?;
        let now = self.now();
        Ok(MfaStatus {
            totp_enabled: totp.is_some(),
            enabled_at: totp.as_ref().map(|t| t.enabled_at),
            recovery_codes_left: if totp.is_some() {
                self.store.recovery_codes_left(id)?
            } else {
                0
            },
            enrollment_pending: pending.is_some_and(|p| now < p.expires_at),
        })
    }

    /// Starts a TOTP enrollment: a new 160-bit secret, sealed and stored as pending (an
    /// active factor stays in force until the new one is confirmed), handed out once as an
    /// `otpauth://` URI and QR codes. A change to factors: see
    /// [`Auth::require_factor_change`].
    ///
    /// # Errors
    /// [`AuthError::MfaUnavailable`] without a key for secrets at rest; the errors of
    /// [`Auth::require_factor_change`].
    pub fn begin_totp_enrollment(
        &self,
        principal: &Principal,
    ) -> Result<TotpEnrollment, AuthError> {
        self.require_factor_change(principal)?;
        let totp = self.totp()?;
        let user = &principal.user;
        let secret = TotpSecret::generate()?;
        let sealed_secret = self.seal_totp(user.id, &secret)?;
        let now = self.now();
        let expires_at = now.saturating_add(self.config.mfa.enrollment_ttl_secs);
        self.store.put_pending_totp(
            user.id,
            &PendingTotp { sealed_secret, created_at: now, expires_at },
        )?;
        let uri = totp.otpauth_uri(&secret, &self.config.mfa.issuer, &user.username);
        Ok(TotpEnrollment {
            qr_png: qr_png_data_uri(&uri)?,
            qr_svg: qr_svg_data_uri(&uri)?,
            otpauth_uri: uri,
            expires_at,
        })
    }

    /// Confirms a pending enrollment with a code from the new secret: it becomes the
    /// account's TOTP factor (replacing an earlier one), ten new recovery codes replace any
    /// earlier set, every other session of the account ends (none of them proved the new
    /// factor; one signed in with the password before the first enrollment must not outlive
    /// it), and this session gets a new token established with two factors. A change to
    /// factors: see [`Auth::require_factor_change`]. Codes are throttled like every second
    /// factor. Returns the recovery codes (shown once), the token and how many sessions ended.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] on `code`: `incorrect`, or `no_enrollment` when nothing is
    /// pending (or it expired); [`AuthError::Throttled`]; [`AuthError::MfaUnavailable`]; the
    /// errors of [`Auth::require_factor_change`].
    pub fn confirm_totp_enrollment(
        &self,
        principal: &Principal,
        code: &SecretString,
        meta: &RequestMeta,
    ) -> Result<Confirmed, AuthError> {
        let user = &principal.user;
        let no_enrollment = || {
            AuthError::Invalid(vec![problem(
                "code",
                "no_enrollment",
                "no enrollment is waiting for confirmation; start a new one".to_owned(),
            )])
        };
        let replaced = self.store.totp_of(user.id)?;
        if replaced.is_some() {
            self.require_second_factor_proof(principal)?;
        }
        self.require_recent_auth(principal)?;
        let now = self.now();
        let pending = self.store.pending_totp_of(user.id)?.ok_or_else(no_enrollment)?;
        if now >= pending.expires_at {
            return Err(no_enrollment());
        }
        let key = format!("mfa:user:{}", user.id);
        self.reserve_attempt(&key, Subject::User(user.id.into()), meta)?;
        let secret = self.open_totp(user.id, &pending.sealed_secret)?;
        let steps = self.totp()?.matching_steps(&secret, code.expose_secret(), now)?;
        let Some(&step) = steps.last() else {
            self.audit.record(meta.audit(AuditEvent::MfaFailed, Actor::User(user.id.into())));
            return Err(incorrect("code", "the code is not correct"));
        };
        self.store.throttle_success(&key, &meta.throttle_ip(), now)?;
        // The confirming code's step counts as used, so it cannot also sign in; a replaced
        // factor's last step is kept when later, so the account's steps only move forward.
        let last_step = replaced.as_ref().map_or(step, |old| old.last_step.max(step));
        let codes = recovery::generate_set()?;
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        let active =
            TotpRecord { sealed_secret: pending.sealed_secret.clone(), last_step, enabled_at: now };
        let activation = Activation {
            pending_sealed: &pending.sealed_secret,
            replacing: replaced.is_some(),
            active: &active,
            codes: &hashes,
            keep: principal.session.id,
            now,
        };
        // `None`: the enrollment was taken, or a factor appeared or went away since the check
        // above (the rule checked must be the rule applied).
        let ended = self.store.activate_totp(user.id, &activation)?.ok_or_else(no_enrollment)?;
        let actor = Actor::User(user.id.into());
        self.audit.record(meta.audit(AuditEvent::MfaEnrolled, actor.clone()));
        self.notify(user, AccountMail::SecondFactorAdded, meta);
        if ended > 0 {
            let event =
                AuditEvent::SessionRevoked { reason: RevocationReason::SecondFactorChanged };
            self.audit.record(meta.audit(event, actor).subject(Subject::User(user.id.into())));
        }
        let proof = Proof { at: now, aal: Aal::Two, second_factor: true };
        let token = self.replace_token(principal, proof)?;
        Ok(Confirmed { recovery_codes: codes, token, sessions_ended: ended })
    }

    /// Replaces the principal's recovery codes with ten new ones (the old set stops working
    /// at once). A change to factors: see [`Auth::require_factor_change`]. Returns the
    /// codes, shown once.
    ///
    /// # Errors
    /// [`AuthError::MfaNotEnabled`]; the errors of [`Auth::require_factor_change`].
    pub fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        self.require_factor_change(principal)?;
        let codes = recovery::generate_set()?;
        let hashes: Vec<_> = codes.iter().map(RecoveryCode::hash).collect();
        if !self.store.replace_recovery_codes(principal.user.id, &hashes, self.now())? {
            return Err(AuthError::MfaNotEnabled);
        }
        let actor = Actor::User(principal.user.id.into());
        self.audit.record(meta.audit(AuditEvent::RecoveryCodesRegenerated, actor));
        self.notify(&principal.user, AccountMail::RecoveryCodesRegenerated, meta);
        Ok(codes)
    }

    /// Turns TOTP off after checking a TOTP or recovery code: the factor, pending enrollment
    /// and recovery codes are deleted and every other session of the account ends, in one
    /// transaction. A change to factors: see [`Auth::require_factor_change`]. Returns how
    /// many sessions ended.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming `code` or `recovery_code`; [`AuthError::MfaNotEnabled`];
    /// [`AuthError::Throttled`]; the errors of [`Auth::require_factor_change`].
    pub fn disable_totp(
        &self,
        principal: &Principal,
        factor: &SecondFactor,
        meta: &RequestMeta,
    ) -> Result<u64, AuthError> {
        self.require_factor_change(principal)?;
        let field = match factor {
            SecondFactor::Totp(_) => "code",
            SecondFactor::RecoveryCode(_) => "recovery_code",
        };
        match self.verify_second_factor(&principal.user, factor, meta)? {
            FactorOutcome::Accepted => {}
            FactorOutcome::NotEnrolled => return Err(AuthError::MfaNotEnabled),
            FactorOutcome::Wrong | FactorOutcome::Replayed => {
                return Err(incorrect(field, "the code is not correct"));
            }
        }
        let ended = self
            .store
            .disable_totp(principal.user.id, principal.session.id)?
            .ok_or(AuthError::MfaNotEnabled)?;
        let actor = Actor::User(principal.user.id.into());
        self.audit.record(meta.audit(AuditEvent::MfaDisabled, actor.clone()));
        let removed = AccountMail::SecondFactorRemoved { by_operator: false };
        self.notify(&principal.user, removed, meta);
        if ended > 0 {
            let event =
                AuditEvent::SessionRevoked { reason: RevocationReason::SecondFactorChanged };
            self.audit
                .record(meta.audit(event, actor).subject(Subject::User(principal.user.id.into())));
        }
        Ok(ended)
    }
}
