//! The pages a mailed link opens, and the forms they post: `/account/verify-email` (address
//! verification and the confirmation of a new address) and `/account/reset-password`.
//!
//! A link carries its token in the URL's fragment (`#token=…`), which a browser never sends to
//! a server: it reaches no access log, no proxy log and no `Referer`. The page's one script, a
//! static file (`/static/link-token.js`, allowed by the page policy's `'self'`), moves it into
//! the form and drops it from the address bar; without JavaScript the code is pasted from the
//! mail. The forms post the token in the body and call the same rules as the JSON endpoints
//! (`routes/lifecycle.rs`). They need no session, so they carry no form token: a forged post
//! could only use a token its sender already holds, on that sender's own account. Success is a
//! 303 to a page that says so (post/redirect/get); a refusal of what was typed shows the form
//! again (200, as every error status leaves the server as the JSON error body) with the
//! reason, never the password typed.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sec_auth::{SecondFactor, Verified};
use sec_core::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::pages::{html, see_other};
use crate::auth::{auth_service, blocking, blocking_hashing, request_meta};
use crate::http::error::{AppError, FieldError};

/// The script of these pages.
const LINK_TOKEN_JS: &str = include_str!("../../static/link-token.js");

/// `templates/verify_email.html`.
#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage<'a> {
    problem: Option<&'a str>,
}

/// `templates/reset_password.html`.
#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    problem: Option<&'a str>,
    /// Kept when the refusal was about something else than the token.
    token: &'a str,
}

/// `templates/link_done.html`.
#[derive(Template)]
#[template(path = "link_done.html")]
struct DonePage<'a> {
    title: &'a str,
    message: &'a str,
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
    responses((status = 200, description = "The form, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn verify_page() -> Result<HttpResponse, AppError> {
    html(&VerifyPage { problem: None })
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
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::responses::DatabaseUnavailable),
    ),
)]
pub(crate) async fn verify_submit(
    req: HttpRequest,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let VerifyForm { token } = form.into_inner();
    let outcome =
        blocking(move || auth.verify_email(secrecy::ExposeSecret::expose_secret(&token), &meta))
            .await;
    match outcome {
        Ok(Verified::Address) => Ok(see_other("/account/email-verified")),
        Ok(Verified::NewAddress) => Ok(see_other("/account/email-changed")),
        Err(e) => match e.code() {
            crate::http::error::ErrorCode::InvalidToken => html(&VerifyPage {
                problem: Some(
                    "This code is wrong, has expired or was used already. Ask for a new link.",
                ),
            }),
            crate::http::error::ErrorCode::ValidationFailed => {
                html(&VerifyPage { problem: Some("Another account has this address now.") })
            }
            _ => Err(e),
        },
    }
}

/// The page a reset link opens: a form for the code, the new password and, for an account with
/// a second factor, its code.
#[utoipa::path(
    get,
    path = "/account/reset-password",
    tag = "pages",
    responses((status = 200, description = "The form, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn reset_page() -> Result<HttpResponse, AppError> {
    html(&ResetPage { problem: None, token: "" })
}

/// Sets the new password as `POST /api/v1/auth/password-reset/complete` does; 303 to the page
/// that says so, or the form again with the reason.
#[utoipa::path(
    post,
    path = "/account/reset-password",
    tag = "pages",
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code from the e-mail is wrong, expired or used, the password is refused, or the second factor is missing or wrong: the form again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "The password is set; every session of the account ended.", headers(("Location" = String, description = "`/account/password-reset`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 429, response = super::responses::ThrottledAttempts),
        (status = 503, response = super::responses::DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn reset_submit(
    req: HttpRequest,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let ResetForm { token, new_password, code } = form.into_inner();
    let factor =
        code.filter(|c| !secrecy::ExposeSecret::expose_secret(c).trim().is_empty()).map(|c| {
            let text = secrecy::ExposeSecret::expose_secret(&c).trim();
            if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
                SecondFactor::Totp(SecretString::from(text.to_owned()))
            } else {
                SecondFactor::RecoveryCode(SecretString::from(text.to_owned()))
            }
        });
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let kept = secrecy::ExposeSecret::expose_secret(&token).to_owned();
    let outcome = blocking_hashing(&req, move || {
        auth.complete_password_reset(
            secrecy::ExposeSecret::expose_secret(&token),
            &new_password,
            factor.as_ref(),
            &meta,
        )
    })
    .await;
    match outcome {
        Ok(()) => Ok(see_other("/account/password-reset")),
        Err(e) => {
            let problem = match e.code() {
                crate::http::error::ErrorCode::InvalidToken => {
                    "This code is wrong, has expired or was used already. Ask for a new link."
                        .to_owned()
                }
                crate::http::error::ErrorCode::ValidationFailed => e
                    .fields()
                    .iter()
                    .map(|f: &FieldError| f.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => return Err(e),
            };
            let token =
                if e.code() == crate::http::error::ErrorCode::InvalidToken { "" } else { &kept };
            html(&ResetPage { problem: Some(&problem), token })
        }
    }
}

/// Where a verified address leads.
#[utoipa::path(
    get,
    path = "/account/email-verified",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn email_verified() -> Result<HttpResponse, AppError> {
    let message = "Your e-mail address is confirmed. You can sign in.";
    html(&DonePage { title: "Address confirmed", message })
}

/// Where a confirmed new address leads.
#[utoipa::path(
    get,
    path = "/account/email-changed",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn email_changed() -> Result<HttpResponse, AppError> {
    let message = "Your account now uses the new address. Your old address was told.";
    html(&DonePage { title: "Address changed", message })
}

/// Where a reset leads.
#[utoipa::path(
    get,
    path = "/account/password-reset",
    tag = "pages",
    responses((status = 200, description = "The page that says so, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn password_reset() -> Result<HttpResponse, AppError> {
    let message = "Your new password is set, and every session of your account has ended. \
                   Sign in with the new password.";
    html(&DonePage { title: "Password changed", message })
}

/// The script of the link pages (a static file of this build; cached for a day).
#[utoipa::path(
    get,
    path = "/static/link-token.js",
    tag = "pages",
    responses((status = 200, description = "JavaScript.", body = String, content_type = "text/javascript")),
)]
pub(crate) async fn link_token_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(86_400)]))
        .body(LINK_TOKEN_JS)
}
