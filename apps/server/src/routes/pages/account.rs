//! `/account*`: the signed-in user's account page (profile, password, e-mail address,
//! sessions), signing out, ending sessions, and the confirmation (step-up) page that sensitive
//! actions lead to.
//!
//! Each form has the access rule of its API twin: changing the password or the address and
//! ending sessions need a recent authentication ([`RecentVerifiedForm`]), as
//! `PUT /api/v1/me/password`, `PUT /api/v1/me/email` and `DELETE /api/v1/me/sessions*` do. When
//! the authentication is older, a browser is sent to [`CONFIRM`] (see [`super::errors`]),
//! which re-authenticates as `POST /api/v1/auth/reauth` does and comes back.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sec_auth::{Permission, Principal, Reauthentication};
use sec_core::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    Chrome, Flash, Next, NoFields, Problems, html, pages, second_factor, see_other_builder,
    see_other_with, throttled,
};
use crate::auth::{
    CurrentSession, RecentVerifiedForm, VerifiedForm, auth_service, blocking, form_token,
    request_meta, session_cookie,
};
use crate::http::error::{AppError, ErrorCode};
use crate::routes::auth::{clear_session, end_current_session};
use crate::routes::me::end_session;
use crate::routes::responses::DatabaseUnavailable;
use crate::routes::views::SessionView;

/// Where a signed-out browser is sent.
const SIGNED_OUT: &str = "/account/signed-out";

/// `templates/account.html`.
#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    chrome: Chrome,
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    csrf_token: &'a str,
    sessions: Vec<SessionView>,
    problems: Problems,
    /// The new address typed into the address form, kept when it was refused.
    new_email: &'a str,
}

/// `templates/signed_out.html`.
#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage {
    chrome: Chrome,
}

/// `templates/confirm.html`.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    problems: Problems,
    next: &'a str,
    /// The account has TOTP: the proof asked for is a code (which also counts as a second
    /// factor); otherwise the password.
    totp: bool,
    /// The action needs a second factor and the account has none: say so instead of asking.
    needs_enrollment: bool,
}

pages!(AccountPage<'_>, SignedOutPage, ConfirmPage<'_>);

/// Whether `principal` may open the administration page (for the navigation).
pub(crate) async fn may_administer(req: &HttpRequest, principal: &Principal) -> bool {
    let Ok(auth) = auth_service(req) else { return false };
    let id = principal.user.id;
    blocking(move || auth.permissions(id))
        .await
        .is_ok_and(|set| set.contains(Permission::UsersRead))
}

/// The frame of a signed-in user's page.
pub(crate) async fn chrome_for(req: &HttpRequest, principal: &Principal) -> Chrome {
    Chrome::signed_in(req, may_administer(req, principal).await)
}

/// The account page for `principal`, with `problems` next to the forms they belong to.
async fn account_page(
    req: &HttpRequest,
    principal: Principal,
    problems: Problems,
    new_email: &str,
) -> Result<HttpResponse, AppError> {
    // The token of the cookie the browser holds after this response (a reissued one included).
    let csrf_token = form_token(req)?;
    let auth = auth_service(req)?;
    let chrome = chrome_for(req, &principal).await;
    let user = principal.user.clone();
    let current = principal.session.id;
    let list = blocking(move || auth.sessions(&principal)).await?;
    html(&AccountPage {
        chrome,
        username: &user.username,
        email: &user.email,
        email_verified: user.email_verified_at.is_some(),
        csrf_token: &csrf_token,
        sessions: list.iter().map(|s| SessionView::new(s, s.id == current)).collect(),
        problems,
        new_email,
    })
}

/// The account page: the signed-in user's name and address, forms to change the password and
/// the address, their sessions (newest first, this one marked) with an "End" form for each
/// other one and one to end them all, and "Sign out".
#[utoipa::path(
    get,
    path = "/account",
    tag = "pages",
    responses(
        (status = 200, description = "The account page, HTML with the session's form token in its forms.", body = String, content_type = "text/html"),
        (status = 401, description = "No valid session (`unauthorized`; a browser is sent to `/login?next=%2Faccount`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn account(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    account_page(&req, session.0, Problems::default(), "").await
}

/// 303 to the signed-out page that also ends the session in the browser.
fn signed_out_redirect() -> HttpResponse {
    clear_session(&mut see_other_builder(SIGNED_OUT)).finish()
}

/// The "Sign out" form: ends this session exactly as `POST /api/v1/auth/logout` does, then
/// 303 to the signed-out page with the cookie deleted and `Clear-Site-Data` sent.
#[utoipa::path(
    post,
    path = "/account/sign-out",
    tag = "pages",
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out: the session is ended, its cookie deleted and `Clear-Site-Data` sent.", headers(("Location" = String, description = "`/account/signed-out`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn sign_out(
    form: VerifiedForm<NoFields>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    end_current_session(form.session.0, &req).await?;
    Ok(signed_out_redirect())
}

/// An "End" form of the session list: ends that session of the signed-in user exactly as
/// `DELETE /api/v1/me/sessions/{id}` does, under the same rule (a recent authentication, so a
/// stolen session cannot end the owner's sessions one by one through the page), then 303 back
/// to the account page (or, for this very session, to the signed-out page, as "Sign out"
/// does).
#[utoipa::path(
    post,
    path = "/account/sessions/{id}/end",
    tag = "pages",
    params(("id" = String, Path, description = "The session id (a UUID); anything else is 404.")),
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Ended; back to the account page (to the signed-out page, cookie deleted, when it was this session).", headers(("Location" = String, description = "`/account`, or `/account/signed-out`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 404, description = "Not one of this user's sessions (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn end_other_session(
    form: RecentVerifiedForm<NoFields>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let current = end_session(form.session.0, &req, &path.into_inner()).await?;
    Ok(if current {
        signed_out_redirect()
    } else {
        see_other_with(super::ACCOUNT, Flash::SessionEnded)
    })
}

/// "Sign out everywhere else": ends every other session of the signed-in user as
/// `DELETE /api/v1/me/sessions` does (a recent authentication), then 303 to the account page.
#[utoipa::path(
    post,
    path = "/account/sessions/end-others",
    tag = "pages",
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Every other session ended.", headers(("Location" = String, description = "`/account`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn end_other_sessions(
    form: RecentVerifiedForm<NoFields>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let principal = form.session.0;
    blocking(move || auth.revoke_other_sessions(&principal, &meta)).await?;
    Ok(see_other_with(super::ACCOUNT, Flash::OtherSessionsEnded))
}

/// The password form's fields: those of `PUT /api/v1/me/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordForm {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

/// Changes the password as `PUT /api/v1/me/password` does (every other session ends, this one
/// gets a new cookie), then 303 to the account page; a refusal shows the page again with the
/// reason next to the field.
#[utoipa::path(
    post,
    path = "/account/password",
    tag = "pages",
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Refused (wrong current password, or a new one the rules refuse, or throttled): the page again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Changed: a new session cookie.", headers(("Location" = String, description = "`/account`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = crate::routes::responses::DatabaseOrHashingBusy),
    ),
    security(("session" = [])),
)]
pub(crate) async fn password_submit(
    form: RecentVerifiedForm<PasswordForm>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let PasswordForm { current_password, new_password } = form.fields;
    let principal = form.session.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let who = principal.clone();
    let outcome =
        blocking(move || auth.change_password(&who, &current_password, &new_password, &meta)).await;
    let problems = match outcome {
        Ok(token) => {
            return Ok(see_other_builder(super::ACCOUNT)
                .cookie(session_cookie(token.expose()))
                .cookie(Flash::PasswordChanged.cookie())
                .finish());
        }
        Err(e) if e.code() == ErrorCode::ValidationFailed => Problems::from_fields(e.fields()),
        Err(e) => match throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    account_page(&req, principal, problems, "").await
}

/// The address form's field: that of `PUT /api/v1/me/email`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailForm {
    #[schema(format = Email)]
    email: String,
}

/// Asks to move the account to a new address as `PUT /api/v1/me/email` does (a link goes to
/// the new address, a notice to the old one), then 303 to the account page; a refused address
/// shows the page again with the reason and what was typed.
#[utoipa::path(
    post,
    path = "/account/email",
    tag = "pages",
    request_body(content = EmailForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The address is refused: the page again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Asked: a link is on its way to the new address.", headers(("Location" = String, description = "`/account`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn email_submit(
    form: RecentVerifiedForm<EmailForm>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let EmailForm { email } = form.fields;
    let principal = form.session.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let (who, typed) = (principal.clone(), email.clone());
    let outcome = blocking(move || auth.request_email_change(&who, &typed, &meta)).await;
    let problems = match outcome {
        Ok(()) => return Ok(see_other_with(super::ACCOUNT, Flash::EmailChangeRequested)),
        Err(e) if e.code() == ErrorCode::ValidationFailed => Problems::from_fields(e.fields()),
        Err(e) => return Err(e),
    };
    account_page(&req, principal, problems, &email).await
}

/// `?next=&factor=` of the confirmation page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmQuery {
    next: Option<String>,
    /// Set when the action needs a second factor (`mfa_required`).
    #[serde(default)]
    factor: bool,
}

async fn confirm_page(
    req: &HttpRequest,
    principal: Principal,
    problems: Problems,
    next: Next,
    factor: bool,
) -> Result<HttpResponse, AppError> {
    let csrf_token = form_token(req)?;
    let auth = auth_service(req)?;
    let chrome = chrome_for(req, &principal).await;
    let status = blocking(move || auth.mfa_status(&principal)).await?;
    html(&ConfirmPage {
        chrome,
        csrf_token: &csrf_token,
        problems,
        next: next.path(),
        totp: status.totp_enabled,
        needs_enrollment: factor && !status.totp_enabled,
    })
}

/// The confirmation (step-up) page: asks for the password, or, on an account with TOTP, for a
/// code, then returns to `next`. A browser is sent here when an action needs a more recent
/// authentication, or a second factor this session has not proved.
#[utoipa::path(
    get,
    path = "/account/confirm",
    tag = "pages",
    params(
        ("next" = Option<String>, Query, description = "The page to return to: `/account`, `/account/mfa` or `/admin/users`; anything else is ignored."),
        ("factor" = Option<bool>, Query, description = "The action needs a second factor."),
    ),
    responses(
        (status = 200, description = "The form, HTML.", body = String, content_type = "text/html"),
        (status = 400, description = "An unknown or malformed query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session (`unauthorized`; a browser is sent to `/login`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn confirm_form(
    session: CurrentSession,
    req: HttpRequest,
    query: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, AppError> {
    let next = Next::parse(query.next.as_deref());
    confirm_page(&req, session.0, Problems::default(), next, query.factor).await
}

/// The confirmation form's fields: the password or a code (from the app, or a recovery code),
/// and the page to return to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmForm {
    #[schema(value_type = Option<String>, format = Password)]
    #[serde(default)]
    password: Option<SecretString>,
    #[schema(value_type = Option<String>, format = Password)]
    #[serde(default)]
    code: Option<SecretString>,
    #[serde(default)]
    next: Option<String>,
}

/// Re-authenticates as `POST /api/v1/auth/reauth` does (a code also raises the session to two
/// factors), then 303 to `next` with the new session cookie; a wrong answer shows the form
/// again.
#[utoipa::path(
    post,
    path = "/account/confirm",
    tag = "pages",
    request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Wrong password or code, neither or both given, or throttled: the form again, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Confirmed: a new session cookie.", headers(("Location" = String, description = "The page asked for (`/account` by default)."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = crate::routes::responses::DatabaseOrHashingBusy),
    ),
    security(("session" = [])),
)]
pub(crate) async fn confirm_submit(
    form: VerifiedForm<ConfirmForm>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let ConfirmForm { password, code, next } = form.fields;
    let next = Next::parse(next.as_deref());
    let principal = form.session.0;
    let given = |s: &Option<SecretString>| {
        s.as_ref().is_some_and(|v| !sec_core::ExposeSecret::expose_secret(v).is_empty())
    };
    let proof = match (given(&password), given(&code), password, code) {
        (true, false, Some(p), _) => Reauthentication::Password(p),
        (false, true, _, Some(c)) => Reauthentication::SecondFactor(second_factor(&c)),
        _ => {
            let problems = Problems::form("Type your password, or a code.");
            return confirm_page(&req, principal, problems, next, false).await;
        }
    };
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let who = principal.clone();
    let outcome = blocking(move || auth.reauthenticate(&who, &proof, &meta)).await;
    let problems = match outcome {
        Ok((token, _)) => {
            return Ok(see_other_builder(next.path())
                .cookie(session_cookie(token.expose()))
                .finish());
        }
        Err(e) if e.code() == ErrorCode::ValidationFailed => {
            Problems::form("That is not right. Please try again.")
        }
        Err(e) => match throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    confirm_page(&req, principal, problems, next, false).await
}

/// Where "Sign out" leads: a page that says so. Public: the session is gone by then.
#[utoipa::path(
    get,
    path = "/account/signed-out",
    tag = "pages",
    responses(
        (status = 200, description = "The signed-out page, HTML.", body = String, content_type = "text/html"),
    ),
)]
pub(crate) async fn signed_out(req: HttpRequest) -> Result<HttpResponse, AppError> {
    html(&SignedOutPage { chrome: Chrome::public(&req) })
}
