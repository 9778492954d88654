//! `/api/v1/auth/*`: register, login (with its second-factor step), re-authentication,
//! logout.

use actix_web::ResponseError;
use actix_web::cookie::Cookie;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use sec_auth::{LoggedIn, LoginOutcome, Principal, Reauthentication, Registration, SecondFactor};
use sec_core::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonBody;
use super::responses::{
    DatabaseOrHashingBusy, DatabaseOrNoMfaKey, DatabaseUnavailable, ThrottledAttempts,
    exactly_one_of,
};
use super::views::UserView;
use super::views::rfc3339;
use crate::auth::{
    CurrentSession, MfaChallengeCookie, auth_service, blocking, blocking_hashing, clearing_cookie,
    clearing_mfa_cookie, mfa_cookie, request_meta, session_cookie, session_cookie_value,
};
use crate::http::error::{AppError, ErrorCode, FieldError};

/// `POST /api/v1/auth/register` body. The password is held as a secret from the moment it is
/// parsed: no `Debug` output, wiped on drop.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// 3 to 32 letters or digits of one script, with single `.`, `_` or `-` between them;
    /// counted after NFKC normalisation, unique regardless of case.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[\p{L}\p{N}](?:[._-]?[\p{L}\p{N}])*$")]
    username: String,
    /// An address of the grammar in `docs/sec-core.md`: ASCII dot-atom local part of at most
    /// 64 octets, a domain of at least two labels (internationalised names are accepted and
    /// stored as punycode), at most 254 octets in all.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least `auth.password_min_chars` characters after NFKC normalisation (15 unless
    /// configured otherwise, never below 8) and at most 128; not a common password, and not
    /// containing the username or the e-mail address.
    #[schema(value_type = String, format = Password, min_length = 15, max_length = 128)]
    password: SecretString,
}

/// The answer to a login (and to its second-factor step).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginResponse {
    /// The account.
    user: UserView,
    /// True when the password was right but a second factor is still needed: no session yet,
    /// only the pending cookie for `POST /api/v1/auth/mfa`.
    mfa_required: bool,
}

/// The answer to a re-authentication.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthResponse {
    /// When this re-authentication happened (RFC 3339).
    #[schema(format = DateTime)]
    authenticated_at: String,
    /// 1: password; 2: with a second factor.
    aal: i64,
}

/// Creates an account with the least-privileged role and mails a link that verifies its
/// address. 202 `{"status": "accepted"}`, the same answer, after the same work, when the
/// address already has an account: no account is made then, and the address's owner is told
/// by mail instead. 422 naming each rejected field, a taken user name included (user names are
/// public and unique; docs/auth.md says what that reveals).
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 202, description = "Accepted: the account is created and a verification link is on its way, or the address has an account and its owner is told (the same answer).", body = super::lifecycle::Accepted),
        (status = 422, description = "A rejected field (`validation_failed`), a taken user name included.", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn register(
    req: HttpRequest,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let RegisterBody { username, email, password } = body.into_inner();
    // Either outcome gets the same answer: `Registered` tells the two apart for the rules only.
    let _registered = blocking_hashing(&req, move || {
        auth.register(
            &Registration { username: &username, email: &email, password: &password },
            &meta,
        )
    })
    .await?;
    Ok(super::lifecycle::accepted())
}

/// `POST /api/v1/auth/login` body: a user name or e-mail address, and the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    identifier: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Logs in: 200 with a fresh session cookie; 401 `invalid_credentials` for an unknown account,
/// a wrong password or a disabled account alike; 429 with `Retry-After` when throttled. For
/// an account with a second factor, a correct password gives 200 with `"mfa_required": true`
/// and no session: only the pending step's own cookie, which `POST /api/v1/auth/mfa` takes.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in (a new session cookie), or, with `mfa_required: true`, the password was right and the second factor is due (only the pending-MFA cookie).", body = LoginResponse),
        (status = 401, description = "Unknown account, wrong password or disabled account, not told apart (`invalid_credentials`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn login(
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, AppError> {
    let LoginBody { identifier, password } = body.into_inner();
    let signed = password_login(&req, identifier, password).await?;
    let mut response = HttpResponse::Ok();
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    for cookie in signed.cookies {
        response.cookie(cookie);
    }
    let (user, mfa_required) = match &signed.outcome {
        LoginOutcome::Session(logged_in) => (&logged_in.user, false),
        LoginOutcome::MfaRequired(pending) => (&pending.user, true),
    };
    Ok(response.json(LoginResponse { user: UserView::from(user), mfa_required }))
}

/// A password login's outcome and the cookies the browser must get for it.
pub(crate) struct PasswordLogin {
    /// A session, or a pending second factor.
    pub(crate) outcome: LoginOutcome,
    /// The new session cookie; or the pending step's cookie, with the held session cookie
    /// deleted (the login ended that session).
    pub(crate) cookies: Vec<Cookie<'static>>,
}

/// The password step of a login, as the API and the sign-in page both run it: the rules'
/// `login` (admitted for hashing, the session the browser holds passed in so that it ends),
/// and the cookies of its outcome.
pub(crate) async fn password_login(
    req: &HttpRequest,
    identifier: String,
    password: SecretString,
) -> Result<PasswordLogin, AppError> {
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    let previous = session_cookie_value(req);
    let held_session = previous.is_some();
    let now = auth.now();
    let outcome = blocking_hashing(req, move || {
        auth.login(&identifier, &password, previous.as_deref(), &meta)
    })
    .await?;
    let cookies = match &outcome {
        LoginOutcome::Session(logged_in) => vec![session_cookie(logged_in.token.expose())],
        LoginOutcome::MfaRequired(pending) => {
            let mut cookies = vec![mfa_cookie(pending.token.expose(), pending.expires_at - now)];
            if held_session {
                // The session the browser held was ended by the login; drop its cookie too.
                cookies.push(clearing_cookie());
            }
            cookies
        }
    };
    Ok(PasswordLogin { outcome, cookies })
}

/// The second step of a login, as the API and the sign-in page both run it: the pending step
/// `challenge` completed with `factor` (the session the browser holds passed in so that it
/// ends). On success, the new session cookie and the cookie deleting the pending step's.
pub(crate) async fn second_factor_login(
    req: &HttpRequest,
    challenge: MfaChallengeCookie,
    factor: SecondFactor,
) -> Result<(LoggedIn, [Cookie<'static>; 2]), AppError> {
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    let previous = session_cookie_value(req);
    let logged_in = blocking(move || {
        auth.complete_mfa_login(&challenge.0, &factor, previous.as_deref(), &meta)
    })
    .await?;
    let cookies = [session_cookie(logged_in.token.expose()), clearing_mfa_cookie()];
    Ok((logged_in, cookies))
}

/// `POST /api/v1/auth/mfa` and `DELETE /api/v1/me/mfa/totp` body: exactly one of a TOTP
/// code and a recovery code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecondFactorBody {
    code: Option<SecretString>,
    recovery_code: Option<SecretString>,
}

impl SecondFactorBody {
    /// The factor, or 422 naming `code` when both or neither are given.
    pub(crate) fn factor(self) -> Result<SecondFactor, AppError> {
        match (self.code, self.recovery_code) {
            (Some(code), None) => Ok(SecondFactor::Totp(code)),
            (None, Some(code)) => Ok(SecondFactor::RecoveryCode(code)),
            _ => Err(AppError::validation(vec![FieldError::new(
                "code",
                "one_of",
                "give either code (from the authenticator app) or recovery_code",
            )])),
        }
    }
}

/// Completes a login waiting for its second factor: 200 with a new session cookie (the session
/// is established with two factors) and the pending cookie deleted; 401 `invalid_credentials`
/// for a wrong or replayed code; 401 `unauthorized` (pending cookie deleted) when the pending
/// step is missing, expired or already used; 429 when throttled.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa",
    tag = "auth",
    request_body = SecondFactorBody,
    responses(
        (status = 200, description = "Logged in with two factors: a new session cookie; the pending cookie is deleted.", body = LoginResponse),
        (status = 401, description = "Wrong or replayed code (`invalid_credentials`), or the pending step is missing, expired or used (`unauthorized`, pending cookie deleted).", body = crate::http::error::ErrorBody),
        (status = 422, description = "Both or neither of `code` and `recovery_code` (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("mfa_pending" = [])),
)]
pub(crate) async fn complete_mfa(
    challenge: MfaChallengeCookie,
    req: HttpRequest,
    body: web::Json<SecondFactorBody>,
) -> Result<HttpResponse, AppError> {
    let factor = body.into_inner().factor()?;
    match second_factor_login(&req, challenge, factor).await {
        Ok((logged_in, [session, clearing])) => Ok(HttpResponse::Ok()
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .cookie(session)
            .cookie(clearing)
            .json(LoginResponse { user: UserView::from(&logged_in.user), mfa_required: false })),
        Err(e) if e.code() == ErrorCode::Unauthorized => {
            let mut response = e.error_response();
            if let Ok(value) = header::HeaderValue::from_str(&clearing_mfa_cookie().to_string()) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            Ok(response)
        }
        Err(e) => Err(e),
    }
}

/// `POST /api/v1/auth/reauth` body: exactly one of the password, a TOTP code and a recovery
/// code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReauthBody {
    password: Option<SecretString>,
    code: Option<SecretString>,
    recovery_code: Option<SecretString>,
}

// "Exactly one of" is a `oneOf` in the document, which the derive cannot say.
impl utoipa::PartialSchema for SecondFactorBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        exactly_one_of(
            "`POST /api/v1/auth/mfa` and `DELETE /api/v1/me/mfa/totp` body: exactly one of a \
             TOTP code and a recovery code (the other absent or null).",
            &["code", "recovery_code"],
        )
    }
}

impl ToSchema for SecondFactorBody {}

impl utoipa::PartialSchema for ReauthBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        exactly_one_of(
            "`POST /api/v1/auth/reauth` body: exactly one of the password, a TOTP code and a \
             recovery code (the others absent or null).",
            &["password", "code", "recovery_code"],
        )
    }
}

impl ToSchema for ReauthBody {}

/// Re-authenticates the signed-in user (step-up): with the password, or with a TOTP code or a
/// recovery code (which also raise the session to two factors, and are the proof that changes
/// to an existing second factor need). 200 `{authenticated_at, aal}` with a new session
/// cookie; 422 `password`/`code`/`recovery_code` `incorrect`; 429 when throttled.
#[utoipa::path(
    post,
    path = "/api/v1/auth/reauth",
    tag = "auth",
    request_body = ReauthBody,
    responses(
        (status = 200, description = "Re-authenticated: a new session cookie.", body = ReauthResponse),
        (status = 422, description = "Wrong password or code, or not exactly one of `password`, `code` and `recovery_code` given (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrHashingBusy),
    ),
    security(("session" = [])),
)]
pub(crate) async fn reauth(
    session: CurrentSession,
    req: HttpRequest,
    body: JsonBody<ReauthBody>,
) -> Result<HttpResponse, actix_web::Error> {
    let proof = match body?.into_inner() {
        ReauthBody { password: Some(p), code: None, recovery_code: None } => {
            Reauthentication::Password(p)
        }
        ReauthBody { password: None, code: Some(c), recovery_code: None } => {
            Reauthentication::SecondFactor(SecondFactor::Totp(c))
        }
        ReauthBody { password: None, code: None, recovery_code: Some(c) } => {
            Reauthentication::SecondFactor(SecondFactor::RecoveryCode(c))
        }
        _ => {
            return Err(AppError::validation(vec![FieldError::new(
                "password",
                "one_of",
                "give one of password, code (from the authenticator app) or recovery_code",
            )])
            .into());
        }
    };
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let (token, proof) = blocking(move || auth.reauthenticate(&session.0, &proof, &meta)).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(token.expose()))
        .json(ReauthResponse { authenticated_at: rfc3339(proof.at), aal: proof.aal.as_i64() }))
}

/// Logs out: deletes the session on the server, deletes the cookie, and asks the browser to
/// drop this origin's cookies and storage (`Clear-Site-Data`). 204.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Logged out: the session cookie is deleted and `Clear-Site-Data` sent."),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn logout(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    end_current_session(session.0, &req).await?;
    Ok(signed_out())
}

/// Ends the principal's own session on the server (audited): the logout of the API and of
/// the account page's "Sign out" form.
pub(crate) async fn end_current_session(
    principal: Principal,
    req: &HttpRequest,
) -> Result<(), AppError> {
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    blocking(move || auth.logout(&principal, &meta)).await
}

/// 204 that deletes the session cookie and clears the site's data in the browser.
pub(crate) fn signed_out() -> HttpResponse {
    clear_session(&mut HttpResponse::NoContent()).finish()
}

/// Makes `response` end the session in the browser: deletes the session cookie, asks it to
/// drop this origin's cookies and storage (`Clear-Site-Data`), and keeps it out of caches.
pub(crate) fn clear_session(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((
            header::HeaderName::from_static("clear-site-data"),
            "\"cache\", \"cookies\", \"storage\"",
        ))
        .cookie(clearing_cookie())
}
