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
//! [`form_token`] is the value to render into the page. [`PublicForm<T>`] is its counterpart
//! for the forms used before signing in: the token is that of the form cookie
//! ([`public_form_token`]), against login CSRF.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
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
use crate::http::cookies::{self, FORM_COOKIE};
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
/// (401 `unauthorized` without a valid session, before the body is read), applies the access
/// rule `R` of the API route the form stands for (also before the body is read), reads the
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
#[derive(Debug)]
pub struct VerifiedForm<T, R = AnySession> {
    /// Who sent the form.
    pub session: CurrentSession,
    /// Its fields, the token aside.
    pub fields: T,
    rule: PhantomData<R>,
}

/// A [`VerifiedForm`] from a session that authenticated within the re-authentication window:
/// for a form that does what a [`RecentSession`] route of the API does.
pub type RecentVerifiedForm<T> = VerifiedForm<T, Recent>;

/// A [`VerifiedForm`] that changes the account's factors: the rule of [`FactorChangeSession`].
pub type FactorChangeForm<T> = VerifiedForm<T, FactorChange>;

/// A [`VerifiedForm`] of an administration page: the rule of [`Require<P>`].
pub type PermittedForm<P, T> = VerifiedForm<T, Permitted<P>>;

/// The access rule of a [`VerifiedForm`]: the same check, by the same function, as the
/// extractor of the API route the form stands for, so a page is never a way around it.
pub trait FormRule: 'static {
    /// `Ok` when `principal` may send the form.
    fn check(req: HttpRequest, principal: Principal) -> LocalFuture<Result<(), AppError>>;
}

/// Any signed-in user ([`CurrentSession`]).
#[derive(Debug)]
pub struct AnySession;

/// A recent authentication ([`RecentSession`]).
#[derive(Debug)]
pub struct Recent;

/// A change to the account's factors ([`FactorChangeSession`]).
#[derive(Debug)]
pub struct FactorChange;

/// Permission `P` with the administrator's second factor and a recent authentication
/// ([`Require<P>`]).
#[derive(Debug)]
pub struct Permitted<P>(PhantomData<P>);

impl FormRule for AnySession {
    fn check(_: HttpRequest, _: Principal) -> LocalFuture<Result<(), AppError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl FormRule for Recent {
    fn check(req: HttpRequest, principal: Principal) -> LocalFuture<Result<(), AppError>> {
        Box::pin(async move { check_recent(&req, &principal) })
    }
}

impl FormRule for FactorChange {
    fn check(req: HttpRequest, principal: Principal) -> LocalFuture<Result<(), AppError>> {
        Box::pin(async move { check_factor_change(&req, principal).await })
    }
}

impl<P: PermissionMarker + 'static> FormRule for Permitted<P> {
    fn check(req: HttpRequest, principal: Principal) -> LocalFuture<Result<(), AppError>> {
        Box::pin(async move { check_permission(&req, principal, P::PERMISSION).await })
    }
}

impl<T: DeserializeOwned + 'static, R: FormRule> FromRequest for VerifiedForm<T, R> {
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            // The access rule answers first, whatever the body.
            let principal = authenticate(&req).await?;
            R::check(req.clone(), principal.clone()).await?;
            let pairs = read_form(&req, &mut payload).await?;
            check_form_token(&req, &pairs)?;
            let fields = form_fields(pairs)?;
            Ok(Self { session: CurrentSession(principal), fields, rule: PhantomData })
        })
    }
}

/// The fields of a urlencoded body as sent, within the form limits.
async fn read_form(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<Vec<(String, String)>, actix_web::Error> {
    let web::Form(pairs) = web::Form::<Vec<(String, String)>>::from_request(req, payload).await?;
    Ok(pairs)
}

/// The fields other than `csrf_token`, parsed into `T` (400 `bad_request` when they do not
/// fit).
fn form_fields<T: DeserializeOwned>(pairs: Vec<(String, String)>) -> Result<T, AppError> {
    let rest: Vec<(String, String)> =
        pairs.into_iter().filter(|(name, _)| name != FORM_TOKEN_FIELD).collect();
    // Back to one string for the parser of `T`, so that fields are read exactly as actix's
    // own form extractor reads them (numbers, options, sequences).
    let encoded = serde_urlencoded::to_string(&rest).map_err(AppError::internal)?;
    serde_urlencoded::from_str::<T>(&encoded).map_err(|e| {
        AppError::with_cause(
            ErrorCode::BadRequest,
            crate::http::body_error::serde_cause(&e.to_string()),
        )
    })
}

/// The one `csrf_token` of `pairs`, or why there is none to check.
fn presented_form_token(pairs: &[(String, String)]) -> Result<&str, &'static str> {
    let mut presented =
        pairs.iter().filter(|(name, _)| name == FORM_TOKEN_FIELD).map(|(_, value)| value);
    match (presented.next(), presented.next()) {
        (None, _) => Err("the form has no csrf_token field"),
        (Some(_), Some(_)) => Err("the form has more than one csrf_token field"),
        (Some(token), None) => Ok(token),
    }
}

/// `Ok` when `pairs` hold exactly one `csrf_token`, and it is the form token of the session
/// that authenticated `req`.
fn check_form_token(req: &HttpRequest, pairs: &[(String, String)]) -> Result<(), AppError> {
    let refusal = match presented_form_token(pairs) {
        Err(reason) => reason,
        Ok(token) => match req.extensions().get::<PresentedToken>() {
            Some(session) if session.0.verify_form_token(token) => return Ok(()),
            Some(_) => "csrf_token is not the form token of this session",
            None => return Err(AppError::internal("form token checked before authentication")),
        },
    };
    Err(AppError::with_cause(ErrorCode::FormTokenInvalid, refusal))
}

/// A form of a page used without a session (sign-up, sign-in and its second-factor step, the
/// "forgot password", "resend" and mailed-link forms), checked: the urlencoded body is read
/// within the form limits (413, 415, 400), then its one `csrf_token` field must be the form
/// token of the [`FORM_COOKIE`] this browser holds (403 `form_token_invalid` otherwise, logged
/// with the reason), then the other fields are parsed into `T` (400).
///
/// This is the defence against login CSRF, where another site signs its victim in to the
/// attacker's account (whose activity the attacker then reads): the cookie is `__Host-`,
/// HttpOnly and SameSite=Strict, so a cross-site post arrives without it, and the page that
/// renders a form sets it ([`public_form_token`]). The CSRF middleware refuses a cross-site
/// post that does carry it (it is an ambient cookie there), so the two defences are
/// independent, as they are for the session's forms. The body is read before the token is
/// checked because the token is in it.
#[derive(Debug)]
pub struct PublicForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for PublicForm<T> {
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let pairs = read_form(&req, &mut payload).await?;
            let refusal = match presented_form_token(&pairs) {
                Err(reason) => Some(reason),
                Ok(token) => match cookies::find(req.headers(), FORM_COOKIE).value() {
                    None => Some("no form cookie (expired, or a post from another site)"),
                    Some(value) => match SessionToken::parse(value) {
                        Some(bound) if bound.verify_form_token(token) => None,
                        _ => Some("csrf_token is not the form token of this browser's cookie"),
                    },
                },
            };
            if let Some(reason) = refusal {
                return Err(AppError::with_cause(ErrorCode::FormTokenInvalid, reason).into());
            }
            Ok(Self(form_fields(pairs)?))
        })
    }
}

/// How long the [`FORM_COOKIE`] lives: an hour from the page that (re)sets it.
const FORM_COOKIE_SECS: i64 = 3_600;

/// The form token to render into a page's forms used without a session, and the
/// [`FORM_COOKIE`] to send with the page: the browser's cookie when it holds a well-formed one
/// (its life extended), a new random one otherwise.
///
/// # Errors
/// 500 when the system's random source fails.
pub fn public_form_token(req: &HttpRequest) -> Result<(String, Cookie<'static>), AppError> {
    let held = cookies::find(req.headers(), FORM_COOKIE).value().and_then(SessionToken::parse);
    let token = match held {
        Some(token) => token,
        None => SessionToken::generate().map_err(AppError::internal)?,
    };
    let cookie = Cookie::build(FORM_COOKIE, token.expose().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(FORM_COOKIE_SECS))
        .finish();
    Ok((token.form_token(), cookie))
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
            check_recent(&req, &principal)?;
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
            check_factor_change(&req, principal.clone()).await?;
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
            check_permission(&req, principal.clone(), P::PERMISSION).await?;
            Ok(Self { principal, permission: PhantomData })
        })
    }
}

/// The rule of [`RecentSession`] (and of [`Recent`] forms).
fn check_recent(req: &HttpRequest, principal: &Principal) -> Result<(), AppError> {
    Ok(auth_service(req)?.require_recent_auth(principal)?)
}

/// The rule of [`FactorChangeSession`] (and of [`FactorChange`] forms).
async fn check_factor_change(req: &HttpRequest, principal: Principal) -> Result<(), AppError> {
    let auth = auth_service(req)?;
    blocking(move || auth.require_factor_change(&principal)).await
}

/// The rule of [`Require`] (and of [`Permitted`] forms).
async fn check_permission(
    req: &HttpRequest,
    principal: Principal,
    permission: Permission,
) -> Result<(), AppError> {
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    blocking(move || {
        auth.require(&principal, permission, &meta)?;
        // A second factor would not help someone without the permission, and a
        // re-authentication would not help someone without a second factor: the answers
        // come in that order.
        auth.require_admin_mfa(&principal)?;
        auth.require_recent_auth(&principal)
    })
    .await
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
