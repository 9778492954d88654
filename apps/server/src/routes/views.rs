//! JSON shapes of accounts and sessions in responses.

use sec_auth::{SessionRecord, UserRecord};
use serde::Serialize;
use utoipa::ToSchema;

/// An account as its owner (and an administrator) sees it. Never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    #[schema(format = "uuid")]
    id: String,
    username: String,
    email: String,
    /// The address was proved to reach the account's owner (its verification link was used).
    email_verified: bool,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified_at.is_some(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// An account in the admin API: with its state and roles.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminUserView {
    #[serde(flatten)]
    user: UserView,
    disabled: bool,
    roles: Vec<String>,
}

impl AdminUserView {
    pub(crate) fn new(user: &UserRecord, roles: Vec<String>) -> Self {
        Self { user: UserView::from(user), disabled: user.disabled, roles }
    }
}

/// A session in "my sessions" (the JSON list and the account page's table).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionView {
    #[schema(format = "uuid")]
    pub(crate) id: String,
    #[schema(format = DateTime)]
    pub(crate) created_at: String,
    #[schema(format = DateTime)]
    pub(crate) last_seen_at: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    /// 1: established with the password; 2: with a second factor too.
    pub(crate) aal: i64,
    pub(crate) current: bool,
}

impl SessionView {
    pub(crate) fn new(s: &SessionRecord, current: bool) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            aal: s.aal.as_i64(),
            current,
        }
    }
}

/// Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z` for anything unrepresentable).
pub(crate) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}
