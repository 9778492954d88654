//! Permissions (a closed Rust enum, so a typo is a compile error) and roles (named sets of
//! permissions stored in the database, so an operator can define new ones without a release).

use std::fmt;

/// Something a route may require. The wire and database form is `resource:action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Permission {
    /// List and view accounts.
    UsersRead,
    /// Disable and enable accounts.
    UsersManage,
    /// Grant and revoke roles.
    RolesManage,
    /// Read the audit trail.
    AuditRead,
}

impl Permission {
    /// Every permission, in a fixed order.
    pub const ALL: [Self; 4] =
        [Self::UsersRead, Self::UsersManage, Self::RolesManage, Self::AuditRead];

    /// The stored and displayed form, e.g. `users:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "users:read",
            Self::UsersManage => "users:manage",
            Self::RolesManage => "roles:manage",
            Self::AuditRead => "audit:read",
        }
    }

    /// The permission named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions: the union of a user's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u32);

impl PermissionSet {
    /// No permission at all.
    pub const EMPTY: Self = Self(0);

    /// True if `permission` is in the set.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Adds `permission`.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// The role every new account gets: no permission beyond managing its own account and
/// sessions, which every signed-in user has.
pub const ROLE_USER: &str = "user";
/// The seeded role holding every permission. At least one enabled account always holds it.
pub const ROLE_ADMIN: &str = "admin";

/// A role name: 1 to 32 characters of `[a-z0-9_-]`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

/// The text is not a valid role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a role name is 1 to 32 characters of a-z, 0-9, '_' or '-', starting with a letter")]
#[non_exhaustive]
pub struct InvalidRoleName;

impl RoleName {
    /// Checks and keeps `name`.
    ///
    /// # Errors
    /// [`InvalidRoleName`] for anything outside the grammar.
    pub fn parse(name: &str) -> Result<Self, InvalidRoleName> {
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if starts_with_letter && rest_ok && name.len() <= 32 {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidRoleName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert!(seen.insert(p.as_str()));
        }
        assert_eq!(Permission::parse("users:Read"), None);
        assert_eq!(Permission::parse(""), None);
    }

    #[test]
    fn a_set_holds_exactly_what_was_inserted() {
        let set: PermissionSet =
            [Permission::UsersRead, Permission::AuditRead].into_iter().collect();
        assert!(set.contains(Permission::UsersRead));
        assert!(!set.contains(Permission::UsersManage));
        assert_eq!(set.iter().count(), 2);
        assert!(!PermissionSet::EMPTY.contains(Permission::UsersRead));
    }

    #[test]
    fn role_names_follow_the_grammar() {
        for good in ["user", "admin", "support-l2", "a"] {
            assert!(RoleName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Admin", "2fa", "a b", "admin\n", &"a".repeat(33), "rôle"] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
