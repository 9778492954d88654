//! HTTP routes, all declared in one table ([`endpoints`]) with the access rule each one has.
//!
//! Deny by default: a route is either [`Access::Public`], or takes a login's pending second
//! factor step, or requires a signed-in user (for sensitive actions, one who authenticated
//! recently; for changes to the second factor, one who proved it recently), or a permission,
//! and its handler states the same in its signature (a [`MfaChallengeCookie`],
//! [`CurrentSession`], [`RecentSession`], [`FactorChangeSession`] or [`Require`] argument;
//! the forms of server-rendered pages take a [`VerifiedForm`], which applies the same rule as
//! its API twin and checks the session's form token, or, before signing in, a [`PublicForm`]).
//! A page form has the access rule of the API route it does the same as; the walk compares
//! the pairs.
//! The API tests walk this table and fail when a route's behaviour disagrees with its
//! declared access; `tests/architecture.rs` fails when code registers a route anywhere but
//! here.
//!
//! [`MfaChallengeCookie`]: crate::auth::MfaChallengeCookie
//! [`CurrentSession`]: crate::auth::CurrentSession
//! [`RecentSession`]: crate::auth::RecentSession
//! [`FactorChangeSession`]: crate::auth::FactorChangeSession
//! [`Require`]: crate::auth::Require
//! [`VerifiedForm`]: crate::auth::VerifiedForm
//! [`PublicForm`]: crate::auth::PublicForm

// Visible to the crate so that `crate::openapi` can name the handlers' path items.
pub(crate) mod admin;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod csp_report;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod lifecycle;
pub(crate) mod me;
pub(crate) mod mfa;
pub(crate) mod notes;
pub(crate) mod pages;
pub(crate) mod paging;
pub(crate) mod responses;
pub(crate) mod views;

use actix_web::http::{Method, header};
use actix_web::{ResponseError, Route, web};
use sec_auth::Permission;

use crate::http::error::{AppError, ErrorCode};
use crate::http::security_headers::CSP_REPORT_PATH;

/// A JSON body whose parse error is held until the handler looks at it. actix polls all of a
/// handler's extractors together, so a malformed body would otherwise be answered (400/415)
/// while the session check of the first argument is still running on the blocking pool:
/// for handlers behind an access rule, taking the body this way makes the rule answer first,
/// whatever the body.
pub(crate) type JsonBody<T> = Result<web::Json<T>, actix_web::Error>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Only a login waiting for its second factor (the pending-MFA cookie); a session does not
    /// count.
    MfaPending,
    /// Any signed-in user (their own account and sessions).
    Authenticated,
    /// A signed-in user whose last authentication is within the re-authentication window
    /// (sensitive self-service actions); otherwise 401 `reauth_required`.
    RecentAuthentication,
    /// A change to the account's factors: as [`Access::RecentAuthentication`], and once the
    /// account has a second factor, a session holding two factors that proved the second one
    /// within the re-authentication window (otherwise 403 `mfa_required`): a password alone
    /// never changes an existing factor.
    FactorChange,
    /// A signed-in user holding the permission, with a second factor (while
    /// `auth.admin_requires_mfa` is on; otherwise 403 `mfa_required`) and a recent
    /// authentication (otherwise 401 `reauth_required`).
    Permission(Permission),
}

impl Access {
    /// True when a session whose last authentication is older than the re-authentication
    /// window is refused with 401 `reauth_required`.
    pub fn requires_recent_auth(self) -> bool {
        matches!(self, Self::RecentAuthentication | Self::FactorChange | Self::Permission(_))
    }
}

/// One route: method, path (actix syntax, `{id}` for a parameter) and access rule.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    route: fn() -> Route,
}

const fn ep(method: Method, path: &'static str, access: Access, route: fn() -> Route) -> Endpoint {
    Endpoint { method, path, access, route }
}

/// Every route of the application.
pub fn endpoints() -> Vec<Endpoint> {
    use Access::{
        Authenticated, FactorChange, MfaPending, Permission as Perm, Public, RecentAuthentication,
    };
    use Permission::{RolesManage, UsersManage, UsersRead};
    vec![
        ep(Method::GET, "/healthz", Public, || web::get().to(health::healthz)),
        ep(Method::GET, "/readyz", Public, || web::get().to(health::readyz)),
        ep(Method::GET, "/api/openapi.json", Public, || web::get().to(docs::openapi_json)),
        // Sent by browsers on their own, from our pages or any other: reads no cookie.
        ep(Method::POST, CSP_REPORT_PATH, Public, || web::post().to(csp_report::csp_report)),
        ep(Method::POST, "/api/v1/auth/register", Public, || web::post().to(auth::register)),
        ep(Method::POST, "/api/v1/auth/login", Public, || web::post().to(auth::login)),
        ep(Method::POST, "/api/v1/auth/mfa", MfaPending, || web::post().to(auth::complete_mfa)),
        ep(Method::POST, "/api/v1/auth/verify-email", Public, || {
            web::post().to(lifecycle::verify_email)
        }),
        ep(Method::POST, "/api/v1/auth/verify-email/resend", Public, || {
            web::post().to(lifecycle::resend_verification)
        }),
        ep(Method::POST, "/api/v1/auth/password-reset", Public, || {
            web::post().to(lifecycle::request_password_reset)
        }),
        ep(Method::POST, "/api/v1/auth/password-reset/complete", Public, || {
            web::post().to(lifecycle::complete_password_reset)
        }),
        ep(Method::POST, "/api/v1/auth/reauth", Authenticated, || web::post().to(auth::reauth)),
        ep(Method::POST, "/api/v1/auth/logout", Authenticated, || web::post().to(auth::logout)),
        ep(Method::GET, "/api/v1/me", Authenticated, || web::get().to(me::get)),
        ep(Method::PUT, "/api/v1/me/password", RecentAuthentication, || {
            web::put().to(me::change_password)
        }),
        ep(Method::PUT, "/api/v1/me/email", RecentAuthentication, || {
            web::put().to(lifecycle::change_email)
        }),
        ep(Method::GET, "/api/v1/me/sessions", Authenticated, || web::get().to(me::sessions)),
        ep(Method::DELETE, "/api/v1/me/sessions", RecentAuthentication, || {
            web::delete().to(me::revoke_other_sessions)
        }),
        ep(Method::DELETE, "/api/v1/me/sessions/{id}", RecentAuthentication, || {
            web::delete().to(me::revoke_session)
        }),
        ep(Method::GET, "/api/v1/me/mfa", Authenticated, || web::get().to(mfa::status)),
        ep(Method::POST, "/api/v1/me/mfa/totp", FactorChange, || web::post().to(mfa::begin_totp)),
        ep(Method::DELETE, "/api/v1/me/mfa/totp", FactorChange, || {
            web::delete().to(mfa::disable_totp)
        }),
        ep(Method::POST, "/api/v1/me/mfa/totp/confirm", FactorChange, || {
            web::post().to(mfa::confirm_totp)
        }),
        ep(Method::POST, "/api/v1/me/mfa/recovery-codes", FactorChange, || {
            web::post().to(mfa::regenerate_recovery_codes)
        }),
        ep(Method::GET, "/api/v1/notes", Authenticated, || web::get().to(notes::list_notes)),
        ep(Method::POST, "/api/v1/notes", Authenticated, || web::post().to(notes::create_note)),
        ep(Method::GET, "/api/v1/notes/{id}", Authenticated, || web::get().to(notes::get_note)),
        ep(Method::PUT, "/api/v1/notes/{id}", Authenticated, || web::put().to(notes::replace_note)),
        ep(Method::DELETE, "/api/v1/notes/{id}", Authenticated, || {
            web::delete().to(notes::delete_note)
        }),
        // Pages (routes/pages): each form has the rule of its API twin.
        ep(Method::GET, "/", Public, || web::get().to(pages::sign_in::home)),
        ep(Method::GET, "/signup", Public, || web::get().to(pages::sign_in::signup_page)),
        ep(Method::POST, "/signup", Public, || web::post().to(pages::sign_in::signup)),
        ep(Method::GET, "/login", Public, || web::get().to(pages::sign_in::login_form)),
        ep(Method::POST, "/login", Public, || web::post().to(pages::sign_in::login_submit)),
        ep(Method::GET, "/login/mfa", MfaPending, || web::get().to(pages::sign_in::login_mfa_form)),
        ep(Method::POST, "/login/mfa", MfaPending, || web::post().to(pages::sign_in::login_mfa)),
        ep(Method::GET, "/forgot-password", Public, || {
            web::get().to(pages::sign_in::forgot_password_form)
        }),
        ep(Method::POST, "/forgot-password", Public, || {
            web::post().to(pages::sign_in::forgot_password)
        }),
        ep(Method::GET, "/resend-verification", Public, || {
            web::get().to(pages::sign_in::resend_verification_form)
        }),
        ep(Method::POST, "/resend-verification", Public, || {
            web::post().to(pages::sign_in::resend_verification_submit)
        }),
        ep(Method::GET, "/account", Authenticated, || web::get().to(pages::account::account)),
        ep(Method::POST, "/account/sign-out", Authenticated, || {
            web::post().to(pages::account::sign_out)
        }),
        ep(Method::POST, "/account/password", RecentAuthentication, || {
            web::post().to(pages::account::password_submit)
        }),
        ep(Method::POST, "/account/email", RecentAuthentication, || {
            web::post().to(pages::account::email_submit)
        }),
        ep(Method::POST, "/account/sessions/end-others", RecentAuthentication, || {
            web::post().to(pages::account::end_other_sessions)
        }),
        ep(Method::POST, "/account/sessions/{id}/end", RecentAuthentication, || {
            web::post().to(pages::account::end_other_session)
        }),
        ep(Method::GET, "/account/confirm", Authenticated, || {
            web::get().to(pages::account::confirm_form)
        }),
        ep(Method::POST, "/account/confirm", Authenticated, || {
            web::post().to(pages::account::confirm_submit)
        }),
        ep(Method::GET, "/account/signed-out", Public, || {
            web::get().to(pages::account::signed_out)
        }),
        ep(Method::GET, "/account/mfa", Authenticated, || web::get().to(pages::mfa::mfa_page)),
        ep(Method::POST, "/account/mfa/totp", FactorChange, || {
            web::post().to(pages::mfa::enrollment_begin)
        }),
        ep(Method::POST, "/account/mfa/totp/confirm", FactorChange, || {
            web::post().to(pages::mfa::enrollment_confirm)
        }),
        ep(Method::POST, "/account/mfa/totp/off", FactorChange, || {
            web::post().to(pages::mfa::turn_off)
        }),
        ep(Method::POST, "/account/mfa/recovery-codes", FactorChange, || {
            web::post().to(pages::mfa::regenerate)
        }),
        ep(Method::GET, "/account/verify-email", Public, || {
            web::get().to(pages::links::verify_page)
        }),
        ep(Method::POST, "/account/verify-email", Public, || {
            web::post().to(pages::links::verify_submit)
        }),
        ep(Method::GET, "/account/email-verified", Public, || {
            web::get().to(pages::links::email_verified)
        }),
        ep(Method::GET, "/account/email-changed", Public, || {
            web::get().to(pages::links::email_changed)
        }),
        ep(Method::GET, "/account/reset-password", Public, || {
            web::get().to(pages::links::reset_page)
        }),
        ep(Method::POST, "/account/reset-password", Public, || {
            web::post().to(pages::links::reset_submit)
        }),
        ep(Method::GET, "/account/password-reset", Public, || {
            web::get().to(pages::links::password_reset)
        }),
        ep(Method::GET, "/admin/users", Perm(UsersRead), || web::get().to(pages::admin::users)),
        ep(Method::POST, "/admin/users/{id}/disable", Perm(UsersManage), || {
            web::post().to(pages::admin::disable)
        }),
        ep(Method::POST, "/admin/users/{id}/enable", Perm(UsersManage), || {
            web::post().to(pages::admin::enable)
        }),
        ep(Method::POST, "/admin/users/{id}/roles/grant", Perm(RolesManage), || {
            web::post().to(pages::admin::grant_role_submit)
        }),
        ep(Method::POST, "/admin/users/{id}/roles/revoke", Perm(RolesManage), || {
            web::post().to(pages::admin::revoke_role_submit)
        }),
        ep(Method::GET, "/static/{file}", Public, || web::get().to(assets::file)),
        ep(Method::GET, "/api/v1/admin/users", Perm(UsersRead), || {
            web::get().to(admin::list_users)
        }),
        ep(Method::GET, "/api/v1/admin/users/{id}", Perm(UsersRead), || {
            web::get().to(admin::get_user)
        }),
        ep(Method::POST, "/api/v1/admin/users/{id}/disable", Perm(UsersManage), || {
            web::post().to(admin::disable_user)
        }),
        ep(Method::POST, "/api/v1/admin/users/{id}/enable", Perm(UsersManage), || {
            web::post().to(admin::enable_user)
        }),
        ep(Method::POST, "/api/v1/admin/users/{id}/unlock", Perm(UsersManage), || {
            web::post().to(admin::unlock_user)
        }),
        ep(Method::POST, "/api/v1/admin/users/{id}/reset-mfa", Perm(UsersManage), || {
            web::post().to(lifecycle::admin_reset_mfa)
        }),
        ep(Method::POST, "/api/v1/admin/users/{id}/reset-password", Perm(UsersManage), || {
            web::post().to(lifecycle::admin_reset_password)
        }),
        ep(Method::PUT, "/api/v1/admin/users/{id}/roles/{role}", Perm(RolesManage), || {
            web::put().to(admin::grant_role)
        }),
        ep(Method::DELETE, "/api/v1/admin/users/{id}/roles/{role}", Perm(RolesManage), || {
            web::delete().to(admin::revoke_role)
        }),
    ]
}

/// Registers every route of [`endpoints`]: one resource per path, so a known path with the
/// wrong method answers 405 `method_not_allowed` rather than 404, with the `Allow` header
/// (RFC 9110 §15.5.6) naming the methods the table has for that path.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let all = endpoints();
    let mut paths: Vec<(&'static str, Vec<Method>)> = Vec::new();
    for e in &all {
        match paths.iter_mut().find(|(path, _)| *path == e.path) {
            Some((_, methods)) => methods.push(e.method.clone()),
            None => paths.push((e.path, vec![e.method.clone()])),
        }
    }
    for (path, methods) in paths {
        let allow = allow_header(&methods);
        let mut resource = web::resource(path).default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(allow) }
        }));
        for e in all.iter().filter(|e| e.path == path) {
            resource = resource.route((e.route)());
        }
        cfg.service(resource);
    }
}

/// The value of `Allow` for a path with these methods: `GET, POST`.
fn allow_header(methods: &[Method]) -> header::HeaderValue {
    let list = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    // Method names are tokens, always a valid header value.
    header::HeaderValue::from_str(&list).unwrap_or_else(|_| header::HeaderValue::from_static(""))
}

/// Answer for paths no route matches: the standard JSON error body with `not_found`.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::new(ErrorCode::NotFound))
}

fn method_not_allowed(allow: header::HeaderValue) -> actix_web::HttpResponse {
    let mut response = AppError::new(ErrorCode::MethodNotAllowed).error_response();
    response.headers_mut().insert(header::ALLOW, allow);
    response
}
