//! Extractors that put a route's access rule in its handler's signature:
//! [`CurrentSession`] (any signed-in user), [`RecentSession`] (a signed-in user who
//! authenticated within the re-authentication window), [`FactorChangeSession`] (one who may
//! change the account's second factor), [`Require<P>`] (a permission, which
//! also demands a second factor and a recent authentication) and [`MfaChallengeCookie`] (a
//! login waiting for its second factor). Put them first in the argument list, so a refused
//! request is answered before its body is even read.
//!
//! [`VerifiedForm<T>`] is the extractor of a form posted by a server-rendered page: it
//! authenticates like [`CurrentSession`] (and stands in for it), then reads the urlencoded body
//! and checks its `csrf_token` field against the session ([`SessionToken::form_token`]);
//! [`form_token`] is the value to render into the page.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use sec_auth::{Permission, Principal, SessionToken};
use serde::de::DeserializeOwned;

use super::{
    AuthService, MFA_COOKIE, SESSION_COOKIE, blocking, clearing_cookie, request_meta,
    session_cookie,
};
use crate::db::Db;
use crate::http::cookies;
use crate::http::error::{AppError, ErrorCode};

/// The signed-in user of this request. Extracting it authenticates the session cookie
/// (once per request: later extractions reuse the result).
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Principal);

/// A replacement token to send back (privileges changed since the token was issued).
#[derive(Debug)]
struct ReissuedToken(SessionToken);

/// The session token that authenticated the request (the cookie's value), kept for the form
/// token check.
#[derive(Debug)]
struct PresentedToken(SessionToken);

/// The request presented a session cookie that is not (or no longer) valid.
#[derive(Debug, Clone, Copy)]
struct StaleCookie;

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl FromRequest for CurrentSession {
    type Error = AppError;
    type Future = LocalFuture<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(CurrentSession) })
    }
}

/// The value of the session cookie `req` carries, by its exact name ([`crate::http::cookies`]); `None`
/// without one (an encoded spelling of the name, or the name twice, is none).
pub fn session_cookie_value(req: &HttpRequest) -> Option<String> {
    cookies::find(req.headers(), SESSION_COOKIE).value().map(str::to_owned)
}

async fn authenticate(req: &HttpRequest) -> Result<Principal, AppError> {
    if let Some(principal) = req.extensions().get::<Principal>() {
        return Ok(principal.clone());
    }
    let token = session_cookie_value(req).ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    let auth = auth_service(req)?;
    let db = req
        .app_data::<web::Data<Db>>()
        .ok_or_else(|| AppError::internal("database missing from app data"))?;
    let presented = SessionToken::parse(&token);
    // On a database thread rather than the blocking pool: the lookup holds a connection and
    // nothing slower (no password hashing), and it runs on every authenticated request.
    let outcome = db
        .execute(move || auth.authenticate(&token))
        .await
        .map_err(AppError::from)
        .and_then(|outcome| outcome.map_err(AppError::from));
    let authenticated = match outcome {
        Ok(a) => a,
        Err(e) => {
            if e.code() == ErrorCode::Unauthorized {
                req.extensions_mut().insert(StaleCookie);
            }
            return Err(e);
        }
    };
    if let Some(token) = authenticated.reissued {
        req.extensions_mut().insert(ReissuedToken(token));
    }
    // Always `Some` here: a token that does not parse never authenticates.
    if let Some(token) = presented {
        req.extensions_mut().insert(PresentedToken(token));
    }
    req.extensions_mut().insert(authenticated.principal.clone());
    Ok(authenticated.principal)
}

/// The rules, from the app data.
///
/// # Errors
/// 500 if the app was built without them (a wiring bug).
pub fn auth_service(req: &HttpRequest) -> Result<AuthService, AppError> {
    req.app_data::<web::Data<AuthService>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| AppError::internal("auth service missing from app data"))
}

/// Name of the hidden field that carries the form token in every form of a page.
pub const FORM_TOKEN_FIELD: &str = "csrf_token";

/// The form token to render into the forms of a page answering this request: that of the
/// session cookie the browser holds after the response (the replacement token when this
/// request had the token reissued, the presented one otherwise). Call it after the handler's
/// [`CurrentSession`] was extracted.
///
/// # Errors
/// 500 on a request that was not authenticated (a handler without [`CurrentSession`]).
pub fn form_token(req: &HttpRequest) -> Result<String, AppError> {
    let ext = req.extensions();
    ext.get::<ReissuedToken>()
        .map(|t| &t.0)
        .or_else(|| ext.get::<PresentedToken>().map(|t| &t.0))
        .map(SessionToken::form_token)
        .ok_or_else(|| AppError::internal("form token asked for on an unauthenticated request"))
}

/// A form posted by one of our pages, checked: extracting it authenticates the session cookie
/// (401 `unauthorized` without a valid session, before the body is read), reads the
/// `application/x-www-form-urlencoded` body within the form limits (413, 415, 400 as JSON
/// errors), requires exactly one `csrf_token` field holding the form token of the session
/// that authenticated this request (403 `form_token_invalid` otherwise, logged with the
/// reason), and parses the other fields into `T` (400 `bad_request` when they do not fit).
///
/// Take it instead of [`CurrentSession`], not beside it: it carries the session, and two
/// extractors authenticating the same request at once would race for a reissued token. A
/// token in the query string is never looked at: it would leak through logs and history.
///
/// The check is against the cookie this request presented, so a form rendered before a
/// reissue of the token (a role change) still goes through on the request that triggers the
/// reissue; a form rendered for a token the browser no longer holds (after a login,
/// re-authentication or password change, or a reissue seen by an earlier request) is refused
/// once, and works again when the page is reloaded.
///
/// With `RECENT = true` ([`RecentVerifiedForm`]) the session must also have authenticated
/// within the re-authentication window (401 `reauth_required`, before the body is read), as
/// [`RecentSession`] demands of the API route the form stands for.
#[derive(Debug)]
pub struct VerifiedForm<T, const RECENT: bool = false> {
    /// Who sent the form.
    pub session: CurrentSession,
    /// Its fields, the token aside.
    pub fields: T,
}

/// A [`VerifiedForm`] from a session that authenticated within the re-authentication window:
/// for a form that does what a [`RecentSession`] route of the API does.
pub type RecentVerifiedForm<T> = VerifiedForm<T, true>;

impl<T: DeserializeOwned + 'static, const RECENT: bool> FromRequest for VerifiedForm<T, RECENT> {
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            // The access rule answers first, whatever the body.
            let principal = authenticate(&req).await?;
            if RECENT {
                auth_service(&req)?.require_recent_auth(&principal).map_err(AppError::from)?;
            }
            let web::Form(pairs) =
                web::Form::<Vec<(String, String)>>::from_request(&req, &mut payload).await?;
            check_form_token(&req, &pairs)?;
            let rest: Vec<(String, String)> =
                pairs.into_iter().filter(|(name, _)| name != FORM_TOKEN_FIELD).collect();
            // Back to one string for the parser of `T`, so that fields are read exactly as
            // actix's own form extractor reads them (numbers, options, sequences).
            let encoded = serde_urlencoded::to_string(&rest).map_err(AppError::internal)?;
            let fields = serde_urlencoded::from_str::<T>(&encoded).map_err(|e| {
                AppError::with_cause(
                    ErrorCode::BadRequest,
                    crate::http::body_error::serde_cause(&e.to_string()),
                )
            })?;
            Ok(Self { session: CurrentSession(principal), fields })
        })
    }
}

/// `Ok` when `pairs` hold exactly one `csrf_token`, and it is the form token of the session
/// that authenticated `req`.
fn check_form_token(req: &HttpRequest, pairs: &[(String, String)]) -> Result<(), AppError> {
    let mut presented =
        pairs.iter().filter(|(name, _)| name == FORM_TOKEN_FIELD).map(|(_, value)| value);
    let refusal = match (presented.next(), presented.next()) {
        (None, _) => "the form has no csrf_token field",
        (Some(_), Some(_)) => "the form has more than one csrf_token field",
        (Some(token), None) => match req.extensions().get::<PresentedToken>() {
            Some(session) if session.0.verify_form_token(token) => return Ok(()),
            Some(_) => "csrf_token is not the form token of this session",
            None => return Err(AppError::internal("form token checked before authentication")),
        },
    };
    Err(AppError::with_cause(ErrorCode::FormTokenInvalid, refusal))
}

/// Names a [`Permission`] at the type level, for [`Require`].
pub trait PermissionMarker {
    /// The permission.
    const PERMISSION: Permission;
}

/// Type-level permissions for [`Require`].
pub mod perm {
    use super::{Permission, PermissionMarker};

    macro_rules! markers {
        ($($(#[$doc:meta])* $name:ident => $perm:ident,)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl PermissionMarker for $name {
                const PERMISSION: Permission = Permission::$perm;
            }
        )*};
    }

    markers! {
        /// `users:read`.
        UsersRead => UsersRead,
        /// `users:manage`.
        UsersManage => UsersManage,
        /// `roles:manage`.
        RolesManage => RolesManage,
        /// `audit:read`.
        AuditRead => AuditRead,
    }
}

/// A signed-in user whose last authentication (login or re-authentication) is within the
/// re-authentication window (`auth.reauth_window_secs`): for sensitive actions. 401
/// `unauthorized` without a valid session, 401 `reauth_required` when the authentication is
/// older.
#[derive(Debug, Clone)]
pub struct RecentSession(pub Principal);

impl FromRequest for RecentSession {
    type Error = AppError;
    type Future = LocalFuture<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            auth_service(&req)?.require_recent_auth(&principal)?;
            Ok(Self(principal))
        })
    }
}

/// A signed-in user who may change the account's factors (enroll TOTP, confirm it, regenerate
/// recovery codes, turn TOTP off): authenticated within the re-authentication window and, once
/// the account has a second factor, with a session that holds two factors and proved the
/// second one within the window ([`sec_auth::Auth::require_factor_change`]). 401
/// `unauthorized` without a valid session; 403 `mfa_required` without that proof (a
/// re-authentication with a TOTP or recovery code gives it; the password does not); 401
/// `reauth_required` on an account without a factor whose last authentication is older.
#[derive(Debug, Clone)]
pub struct FactorChangeSession(pub Principal);

impl FromRequest for FactorChangeSession {
    type Error = AppError;
    type Future = LocalFuture<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            let auth = auth_service(&req)?;
            let checked = principal.clone();
            blocking(move || auth.require_factor_change(&checked)).await?;
            Ok(Self(principal))
        })
    }
}

/// The token of a login waiting for its second factor, from its own cookie. 401 without it.
/// Only `POST /api/v1/auth/mfa` takes it; it is not a session.
pub struct MfaChallengeCookie(pub String);

impl std::fmt::Debug for MfaChallengeCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaChallengeCookie([REDACTED])")
    }
}

impl FromRequest for MfaChallengeCookie {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            cookies::find(req.headers(), MFA_COOKIE)
                .value()
                .filter(|v| !v.is_empty())
                .map(|v| Self(v.to_owned()))
                .ok_or_else(|| AppError::new(ErrorCode::Unauthorized)),
        )
    }
}

/// A signed-in user holding permission `P`, for administration: 401 without a valid
/// session; 403 `forbidden` (audited) without the permission; 403 `mfa_required` when
/// `auth.admin_requires_mfa` is on and the account has no second factor or the session was not
/// established with it; 401 `reauth_required` when the last authentication is older than the
/// re-authentication window.
#[derive(Debug, Clone)]
pub struct Require<P: PermissionMarker> {
    /// Who.
    pub principal: Principal,
    permission: PhantomData<P>,
}

impl<P: PermissionMarker + 'static> FromRequest for Require<P> {
    type Error = AppError;
    type Future = LocalFuture<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(&req).await?;
            let auth = auth_service(&req)?;
            let meta = request_meta(&req);
            let checked = principal.clone();
            blocking(move || {
                auth.require(&checked, P::PERMISSION, &meta)?;
                // A second factor would not help someone without the permission, and a
                // re-authentication would not help someone without a second factor: the
                // answers come in that order.
                auth.require_admin_mfa(&checked)?;
                auth.require_recent_auth(&checked)
            })
            .await?;
            Ok(Self { principal, permission: PhantomData })
        })
    }
}

/// Middleware: after the handler, sends a replacement session cookie when the token was
/// reissued, deletes a stale one, and marks every response to an authenticated request
/// `Cache-Control: no-store`.
pub async fn session_cookies(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let (reissued, stale, authenticated) = {
        let ext = res.request().extensions();
        (
            ext.get::<ReissuedToken>().map(|t| t.0.expose().to_owned()),
            ext.get::<StaleCookie>().is_some(),
            ext.get::<Principal>().is_some(),
        )
    };
    let already_set = res.headers().contains_key(header::SET_COOKIE);
    let cookie = match (reissued, stale) {
        (Some(token), _) if !already_set => Some(session_cookie(&token)),
        (None, true) if !already_set => Some(clearing_cookie()),
        _ => None,
    };
    if let Some(value) = cookie.as_ref().and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
    if authenticated || cookie.is_some() {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
