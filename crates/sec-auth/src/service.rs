//! The rules, over an [`AuthStore`], a [`CredentialHasher`], a [`Clock`] and an [`AuditSink`].
//!
//! Every method blocks (storage and hashing): the app calls them on its blocking thread pool.

use std::net::IpAddr;
use std::sync::Arc;

use sec_audit::{
    Actor, AuditEvent, AuditRecord, Label, LoginFailure, RequestId, RevocationReason, Subject,
    UserText,
};
use sec_core::{Email, Password, PasswordContext, PasswordPolicy, SecretString, Username};

use crate::account::{UserId, UserRecord, email_canonical};
use crate::clock::{Clock, unix_now};
use crate::error::{AuthError, FieldProblem};
use crate::hasher::CredentialHasher;
use crate::permission::{Permission, PermissionSet, ROLE_ADMIN, ROLE_USER, RoleName};
use crate::session::{SessionCheck, SessionId, SessionPolicy, SessionRecord};
use crate::store::{
    AuthStore, Change, NewAccount, NewSession, SessionLookup, StoreError, UniqueField, UserLookup,
};
use crate::throttle::{Decision, ThrottlePolicy};
use crate::token::SessionToken;

/// Longest `User-Agent` kept with a session, in characters.
const USER_AGENT_MAX_CHARS: usize = 256;
/// Longest identifier kept as a throttle key for a name that matches no account.
const THROTTLE_NAME_MAX_CHARS: usize = 256;

/// Where audit events go. The app writes them to its hash-chained trail.
pub trait AuditSink: Send + Sync {
    /// Records one event. Implementations must not fail the caller: a write failure is
    /// theirs to report.
    fn record(&self, record: AuditRecord);
}

/// What the rules know about the request they serve.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The client's address, as the app determined it.
    pub ip: Option<IpAddr>,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
    /// The request id, for audit records.
    pub request_id: Option<String>,
}

impl RequestMeta {
    fn throttle_ip(&self) -> String {
        self.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    fn audit(&self, event: AuditEvent, actor: Actor) -> AuditRecord {
        let mut record = AuditRecord::new(event, actor);
        if let Some(ip) = self.ip {
            record = record.source_ip(ip);
        }
        if let Some(id) = self.request_id.as_deref().and_then(RequestId::new) {
            record = record.request_id(id);
        }
        record
    }
}

/// Tunable parts of the rules.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Session lifetimes.
    pub sessions: SessionPolicy,
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// New-password rules.
    pub password_policy: Arc<PasswordPolicy>,
    /// Words a password must not contain (the service's name, say).
    pub context_words: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            throttle: ThrottlePolicy::default(),
            password_policy: Arc::new(PasswordPolicy::default()),
            context_words: Vec::new(),
        }
    }
}

/// Input of a registration.
#[derive(Debug)]
pub struct Registration<'a> {
    /// Wanted user name.
    pub username: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Wanted password.
    pub password: &'a SecretString,
}

/// A signed-in user: the session and its account.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The session.
    pub session: SessionRecord,
    /// Its account.
    pub user: UserRecord,
    /// The account's roles when the request was authenticated, sorted.
    pub roles: Vec<String>,
}

/// A request's session, checked.
#[derive(Debug)]
pub struct Authenticated {
    /// Who.
    pub principal: Principal,
    /// A replacement token the client must store (its privileges changed since the token was
    /// issued; the old token no longer works).
    pub reissued: Option<SessionToken>,
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    /// The account.
    pub user: UserRecord,
    /// The new session.
    pub session: SessionRecord,
    /// Its token, for the cookie.
    pub token: SessionToken,
}

/// The rules.
pub struct Auth {
    store: Arc<dyn AuthStore>,
    hasher: Arc<dyn CredentialHasher>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    config: AuthConfig,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Auth {
    /// The rules over these parts.
    pub fn new(
        store: Arc<dyn AuthStore>,
        hasher: Arc<dyn CredentialHasher>,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn AuditSink>,
        config: AuthConfig,
    ) -> Self {
        Self { store, hasher, clock, audit, config }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The current time in Unix seconds, from the injected clock.
    pub fn now(&self) -> i64 {
        unix_now(self.clock.as_ref())
    }

    /// Creates an account with the least-privileged role.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming each rejected field, including a taken user name or
    /// e-mail address.
    pub fn register(
        &self,
        input: &Registration<'_>,
        meta: &RequestMeta,
    ) -> Result<UserRecord, AuthError> {
        let user = self.create_account(input, ROLE_USER)?;
        let actor = Actor::User(user.id.into());
        self.audit.record(
            meta.audit(AuditEvent::AccountCreated, actor).subject(Subject::User(user.id.into())),
        );
        Ok(user)
    }

    /// Creates an account holding the admin role (the `users create-admin` command).
    ///
    /// # Errors
    /// As [`Auth::register`].
    pub fn create_admin(&self, input: &Registration<'_>) -> Result<UserRecord, AuthError> {
        let user = self.create_account(input, ROLE_ADMIN)?;
        let subject = Subject::User(user.id.into());
        self.audit.record(
            AuditRecord::new(AuditEvent::AccountCreated, Actor::System).subject(subject.clone()),
        );
        let role = Label::lossy(ROLE_ADMIN);
        self.audit.record(
            AuditRecord::new(AuditEvent::RoleGranted { role }, Actor::System).subject(subject),
        );
        Ok(user)
    }

    fn create_account(
        &self,
        input: &Registration<'_>,
        role: &str,
    ) -> Result<UserRecord, AuthError> {
        let mut problems = Vec::new();
        let username = Username::parse(input.username)
            .map_err(|e| problems.push(problem("username", "invalid_username", e.to_string())))
            .ok();
        let email = Email::parse(input.email)
            .map_err(|e| problems.push(problem("email", "invalid_email", e.to_string())))
            .ok();
        let password = self.check_new_password(
            "password",
            input.password,
            username.as_ref(),
            email.as_ref(),
            &mut problems,
        );
        let (Some(username), Some(email), Some(password), true) =
            (username, email, password, problems.is_empty())
        else {
            return Err(AuthError::Invalid(problems));
        };
        let hash = self.hasher.hash(&password)?;
        let now = self.now();
        let email_key = email_canonical(&email);
        let account = NewAccount {
            id: UserId::random(),
            username: username.as_str(),
            username_canonical: username.canonical(),
            email: email.as_str(),
            email_canonical: &email_key,
            password_hash: hash.as_str(),
            role,
            now,
        };
        match self.store.create_user(&account) {
            Ok(()) => {}
            Err(StoreError::Conflict(UniqueField::Username)) => {
                return Err(AuthError::Invalid(vec![problem(
                    "username",
                    "taken",
                    "this user name is taken".to_owned(),
                )]));
            }
            Err(StoreError::Conflict(UniqueField::Email)) => {
                return Err(AuthError::Invalid(vec![problem(
                    "email",
                    "taken",
                    "an account with this e-mail address exists".to_owned(),
                )]));
            }
            Err(other) => return Err(other.into()),
        }
        Ok(UserRecord {
            id: account.id,
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash: hash.into_string(),
            disabled: false,
            privilege_epoch: 0,
            created_at: now,
            updated_at: now,
        })
    }

    fn check_new_password(
        &self,
        field: &'static str,
        candidate: &SecretString,
        username: Option<&Username>,
        email: Option<&Email>,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<Password> {
        let words: Vec<&str> = self.config.context_words.iter().map(String::as_str).collect();
        let mut context = PasswordContext::new().with_words(&words);
        if let Some(u) = username {
            context = context.with_username(u);
        }
        if let Some(e) = email {
            context = context.with_email(e);
        }
        match Password::new(candidate.clone(), &self.config.password_policy, &context) {
            Ok(p) => Some(p),
            Err(rejected) => {
                problems.extend(
                    rejected.violations().iter().map(|v| problem(field, v.code(), v.to_string())),
                );
                None
            }
        }
    }

    /// Logs in by user name or e-mail address.
    ///
    /// Unknown account, wrong password and disabled account give the same
    /// [`AuthError::InvalidCredentials`] after the same work (one Argon2 verification, a
    /// dummy one for an unknown account). `previous` is the session token the client already
    /// held, if any: that session is ended, so no token from before the login survives it.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::Throttled`], [`AuthError::Busy`].
    pub fn login(
        &self,
        identifier: &str,
        password: &SecretString,
        previous: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<LoggedIn, AuthError> {
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
        if let Some(previous) = previous {
            self.end_presented_session(previous);
        }
        let (session, token) = self.issue_session(&user, now, meta)?;
        self.audit.record(meta.audit(AuditEvent::LoginSucceeded, Actor::User(user.id.into())));
        Ok(LoggedIn { user, session, token })
    }

    fn reserve_attempt(
        &self,
        key: &str,
        subject: Subject,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let policy = self.config.throttle;
        let decision = self
            .store
            .throttle_reserve(key, &meta.throttle_ip(), now, &|view| policy.decide(view, now))?;
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

    fn issue_session(
        &self,
        user: &UserRecord,
        now: i64,
        meta: &RequestMeta,
    ) -> Result<(SessionRecord, SessionToken), AuthError> {
        let token = SessionToken::generate()?;
        let record = SessionRecord {
            id: SessionId::random(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            authenticated_at: now,
            privilege_epoch: user.privilege_epoch,
            ip: meta.ip.map(|ip| ip.to_string()),
            user_agent: meta.user_agent.as_deref().map(|ua| cut(ua, USER_AGENT_MAX_CHARS)),
        };
        self.store.create_session(&NewSession { record: &record, token_hash: &token.hash() })?;
        Ok((record, token))
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
            reissued = Some(fresh);
        } else if touch {
            self.store.touch_session(session.id, now)?;
            session.last_seen_at = now;
        }
        Ok(Authenticated { principal: Principal { session, user, roles }, reissued })
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

    /// Changes the password: checks the current one (throttled like a login), checks the new
    /// one against the policy, stores its hash, ends every other session and gives this one a
    /// new token, all in one transaction. Returns the new token.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a wrong current password (`current_password`) or a refused
    /// new one (`new_password`); [`AuthError::Throttled`].
    pub fn change_password(
        &self,
        principal: &Principal,
        current: &SecretString,
        new: &SecretString,
        meta: &RequestMeta,
    ) -> Result<SessionToken, AuthError> {
        let user = &principal.user;
        let username = Username::parse(&user.username).ok();
        let email = Email::parse(&user.email).ok();
        let mut problems = Vec::new();
        let password = self.check_new_password(
            "new_password",
            new,
            username.as_ref(),
            email.as_ref(),
            &mut problems,
        );
        let Some(password) = password else {
            return Err(AuthError::Invalid(problems));
        };
        let actor = Actor::User(user.id.into());
        let throttle_key = format!("user:{}", user.id);
        self.reserve_attempt(&throttle_key, Subject::User(user.id.into()), meta)?;
        if self.hasher.verify(current, &user.password_hash)?.is_none() {
            let event = AuditEvent::LoginFailed { reason: LoginFailure::BadPassword };
            self.audit.record(meta.audit(event, actor));
            return Err(AuthError::Invalid(vec![problem(
                "current_password",
                "incorrect",
                "the current password is not correct".to_owned(),
            )]));
        }
        let now = self.now();
        self.store.throttle_success(&throttle_key, &meta.throttle_ip(), now)?;
        let hash = self.hasher.hash(&password)?;
        let token = SessionToken::generate()?;
        let ended = self.store.change_password(
            user.id,
            hash.as_str(),
            now,
            principal.session.id,
            &token.hash(),
        )?;
        self.audit.record(meta.audit(AuditEvent::PasswordChanged, actor.clone()));
        if ended > 0 {
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::PasswordChanged };
            self.audit.record(meta.audit(event, actor).subject(Subject::User(user.id.into())));
        }
        Ok(token)
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

    /// The permissions of an account.
    ///
    /// # Errors
    /// Storage failures.
    pub fn permissions(&self, user: UserId) -> Result<PermissionSet, AuthError> {
        Ok(self.store.permissions_of(user)?)
    }

    /// The roles of an account.
    ///
    /// # Errors
    /// Storage failures.
    pub fn roles(&self, user: UserId) -> Result<Vec<String>, AuthError> {
        Ok(self.store.roles_of(user)?)
    }

    /// Checks that the principal holds `permission`; a refusal is audited.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`].
    pub fn require(
        &self,
        principal: &Principal,
        permission: Permission,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        if self.store.permissions_of(principal.user.id)?.contains(permission) {
            return Ok(());
        }
        let event = AuditEvent::PermissionDenied { permission: Label::lossy(permission.as_str()) };
        self.audit.record(meta.audit(event, Actor::User(principal.user.id.into())));
        Err(AuthError::Forbidden)
    }

    /// A page of accounts with their roles.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<(UserRecord, Vec<String>)>, AuthError> {
        Ok(self.store.list_users(offset, limit)?)
    }

    /// One account with its roles.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub fn user(&self, id: UserId) -> Result<(UserRecord, Vec<String>), AuthError> {
        let user = self.store.find_user(UserLookup::Id(id))?.ok_or(AuthError::NotFound)?;
        let roles = self.store.roles_of(id)?;
        Ok((user, roles))
    }

    /// Disables (ending its sessions at once) or re-enables an account.
    ///
    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`].
    pub fn set_disabled(
        &self,
        actor: &Principal,
        target: UserId,
        disabled: bool,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        match self.store.set_disabled(target, disabled, self.now())? {
            Change::Done => {
                let event = if disabled {
                    AuditEvent::AccountLocked { for_secs: None }
                } else {
                    AuditEvent::AccountUnlocked
                };
                let actor = Actor::User(actor.user.id.into());
                self.audit.record(meta.audit(event, actor).subject(Subject::User(target.into())));
                Ok(())
            }
            Change::Unchanged => Ok(()),
            Change::LastAdmin => Err(AuthError::LastAdmin),
            Change::NotFound => Err(AuthError::NotFound),
        }
    }

    /// Grants a role. The account's sessions get new tokens on their next request.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown account or role.
    pub fn grant_role(
        &self,
        actor: &Principal,
        target: UserId,
        role: &RoleName,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let change = self.store.grant_role(target, role.as_str(), self.now())?;
        self.role_change(actor, target, role, change, true, meta)
    }

    /// Revokes a role. The account's sessions get new tokens on their next request.
    ///
    /// # Errors
    /// [`AuthError::NotFound`], [`AuthError::LastAdmin`].
    pub fn revoke_role(
        &self,
        actor: &Principal,
        target: UserId,
        role: &RoleName,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let change = self.store.revoke_role(target, role.as_str(), self.now())?;
        self.role_change(actor, target, role, change, false, meta)
    }

    fn role_change(
        &self,
        actor: &Principal,
        target: UserId,
        role: &RoleName,
        change: Change,
        granted: bool,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        match change {
            Change::Done => {
                let role = Label::lossy(role.as_str());
                let event = if granted {
                    AuditEvent::RoleGranted { role }
                } else {
                    AuditEvent::RoleRevoked { role }
                };
                let actor = Actor::User(actor.user.id.into());
                self.audit.record(meta.audit(event, actor).subject(Subject::User(target.into())));
                Ok(())
            }
            Change::Unchanged => Ok(()),
            Change::LastAdmin => Err(AuthError::LastAdmin),
            Change::NotFound => Err(AuthError::NotFound),
        }
    }
}

fn problem(field: &'static str, code: &'static str, message: String) -> FieldProblem {
    FieldProblem { field, code, message }
}

/// The lookup key of a login identifier and whether it is an e-mail address; `None` when it
/// is neither a valid user name nor a valid address (no account can match it).
fn canonical_identifier(identifier: &str) -> (Option<String>, bool) {
    if identifier.contains('@') {
        (Email::parse(identifier).ok().map(|e| email_canonical(&e)), true)
    } else {
        (Username::parse(identifier).ok().map(|u| u.canonical().to_owned()), false)
    }
}

/// `s` cut to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
