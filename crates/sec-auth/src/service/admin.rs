//! Administration: permissions and roles, the account list, disabling accounts and clearing
//! their login-failure counters.

use sec_audit::{Actor, AuditEvent, Label, Subject};
use sec_core::Username;

use super::{Auth, Principal, RequestMeta};
use crate::account::{UserId, UserRecord};
use crate::error::AuthError;
use crate::permission::{Permission, PermissionSet, RoleName};
use crate::store::{Change, UserLookup};

impl Auth {
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
        let actor = by.map_or(Actor::Operator, |p| Actor::User(p.user.id.into()));
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
}
