//! The account lifecycle's JSON endpoints (docs/auth.md, "Account lifecycle"): verifying an
//! address, asking for a new verification link, password reset, moving an account to a new
//! address, and an administrator's reset of a lost second factor or password.
//!
//! The answers that could tell whether an account exists are the same for every identifier:
//! `202 {"status": "accepted"}`, after the same work. For a reset request that work is only the
//! throttle check: what differs between a known and an unknown account (a token and a queued
//! mail, or nothing) runs after the answer has left.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use sec_auth::{Auth, AuthError, RequestMeta, SecondFactor, Verified};
use sec_core::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonBody;
use super::responses::{DatabaseOrHashingBusy, DatabaseUnavailable, ThrottledAttempts};
use crate::auth::{
    RecentSession, Require, auth_service, blocking, blocking_hashing, perm, request_meta,
};
use crate::http::error::{AppError, FieldError};

/// The answer that says nothing about the account: a mail is on its way if there is someone to
/// send it to.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Accepted {
    /// Always `accepted`.
    #[schema(example = "accepted")]
    status: &'static str,
}

/// 202 `{"status": "accepted"}`, not cached.
pub(crate) fn accepted() -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(Accepted { status: "accepted" })
}

/// A link's token, as the page of the link posts it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    /// The token from the link (43 URL-safe Base64 characters).
    #[schema(value_type = String, min_length = 43, max_length = 43)]
    token: SecretString,
}

/// What a verification link did.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifiedResponse {
    /// `verified`: the account's address is verified; `email_changed`: the account now has
    /// the new address, verified.
    #[schema(example = "verified")]
    status: &'static str,
}

/// Uses a verification link (the token from its fragment): the account's address is verified,
/// or, for a change of address, the account moves to the new one. 200; 400 `invalid_token` for
/// a wrong, expired or used link; 422 when another account took the new address meanwhile.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify-email",
    tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The address is verified (`verified`), or the account moved to it (`email_changed`).", body = VerifiedResponse),
        (status = 400, description = "Wrong, expired or used link (`invalid_token`).", body = crate::http::error::ErrorBody),
        (status = 422, description = "Another account has the new address now (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub(crate) async fn verify_email(
    req: HttpRequest,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let TokenBody { token } = body.into_inner();
    let verified =
        blocking(move || auth.verify_email(secrecy::ExposeSecret::expose_secret(&token), &meta))
            .await?;
    let status = match verified {
        Verified::Address => "verified",
        Verified::NewAddress => "email_changed",
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(VerifiedResponse { status }))
}

/// `POST /api/v1/auth/verify-email/resend` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendBody {
    /// The account's address.
    #[schema(max_length = 254)]
    email: String,
}

/// Sends a new verification link if `email` is the unverified address of an account (earlier
/// links stop working). 202 whatever the address; 429 when asked too often for one address or
/// from one client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify-email/resend",
    tag = "auth",
    request_body = ResendBody,
    responses(
        (status = 202, description = "Accepted: a link is on its way if the address is an account's, unverified (the same answer otherwise).", body = Accepted),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub(crate) async fn resend_verification(
    req: HttpRequest,
    body: web::Json<ResendBody>,
) -> Result<HttpResponse, AppError> {
    let ResendBody { email } = body.into_inner();
    throttled_then_after_answer(
        &req,
        email,
        Auth::reserve_verification_resend,
        Auth::resend_verification,
        "verification resend",
    )
    .await?;
    Ok(accepted())
}

/// `POST /api/v1/auth/password-reset` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequestBody {
    /// A user name or e-mail address.
    #[schema(max_length = 254)]
    identifier: String,
}

/// Asks for a password reset: a link valid for `auth.password_reset_ttl_secs` (30 minutes)
/// goes to the account's address if `identifier` names an enabled account. 202 whatever the
/// identifier, after the same work; 429 when asked too often for one identifier or from one
/// client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "auth",
    request_body = ResetRequestBody,
    responses(
        (status = 202, description = "Accepted: a link is on its way if the identifier names an account (the same answer otherwise).", body = Accepted),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub(crate) async fn request_password_reset(
    req: HttpRequest,
    body: web::Json<ResetRequestBody>,
) -> Result<HttpResponse, AppError> {
    let ResetRequestBody { identifier } = body.into_inner();
    throttled_then_after_answer(
        &req,
        identifier,
        Auth::reserve_password_reset,
        Auth::send_password_reset,
        "password reset",
    )
    .await?;
    Ok(accepted())
}

/// A rule of the account's mail, given the identifier a request names.
pub(crate) type MailStep = fn(&Auth, &str, &RequestMeta) -> Result<(), AuthError>;

/// A request that may send mail to an account: `reserve` (the throttle, the same work for every
/// identifier) decides the answer; `send`, the part that differs between known and unknown
/// accounts, runs after the answer has left, so its time cannot show in it. A failure of
/// `send` is logged. The API's handlers and the pages' forms both ask through here.
pub(crate) async fn throttled_then_after_answer(
    req: &HttpRequest,
    identifier: String,
    reserve: MailStep,
    send: MailStep,
    what: &'static str,
) -> Result<(), AppError> {
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    let (check, check_meta, check_identifier) = (auth.clone(), meta.clone(), identifier.clone());
    blocking(move || reserve(&check, &check_identifier, &check_meta)).await?;
    actix_web::rt::spawn(async move {
        if let Err(e) = blocking(move || send(&auth, &identifier, &meta)).await {
            tracing::error!(error = %e, what, "the mail step after the answer failed");
        }
    });
    Ok(())
}

/// `POST /api/v1/auth/password-reset/complete` body. `code` or `recovery_code` is needed when
/// the account has a second factor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetBody {
    /// The token from the link.
    #[schema(value_type = String, min_length = 43, max_length = 43)]
    token: SecretString,
    /// The password rules of registration.
    #[schema(value_type = String, format = Password, min_length = 15, max_length = 128)]
    new_password: SecretString,
    /// A code from the authenticator app, when the account has a second factor.
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
    /// Or one of its unused recovery codes.
    #[schema(value_type = Option<String>)]
    recovery_code: Option<SecretString>,
}

/// Sets a new password with a reset link: every session of the account ends, the link and any
/// other reset link stop working, and the owner gets a notice. A reset never bypasses a second
/// factor: for an account that has one, `code` or `recovery_code` is required. 204; 400
/// `invalid_token`; 422 naming `new_password` or `code` (`second_factor_required`,
/// `incorrect`); 429 when second-factor attempts are throttled.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/complete",
    tag = "auth",
    request_body = ResetBody,
    responses(
        (status = 204, description = "The password is set; every session of the account ended."),
        (status = 400, description = "Wrong, expired or used link (`invalid_token`).", body = crate::http::error::ErrorBody),
        (status = 422, description = "A refused new password, or the second factor missing or wrong (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn complete_password_reset(
    req: HttpRequest,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, AppError> {
    let ResetBody { token, new_password, code, recovery_code } = body.into_inner();
    let factor = match (code, recovery_code) {
        (None, None) => None,
        (Some(code), None) => Some(SecondFactor::Totp(code)),
        (None, Some(code)) => Some(SecondFactor::RecoveryCode(code)),
        (Some(_), Some(_)) => {
            return Err(AppError::validation(vec![FieldError::new(
                "code",
                "one_of",
                "give either code (from the authenticator app) or recovery_code",
            )]));
        }
    };
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    blocking_hashing(&req, move || {
        auth.complete_password_reset(
            secrecy::ExposeSecret::expose_secret(&token),
            &new_password,
            factor.as_ref(),
            &meta,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish())
}

/// `PUT /api/v1/me/email` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    /// The new address.
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// Moves the account to a new address (needs a recent authentication): a link goes to the new
/// address, and the account changes only when it is used; the current address gets a notice
/// at once. 202 (also when another account has the new address: nothing is sent to it then);
/// 422 for a malformed address or the current one.
#[utoipa::path(
    put,
    path = "/api/v1/me/email",
    tag = "me",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted: a confirmation link goes to the new address; the current one is told.", body = Accepted),
        (status = 422, description = "A malformed address, or the account's own (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn change_email(
    session: RecentSession,
    req: HttpRequest,
    body: JsonBody<EmailBody>,
) -> Result<HttpResponse, actix_web::Error> {
    let EmailBody { email } = body?.into_inner();
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    blocking(move || auth.request_email_change(&session.0, &email, &meta)).await?;
    Ok(accepted())
}

/// How many sessions an administrator's reset ended.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecondFactorReset {
    /// Sessions of the account that ended.
    sessions_ended: u64,
}

/// Removes the second factor of an account whose owner lost it (their authenticator and their
/// recovery codes): its factor, pending enrollment and recovery codes go, every session of the
/// account ends, and its owner gets a notice. Audited as `SecondFactorReset` with the
/// administrator as actor. 200; 404; 409 `mfa_not_enabled` when the account has no factor.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/reset-mfa",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 200, description = "The factor is removed; the account's sessions ended.", body = SecondFactorReset),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "The account has no second factor (`mfa_not_enabled`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn admin_reset_mfa(
    admin: Require<perm::UsersManage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = super::admin::user_id(&path.into_inner())?;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let admin = admin.principal;
    let sessions_ended =
        blocking(move || auth.reset_second_factor(Some(&admin), id, &meta)).await?;
    Ok(HttpResponse::Ok().json(SecondFactorReset { sessions_ended }))
}

/// Sends the account a password-reset link (its owner cannot sign in and asks for help; the
/// link goes to the account's own address, never to the administrator). Audited as
/// `PasswordResetRequested` with the administrator as actor. 202; 404.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/reset-password",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 202, description = "A reset link is on its way to the account's address.", body = Accepted),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn admin_reset_password(
    admin: Require<perm::UsersManage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = super::admin::user_id(&path.into_inner())?;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let admin = admin.principal;
    blocking(move || auth.issue_password_reset(Some(&admin), id, &meta)).await?;
    Ok(accepted())
}
