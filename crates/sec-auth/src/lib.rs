//! Authentication and authorization rules: accounts, server-side sessions, login throttling
//! and role-based access control, with storage behind the [`AuthStore`] trait and no web
//! framework. The app (`apps/server`) implements the store on its database and adapts the
//! rules to HTTP.
//!
//! - [`Auth`]: the operations (register, login, authenticate a session token, change the
//!   password, list and revoke sessions, administer accounts and roles), each one atomic and
//!   audited.
//! - [`ThrottlePolicy`]: exponential back-off on failure counters stored in the database.
//! - [`SessionPolicy`]: idle and absolute timeouts, throttled `last_seen` writes.
//! - [`Permission`] and roles: permissions are a closed enum; roles are named sets stored in
//!   the database.
//! - [`SessionToken`]: 256 random bits; only their SHA-256 is stored.

mod account;
pub mod clock;
mod error;
mod hasher;
mod permission;
mod service;
mod session;
mod store;
mod throttle;
mod token;

pub use account::{UserId, UserRecord, email_canonical};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, FieldProblem};
pub use hasher::{CredentialHasher, HashFailure, PooledHasher};
pub use permission::{InvalidRoleName, Permission, PermissionSet, ROLE_ADMIN, ROLE_USER, RoleName};
pub use service::{
    AuditSink, Auth, AuthConfig, Authenticated, LoggedIn, Principal, Registration, RequestMeta,
};
pub use session::{Expiry, SessionCheck, SessionId, SessionPolicy, SessionRecord};
pub use store::{
    AuthStore, Change, NewAccount, NewSession, SessionLookup, StoreError, UniqueField, UserLookup,
};
pub use throttle::{Decision, DenyReason, ThrottleCounter, ThrottlePolicy, ThrottleView};
pub use token::{SessionToken, TOKEN_CHARS, TokenHash};
