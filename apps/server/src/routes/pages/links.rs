//! The pages a mailed link opens, and the forms they post: `/account/verify-email` (address
//! verification and the confirmation of a new address) and `/account/reset-password`.
//!
//! A link carries its token in the URL's fragment (`#token=…`), which a browser never sends to
//! a server: it reaches no access log, no proxy log and no `Referer`. The page's one script, a
//! static file (`/static/link-token.js`, allowed by the page policy's `'self'`), moves it into
//! the form and drops it from the address bar; without JavaScript the code is pasted from the
//! mail. The forms post the token in the body and call the same rules as the JSON endpoints
//! (`routes/lifecycle.rs`). They need no session; like every form used without one they are
//! [`PublicForm`]s, whose token is bound to the form cookie the page set (a forged post could
//! only use a mailed token its sender already holds, but one rule for every form is simpler to
//! trust than an argument for each). Success is a 303 to a page that says so
//! (post/redirect/get); a refusal of what was typed shows the form again (200) with the reason,
//! never the password typed.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use sec_auth::Verified;
use sec_core::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Chrome, html, pages, second_factor, see_other, with_form_cookie};
use crate::auth::{PublicForm, auth_service, blocking, blocking_hashing, request_meta};
use crate::http::error::{AppError, ErrorCode, FieldError};
use crate::routes::assets;

/// `templates/verify_email.html`.
#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    script: &'static str,
    problem: Option<&'a str>,
}

/// `templates/reset_password.html`.
#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    script: &'static str,
    problem: Option<&'a str>,
    /// Kept when the refusal was about something else than the token.
    token: &'a str,
}

/// `templates/link_done.html`.
#[derive(Template)]
#[template(path = "link_done.html")]
struct DonePage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

pages!(VerifyPage<'_>, ResetPage<'_>, DonePage<'_>);

fn verify_form(req: &HttpRequest, problem: Option<&str>) -> Result<HttpResponse, AppError> {
    with_form_cookie(req, |token| {
        html(&VerifyPage {
            chrome: Chrome::public(req),
            csrf_token: token,
            script: assets::link_token_url(),
            problem,
        })
    })
}

fn reset_form(
    req: &HttpRequest,
    problem: Option<&str>,
    kept_token: &str,
) -> Result<HttpResponse, AppError> {
    with_form_cookie(req, |csrf_token| {
        html(&ResetPage {
            chrome: Chrome::public(req),
            csrf_token,
            script: assets::link_token_url(),
            problem,
            token: kept_token,
        })
    })
}

fn done(req: &HttpRequest, title: &str, message: &str) -> Result<HttpResponse, AppError> {
    html(&DonePage { chrome: Chrome::public(req), title, message })
}

/// The form of the verification page.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyForm {
    /// The token from the link.
    #[schema(value_type = String)]
    token: SecretString,
}

/// The form of the reset page.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetForm {
    /// The token from the link.
    #[schema(value_type = String)]
    token: SecretString,
    /// The new password.
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
    /// A TOTP code (six digits) or a recovery code; empty when the account has no second
    /// factor.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    code: Option<SecretString>,
}

/// The page a verification link opens: a form that posts the link's code.
#[utoipa::path(
    get,
    path = "/account/verify-email",
    tag = "pages",
    responses((status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html")),
)]
pub(crate) async fn verify_page(req: HttpRequest) -> Result<HttpResponse, AppError> {
    verify_form(&req, None)
}

/// Verifies the address (or moves the account to its new one) as `POST
/// /api/v1/auth/verify-email` does; 303 to the page that says so, or the form again (400)
/// for a wrong, expired or used code.
#[utoipa::path(
    post,
    path = "/account/verify-email",
    tag = "pages",
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code is wrong, expired or used, or another account has the new address now: the form again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Verified.", headers(("Location" = String, description = "`/account/email-verified` or `/account/email-changed`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = crate::routes::responses::DatabaseUnavailable),
    ),
)]
pub(crate) async fn verify_submit(
    req: HttpRequest,
    form: PublicForm<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let VerifyForm { token } = form.0;
    let outcome = blocking(move || auth.verify_email(token.expose_secret(), &meta)).await;
    match outcome {
        Ok(Verified::Address) => Ok(see_other("/account/email-verified")),
        Ok(Verified::NewAddress) => Ok(see_other("/account/email-changed")),
        Err(e) => match e.code() {
            ErrorCode::InvalidToken => verify_form(&req, Some(STALE_LINK)),
            ErrorCode::ValidationFailed => {
                verify_form(&req, Some("Another account has this address now."))
            }
            _ => Err(e),
        },
    }
}

/// What a page says for a wrong, expired or used link.
const STALE_LINK: &str = "This code is wrong, has expired or was used already. Ask for a new link.";

/// The page a reset link opens: a form for the code, the new password and, for an account with
/// a second factor, its code.
#[utoipa::path(
    get,
    path = "/account/reset-password",
    tag = "pages",
    responses((status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html")),
)]
pub(crate) async fn reset_page(req: HttpRequest) -> Result<HttpResponse, AppError> {
    reset_form(&req, None, "")
}

/// Sets the new password as `POST /api/v1/auth/password-reset/complete` does; 303 to the page
/// that says so, or the form again with the reason.
#[utoipa::path(
    post,
    path = "/account/reset-password",
    tag = "pages",
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code from the e-mail is wrong, expired or used, the password is refused, the second factor is missing or wrong, or throttled: the form again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "The password is set; every session of the account ended.", headers(("Location" = String, description = "`/account/password-reset`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = crate::routes::responses::DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn reset_submit(
    req: HttpRequest,
    form: PublicForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let ResetForm { token, new_password, code } = form.0;
    let factor = code.filter(|c| !c.expose_secret().trim().is_empty()).map(|c| second_factor(&c));
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let kept = token.expose_secret().to_owned();
    let outcome = blocking_hashing(&req, move || {
        auth.complete_password_reset(token.expose_secret(), &new_password, factor.as_ref(), &meta)
    })
    .await;
    match outcome {
        Ok(()) => Ok(see_other("/account/password-reset")),
        Err(e) => match e.code() {
            ErrorCode::InvalidToken => reset_form(&req, Some(STALE_LINK), ""),
            ErrorCode::ValidationFailed => {
                let reasons: Vec<&str> =
                    e.fields().iter().map(|f: &FieldError| f.reason.as_str()).collect();
                reset_form(&req, Some(&reasons.join("; ")), &kept)
            }
            _ => match super::throttled(&e) {
                Some(reason) => reset_form(&req, Some(&reason), &kept),
                None => Err(e),
            },
        },
    }
}

/// Where a verified address leads.
#[utoipa::path(
    get,
    path = "/account/email-verified",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn email_verified(req: HttpRequest) -> Result<HttpResponse, AppError> {
    done(&req, "Address confirmed", "Your e-mail address is confirmed. You can sign in.")
}

/// Where a confirmed new address leads.
#[utoipa::path(
    get,
    path = "/account/email-changed",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn email_changed(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let message = "Your account now uses the new address. Your old address was told.";
    done(&req, "Address changed", message)
}

/// Where a reset leads.
#[utoipa::path(
    get,
    path = "/account/password-reset",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn password_reset(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let message = "Your new password is set, and every session of your account has ended. \
                   Sign in with the new password.";
    done(&req, "Password changed", message)
}
