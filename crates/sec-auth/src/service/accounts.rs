//! Accounts and their passwords: registration, the first administrator, password changes.

use sec_audit::{Actor, AuditEvent, AuditRecord, Label, LoginFailure, RevocationReason, Subject};
use sec_core::{Email, Password, PasswordContext, SecretString, Username};

use super::{Auth, Principal, Registered, Registration, RequestMeta, problem};
use crate::account::{UserId, UserRecord, email_canonical};
use crate::error::{AuthError, FieldProblem};
use crate::lifecycle::AccountMail;
use crate::permission::{ROLE_ADMIN, ROLE_USER};
use crate::store::{NewAccount, StoreError, UniqueField};
use crate::token::SessionToken;

impl Auth {
    /// Creates an account with the least-privileged role and sends the link that verifies its
    /// address. When the address already has an account, no account is made and its owner is
    /// told instead ([`Registered::AddressInUse`]), after the same work (the password is
    /// hashed either way): the app gives both the same answer, so registration does not tell
    /// who has an account. User names stay unique and a taken one is named (docs/auth.md).
    ///
    /// # Errors
    /// [`AuthError::Invalid`] naming each rejected field, including a taken user name.
    pub fn register(
        &self,
        input: &Registration<'_>,
        meta: &RequestMeta,
    ) -> Result<Registered, AuthError> {
        let user = match self.create_account(input, ROLE_USER, false) {
            Ok(user) => user,
            Err(Refused::AddressInUse(email_key)) => {
                self.address_in_use(&email_key, meta)?;
                return Ok(Registered::AddressInUse);
            }
            Err(Refused::Other(e)) => return Err(e),
        };
        let actor = Actor::User(user.id.into());
        self.audit.record(
            meta.audit(AuditEvent::AccountCreated, actor).subject(Subject::User(user.id.into())),
        );
        self.send_verification(&user, meta)?;
        Ok(Registered::Created(user))
    }

    /// Creates an account holding the admin role (the `users create-admin` command).
    ///
    /// # Errors
    /// As [`Auth::register`].
    pub fn create_admin(&self, input: &Registration<'_>) -> Result<UserRecord, AuthError> {
        let user = match self.create_account(input, ROLE_ADMIN, true) {
            Ok(user) => user,
            Err(Refused::AddressInUse(_)) => {
                return Err(AuthError::Invalid(vec![problem(
                    "email",
                    "taken",
                    "an account with this e-mail address exists".to_owned(),
                )]));
            }
            Err(Refused::Other(e)) => return Err(e),
        };
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
        email_verified: bool,
    ) -> Result<UserRecord, Refused> {
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
            return Err(AuthError::Invalid(problems).into());
        };
        let hash = self.hasher.hash(&password).map_err(AuthError::from)?;
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
            email_verified,
            now,
        };
        match self.store.create_user(&account) {
            Ok(()) => {}
            Err(StoreError::Conflict(UniqueField::Username)) => {
                return Err(AuthError::Invalid(vec![problem(
                    "username",
                    "taken",
                    "this user name is taken".to_owned(),
                )])
                .into());
            }
            Err(StoreError::Conflict(UniqueField::Email)) => {
                return Err(Refused::AddressInUse(email_key));
            }
            Err(other) => return Err(AuthError::from(other).into()),
        }
        Ok(UserRecord {
            id: account.id,
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash: hash.into_string(),
            disabled: false,
            privilege_epoch: 0,
            email_verified_at: email_verified.then_some(now),
            created_at: now,
            updated_at: now,
        })
    }

    pub(super) fn check_new_password(
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
        self.notify(user, AccountMail::PasswordChanged, meta);
        if ended > 0 {
            let event = AuditEvent::SessionRevoked { reason: RevocationReason::PasswordChanged };
            self.audit.record(meta.audit(event, actor).subject(Subject::User(user.id.into())));
        }
        Ok(token)
    }
}

/// Why an account was not created.
enum Refused {
    /// The canonical address (this one) has an account.
    AddressInUse(String),
    /// Anything else, as the caller reports it.
    Other(AuthError),
}

impl From<AuthError> for Refused {
    fn from(e: AuthError) -> Self {
        Self::Other(e)
    }
}
