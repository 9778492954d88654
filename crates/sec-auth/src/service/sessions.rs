//! Sessions: issuing them, checking a presented token (timeouts, privilege changes), and
//! ending them (logout, revocation, the per-account cap).

use sec_audit::{Actor, AuditEvent, AuditRecord, RevocationReason, Subject};

use super::{Auth, Authenticated, Principal, RequestMeta, cut};
use crate::account::{UserId, UserRecord};
use crate::error::AuthError;
use crate::mfa::Aal;
use crate::session::{SessionCheck, SessionId, SessionRecord};
use crate::store::{NewSession, SessionLookup};
use crate::token::{SessionToken, TokenHash};

/// Longest `User-Agent` kept with a session, in characters.
const USER_AGENT_MAX_CHARS: usize = 256;

impl Auth {
    pub(super) fn new_session(
        &self,
        user: &UserRecord,
        now: i64,
        aal: Aal,
        meta: &RequestMeta,
    ) -> Result<(SessionRecord, SessionToken), AuthError> {
        let token = SessionToken::generate()?;
        let record = SessionRecord {
            id: SessionId::random(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            authenticated_at: now,
            aal,
            second_factor_at: (aal == Aal::Two).then_some(now),
            privilege_epoch: user.privilege_epoch,
            ip: meta.ip.map(|ip| ip.to_string()),
            user_agent: meta.user_agent.as_deref().map(|ua| cut(ua, USER_AGENT_MAX_CHARS)),
        };
        Ok((record, token))
    }

    pub(super) fn issue_session(
        &self,
        user: &UserRecord,
        now: i64,
        aal: Aal,
        meta: &RequestMeta,
    ) -> Result<(SessionRecord, SessionToken), AuthError> {
        let (record, token) = self.new_session(user, now, aal, meta)?;
        let ended = self.store.create_session(&self.new_session_row(&record, &token.hash()))?;
        self.audit_session_limit(user.id, ended, meta);
        Ok((record, token))
    }

    pub(super) fn new_session_row<'a>(
        &self,
        record: &'a SessionRecord,
        token_hash: &'a TokenHash,
    ) -> NewSession<'a> {
        NewSession { record, token_hash, max_per_account: self.config.sessions.max_per_account }
    }

    /// Records that the per-account cap ended `ended` of the account's oldest sessions.
    pub(super) fn audit_session_limit(&self, user: UserId, ended: u64, meta: &RequestMeta) {
        if ended > 0 {
            tracing::info!(%user, ended, "session cap reached: the oldest sessions ended");
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::SessionLimit };
            self.audit.record(meta.audit(event, Actor::System).subject(Subject::User(user.into())));
        }
    }

    /// Checks a presented session token: it must name a stored session of an enabled account
    /// within both timeouts. Writes `last_seen_at` at most once per touch interval, and
    /// replaces the token when the account's privileges changed since it was issued.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`] for anything but a valid session.
    pub fn authenticate(&self, presented: &str) -> Result<Authenticated, AuthError> {
        let token = SessionToken::parse(presented).ok_or(AuthError::Unauthenticated)?;
        let hash = token.hash();
        let SessionLookup { mut session, user, roles } =
            self.store.session_by_token(&hash)?.ok_or(AuthError::Unauthenticated)?;
        let now = self.now();
        if user.disabled {
            self.store.delete_session(user.id, session.id)?;
            return Err(AuthError::Unauthenticated);
        }
        let touch = match self.config.sessions.check(&session, now) {
            SessionCheck::Expired(_) => {
                self.store.delete_session(user.id, session.id)?;
                let event = AuditEvent::SessionRevoked { reason: RevocationReason::Expired };
                self.audit.record(
                    AuditRecord::new(event, Actor::System).subject(Subject::User(user.id.into())),
                );
                return Err(AuthError::Unauthenticated);
            }
            SessionCheck::Valid { touch } => touch,
        };
        let mut reissued = None;
        let mut token_hash = hash.clone();
        if session.privilege_epoch != user.privilege_epoch {
            let fresh = SessionToken::generate()?;
            let swapped = self.store.reissue_session(
                session.id,
                &hash,
                &fresh.hash(),
                user.privilege_epoch,
                None,
                now,
            )?;
            if !swapped {
                // Another request replaced the token first: this one is already dead.
                return Err(AuthError::Unauthenticated);
            }
            session.privilege_epoch = user.privilege_epoch;
            session.last_seen_at = now;
            token_hash = fresh.hash();
            reissued = Some(fresh);
        } else if touch {
            self.store.touch_session(session.id, now)?;
            session.last_seen_at = now;
        }
        Ok(Authenticated { principal: Principal { session, user, roles, token_hash }, reissued })
    }

    /// Ends the principal's session.
    ///
    /// # Errors
    /// Storage failures.
    pub fn logout(&self, principal: &Principal, meta: &RequestMeta) -> Result<(), AuthError> {
        self.store.delete_session(principal.user.id, principal.session.id)?;
        self.audit.record(meta.audit(AuditEvent::Logout, Actor::User(principal.user.id.into())));
        Ok(())
    }

    /// The principal's sessions, newest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn sessions(&self, principal: &Principal) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self.store.sessions_of(principal.user.id)?)
    }

    /// Ends one of the principal's own sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] if it is not one of theirs.
    pub fn revoke_session(
        &self,
        principal: &Principal,
        id: SessionId,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        if !self.store.delete_session(principal.user.id, id)? {
            return Err(AuthError::NotFound);
        }
        let event = AuditEvent::SessionRevoked { reason: RevocationReason::ByOwner };
        self.audit.record(meta.audit(event, Actor::User(principal.user.id.into())));
        Ok(())
    }

    /// Ends every session of the principal except the current one; returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub fn revoke_other_sessions(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<u64, AuthError> {
        let ended = self.store.delete_sessions_of(principal.user.id, Some(principal.session.id))?;
        if ended > 0 {
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::ByOwner };
            self.audit.record(meta.audit(event, Actor::User(principal.user.id.into())));
        }
        Ok(ended)
    }
}
