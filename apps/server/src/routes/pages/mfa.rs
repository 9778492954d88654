//! `/account/mfa*`: the second factor of the signed-in user: its status, enrolling an
//! authenticator app (the QR code and the secret as text, then a code to confirm), recovery
//! codes, turning it off.
//!
//! Every form is a [`FactorChangeForm`]: the rule of `/api/v1/me/mfa/*` (a recent
//! authentication and, once the account has a factor, a recent proof of it), by the same
//! function. The new secret and the recovery codes are shown once, in the answer of the form
//! that made them: they are never stored for a later page.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sec_auth::{MfaStatus, Principal};
use sec_core::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use super::account::chrome_for;
use super::{Chrome, Flash, NoFields, Problems, html, pages, second_factor, see_other_with};
use crate::auth::{
    CurrentSession, FactorChangeForm, auth_service, blocking, form_token, request_meta,
    session_cookie,
};
use crate::http::error::{AppError, ErrorCode};
use crate::routes::mfa::shown;
use crate::routes::responses::{DatabaseOrNoMfaKey, DatabaseUnavailable};
use crate::routes::views::rfc3339;

/// Where the forms lead.
const MFA_PAGE: &str = "/account/mfa";

/// `templates/mfa.html`.
#[derive(Template)]
#[template(path = "mfa.html")]
struct StatusPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    status: MfaStatus,
    enabled_at: Option<String>,
    problems: Problems,
}

/// `templates/mfa_enroll.html`: the new secret, once; or, after a wrong code, the form alone.
#[derive(Template)]
#[template(path = "mfa_enroll.html")]
struct EnrollPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    /// The QR code, an SVG element of our own making.
    qr_svg: Option<String>,
    /// The secret in groups of four, for typing by hand.
    secret: Option<String>,
    problems: Problems,
}

/// `templates/mfa_codes.html`.
#[derive(Template)]
#[template(path = "mfa_codes.html")]
struct CodesPage {
    chrome: Chrome,
    codes: Vec<String>,
    /// The codes came with a new enrollment (else: replaced).
    enrolled: bool,
}

pages!(StatusPage<'_>, EnrollPage<'_>, CodesPage);

async fn status_page(
    req: &HttpRequest,
    principal: Principal,
    problems: Problems,
) -> Result<HttpResponse, AppError> {
    let csrf_token = form_token(req)?;
    let auth = auth_service(req)?;
    let chrome = chrome_for(req, &principal).await;
    let status = blocking(move || auth.mfa_status(&principal)).await?;
    html(&StatusPage {
        chrome,
        csrf_token: &csrf_token,
        enabled_at: status.enabled_at.map(rfc3339),
        status,
        problems,
    })
}

/// The second factor's page: whether TOTP is on, since when, how many recovery codes are left,
/// and the forms to set it up, replace the recovery codes or turn it off.
#[utoipa::path(
    get,
    path = "/account/mfa",
    tag = "pages",
    responses(
        (status = 200, description = "The page, HTML.", body = String, content_type = "text/html"),
        (status = 401, description = "No valid session (`unauthorized`; a browser is sent to `/login?next=%2Faccount%2Fmfa`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn mfa_page(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    status_page(&req, session.0, Problems::default()).await
}

/// The base32 secret of an `otpauth://` URI, in groups of four.
fn secret_of(uri: &SecretString) -> Option<String> {
    let query = uri.expose_secret().split_once('?')?.1;
    let secret = query.split('&').find_map(|pair| pair.strip_prefix("secret="))?;
    let grouped: Vec<String> =
        secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    Some(grouped.join(" "))
}

/// The SVG element of a `data:image/svg+xml;base64,` URI made by `sec_auth`, with the page's
/// id and an accessible name. It is our own markup (rectangles and one path, no text of the
/// URI), so it may go into the page as it is; an inline element needs no `img-src data:`.
fn inline_svg(data_uri: &SecretString) -> Option<String> {
    let encoded = data_uri.expose_secret().strip_prefix("data:image/svg+xml;base64,")?;
    let svg = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let rest = svg.strip_prefix("<svg ")?;
    Some(format!(
        "<svg id=\"totp-qr\" role=\"img\" aria-label=\"QR code of the new secret\" {rest}"
    ))
}

/// Starts an enrollment as `POST /api/v1/me/mfa/totp` does; the answer is the page with the
/// QR code, the secret as text and the form to confirm it (shown this once, not stored for a
/// reload).
#[utoipa::path(
    post,
    path = "/account/mfa/totp",
    tag = "pages",
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The new secret as a QR code and as text, and the form to confirm it, HTML.", body = String, content_type = "text/html"),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`), or the account's factor was not proved recently (`mfa_required`; a browser is sent to `/account/confirm`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn enrollment_begin(
    form: FactorChangeForm<NoFields>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let principal = form.session.0;
    let csrf_token = form_token(&req)?;
    let auth = auth_service(&req)?;
    let chrome = chrome_for(&req, &principal).await;
    let enrollment = blocking(move || auth.begin_totp_enrollment(&principal)).await?;
    let qr_svg = inline_svg(&enrollment.qr_svg);
    let secret = secret_of(&enrollment.otpauth_uri);
    if qr_svg.is_none() || secret.is_none() {
        return Err(AppError::internal("the enrollment's QR code or secret did not parse"));
    }
    html(&EnrollPage {
        chrome,
        csrf_token: &csrf_token,
        qr_svg,
        secret,
        problems: Problems::default(),
    })
}

/// The confirmation's field: a code of the new secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeForm {
    /// Six digits from the authenticator app (turning TOTP off also takes a recovery code).
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

/// Confirms the enrollment as `POST /api/v1/me/mfa/totp/confirm` does (every other session
/// ends, this one gets a new cookie with two factors); the answer lists the ten recovery
/// codes, this once. A wrong code shows the form again.
#[utoipa::path(
    post,
    path = "/account/mfa/totp/confirm",
    tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TOTP is on: the recovery codes, HTML (a new session cookie); or a wrong code, no enrollment, or throttled: the form again.", body = String, content_type = "text/html"),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`), or the account's factor was not proved recently (`mfa_required`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn enrollment_confirm(
    form: FactorChangeForm<CodeForm>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let code = form.fields.code;
    let principal = form.session.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let chrome = chrome_for(&req, &principal).await;
    let who = principal.clone();
    let outcome = blocking(move || auth.confirm_totp_enrollment(&who, &code, &meta)).await;
    let problems = match outcome {
        Ok(confirmed) => {
            let page =
                CodesPage { chrome, codes: shown(&confirmed.recovery_codes), enrolled: true };
            let mut response = html(&page)?;
            response
                .add_cookie(&session_cookie(confirmed.token.expose()))
                .map_err(AppError::internal)?;
            return Ok(response);
        }
        Err(e) if e.code() == ErrorCode::ValidationFailed => Problems::form(
            "That code is not right. Check the clock of your device, and type the code it \
             shows now; or start again below.",
        ),
        Err(e) => match super::throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    let csrf_token = form_token(&req)?;
    html(&EnrollPage { chrome, csrf_token: &csrf_token, qr_svg: None, secret: None, problems })
}

/// Replaces the recovery codes as `POST /api/v1/me/mfa/recovery-codes` does; the answer lists
/// the new ones, this once.
#[utoipa::path(
    post,
    path = "/account/mfa/recovery-codes",
    tag = "pages",
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The ten new codes, HTML.", body = String, content_type = "text/html"),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`), or the account's factor was not proved recently (`mfa_required`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "TOTP is not on (`mfa_not_enabled`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn regenerate(
    form: FactorChangeForm<NoFields>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let principal = form.session.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let chrome = chrome_for(&req, &principal).await;
    let codes = blocking(move || auth.regenerate_recovery_codes(&principal, &meta)).await?;
    html(&CodesPage { chrome, codes: shown(&codes), enrolled: false })
}

/// Turns TOTP off as `DELETE /api/v1/me/mfa/totp` does (a code from the app or a recovery code
/// is needed; every other session ends), then 303 to the page; a wrong code shows it again.
#[utoipa::path(
    post,
    path = "/account/mfa/totp/off",
    tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Wrong code, or throttled: the page again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Off.", headers(("Location" = String, description = "`/account/mfa`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`), or the account's factor was not proved recently (`mfa_required`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "TOTP is not on (`mfa_not_enabled`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn turn_off(
    form: FactorChangeForm<CodeForm>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let factor = second_factor(&form.fields.code);
    let principal = form.session.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let who = principal.clone();
    let outcome = blocking(move || auth.disable_totp(&who, &factor, &meta)).await;
    let problems = match outcome {
        Ok(_) => return Ok(see_other_with(MFA_PAGE, Flash::MfaOff)),
        Err(e) if e.code() == ErrorCode::ValidationFailed => {
            Problems::form("That code is not right, or was used already.")
        }
        Err(e) => match super::throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    status_page(&req, principal, problems).await
}
