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

use secrecy::ExposeSecret;
use secrecy::zeroize::Zeroizing;

use crate::account::{UserId, UserRecord, email_canonical};
use crate::clock::{Clock, unix_now};
use crate::error::{AuthError, FieldProblem};
use crate::hasher::CredentialHasher;
use crate::mfa::{
    Aal, MfaChallenge, MfaStatus, NoSealer, PendingTotp, Proof, SecondFactor, SecretSealer,
    TotpEnrollment, TotpRecord,
};
use crate::permission::{Permission, PermissionSet, ROLE_ADMIN, ROLE_USER, RoleName};
use crate::recovery::{self, RecoveryCode};
use crate::session::{SessionCheck, SessionId, SessionPolicy, SessionRecord};
use crate::store::{
    Activation, AuthStore, Change, NewAccount, NewSession, SessionLookup, StoreError, UniqueField,
    UserLookup,
};
use crate::throttle::{Decision, ThrottlePolicy};
use crate::token::{SessionToken, TokenHash};
use crate::totp::{Totp, TotpParams, TotpSecret, qr_png_data_uri, qr_svg_data_uri};

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
    /// Login throttling (passwords and second factors alike, on separate counters).
    pub throttle: ThrottlePolicy,
    /// New-password rules.
    pub password_policy: Arc<PasswordPolicy>,
    /// Words a password must not contain (the service's name, say).
    pub context_words: Vec<String>,
    /// Sensitive actions need an authentication at most this many seconds old (default 600).
    pub reauth_window_secs: i64,
    /// Permission routes (administration) need an active second factor and a session
    /// established with it (default true).
    pub admin_requires_mfa: bool,
    /// TOTP and the pending second-factor step.
    pub mfa: MfaPolicy,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            throttle: ThrottlePolicy::default(),
            password_policy: Arc::new(PasswordPolicy::default()),
            context_words: Vec::new(),
            reauth_window_secs: 600,
            admin_requires_mfa: true,
            mfa: MfaPolicy::default(),
        }
    }
}

/// TOTP parameters and the lifetimes of the MFA intermediate states.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// Code parameters (SHA-1, 6 digits, 30 s, ±1 step).
    pub totp: TotpParams,
    /// The issuer named in the enrollment URI (what the authenticator app shows).
    pub issuer: String,
    /// How long a password-verified login waits for its second factor (default 300 s).
    pub challenge_ttl_secs: i64,
    /// How long a new TOTP secret may wait for its confirming code (default 600 s).
    pub enrollment_ttl_secs: i64,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            totp: TotpParams::default(),
            issuer: "server".to_owned(),
            challenge_ttl_secs: 300,
            enrollment_ttl_secs: 600,
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

/// A signed-in user: the session and its account. Only [`Auth::authenticate`] makes one.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The session.
    pub session: SessionRecord,
    /// Its account.
    pub user: UserRecord,
    /// The hash of the token the request presented (or of its replacement), so that a
    /// re-authentication can replace exactly that token.
    token_hash: TokenHash,
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

/// The outcome of a correct password.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: a new session.
    Session(LoggedIn),
    /// The account has a second factor: no session yet, only a pending step that
    /// [`Auth::complete_mfa_login`] finishes.
    MfaRequired(MfaPending),
}

/// A login waiting for its second factor.
#[derive(Debug)]
pub struct MfaPending {
    /// The account.
    pub user: UserRecord,
    /// The pending step's token, for its own cookie. It is not a session token.
    pub token: SessionToken,
    /// Unix second from which it no longer works.
    pub expires_at: i64,
}

/// A confirmed TOTP enrollment.
pub struct Confirmed {
    /// The ten new recovery codes, shown once.
    pub recovery_codes: Vec<RecoveryCode>,
    /// The confirming session's new token (two factors).
    pub token: SessionToken,
    /// How many other sessions of the account ended.
    pub sessions_ended: u64,
}

impl std::fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmed")
            .field("sessions_ended", &self.sessions_ended)
            .finish_non_exhaustive()
    }
}

/// What a signed-in user presents to re-authenticate.
pub enum Reauthentication {
    /// The account password.
    Password(SecretString),
    /// A second factor: a TOTP code or an unused recovery code.
    SecondFactor(SecondFactor),
}

impl std::fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Reauthentication::Password([REDACTED])"),
            Self::SecondFactor(factor) => write!(f, "Reauthentication::SecondFactor({factor:?})"),
        }
    }
}

/// How a second factor fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactorOutcome {
    Accepted,
    Wrong,
    /// A correct TOTP code for a step already accepted (or older than one).
    Replayed,
    /// The account has no active TOTP factor.
    NotEnrolled,
}

/// The rules.
pub struct Auth {
    store: Arc<dyn AuthStore>,
    hasher: Arc<dyn CredentialHasher>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    sealer: Arc<dyn SecretSealer>,
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
        Self { store, hasher, clock, audit, sealer: Arc::new(NoSealer), config }
    }

    /// Seals TOTP secrets at rest with `sealer`. Without one, MFA is unavailable
    /// ([`AuthError::MfaUnavailable`]) rather than stored in the clear.
    #[must_use]
    pub fn with_sealer(mut self, sealer: Arc<dyn SecretSealer>) -> Self {
        self.sealer = sealer;
        self
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

    /// Checks a second factor for `user`, throttled on the counters of subject
    /// `mfa:user:<id>`: a TOTP code whose step is later than the last one accepted (the step is
    /// then recorded, atomically), or a recovery code (then deleted). Failures and replays are
    /// audited.
    fn verify_second_factor(
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

    fn totp(&self) -> Result<Totp, AuthError> {
        Ok(Totp::new(self.config.mfa.totp)?)
    }

    /// The sealed plaintext binds the secret to its account (`totp1:<user id>:<secret>`), so
    /// a sealed value copied into another account's row does not open there.
    fn seal_totp(&self, user: UserId, secret: &TotpSecret) -> Result<String, AuthError> {
        let mut plaintext = Zeroizing::new(format!("totp1:{user}:").into_bytes());
        plaintext.extend_from_slice(secret.expose());
        Ok(self.sealer.seal(&plaintext)?)
    }

    /// Opens a sealed secret of `user`; one sealed with an older key is sealed again with the
    /// newest (a failure there is only logged: the old value still opens).
    fn open_totp(&self, user: UserId, sealed: &str) -> Result<TotpSecret, AuthError> {
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

    fn reserve_attempt(
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

    fn new_session(
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

    fn issue_session(
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

    fn new_session_row<'a>(
        &self,
        record: &'a SessionRecord,
        token_hash: &'a TokenHash,
    ) -> NewSession<'a> {
        NewSession { record, token_hash, max_per_account: self.config.sessions.max_per_account }
    }

    /// Records that the per-account cap ended `ended` of the account's oldest sessions.
    fn audit_session_limit(&self, user: UserId, ended: u64, meta: &RequestMeta) {
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

    /// Clears an account's login-failure counters (password and second factor, from every
    /// address), so that any back-off or hard limit on it ends at once; addresses it signed
    /// in from stay known. `by` is the administrator doing it, `None` for an operator at the
    /// command line. Audited (also when nothing was counted). Returns how many counters held
    /// failures.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub fn clear_login_failures(
        &self,
        by: Option<&Principal>,
        target: UserId,
        meta: &RequestMeta,
    ) -> Result<u64, AuthError> {
        self.store.find_user(UserLookup::Id(target))?.ok_or(AuthError::NotFound)?;
        let password = format!("user:{target}");
        let second_factor = format!("mfa:user:{target}");
        let counters = self.store.throttle_clear(&[&password, &second_factor])?;
        let actor = by.map_or(Actor::System, |p| Actor::User(p.user.id.into()));
        let event = AuditEvent::LoginFailuresCleared { counters };
        self.audit.record(meta.audit(event, actor).subject(Subject::User(target.into())));
        tracing::info!(user = %target, counters, "login-failure counters cleared");
        Ok(counters)
    }

    /// The id of the account with this user name (compared in canonical form).
    ///
    /// # Errors
    /// [`AuthError::NotFound`], also for a name that is not a valid user name.
    pub fn user_id_by_username(&self, username: &str) -> Result<UserId, AuthError> {
        let name = Username::parse(username).map_err(|_| AuthError::NotFound)?;
        let user = self.store.find_user(UserLookup::Username(name.canonical()))?;
        user.map(|u| u.id).ok_or(AuthError::NotFound)
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

    fn require_second_factor_proof(&self, principal: &Principal) -> Result<(), AuthError> {
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
    fn replace_token(
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
        if ended > 0 {
            let event =
                AuditEvent::SessionRevoked { reason: RevocationReason::SecondFactorChanged };
            self.audit
                .record(meta.audit(event, actor).subject(Subject::User(principal.user.id.into())));
        }
        Ok(ended)
    }
}

fn incorrect(field: &'static str, message: &str) -> AuthError {
    AuthError::Invalid(vec![problem(field, "incorrect", message.to_owned())])
}

fn not_enrolled(field: &'static str) -> AuthError {
    AuthError::Invalid(vec![problem(
        field,
        "mfa_not_enabled",
        "this account has no authenticator app enrolled".to_owned(),
    )])
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
