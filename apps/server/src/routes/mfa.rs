//! `/api/v1/me/mfa*`: the signed-in user's second factor: status, TOTP enrollment and its
//! confirmation, turning TOTP off, and new recovery codes. Everything that changes the factors
//! takes a [`FactorChangeSession`]: a recent authentication and, once the account has a
//! second factor, a recent proof of it in this session (a password alone, or a session signed
//! in before the enrollment, changes nothing). Confirming an enrollment ends every other
//! session of the account.

use actix_web::{HttpRequest, HttpResponse};
use sec_auth::RecoveryCode;
use sec_core::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonBody;
use super::auth::SecondFactorBody;
use super::responses::{DatabaseOrNoMfaKey, DatabaseUnavailable, Revoked, ThrottledAttempts};
use super::views::rfc3339;
use crate::auth::{
    CurrentSession, FactorChangeSession, auth_service, blocking, request_meta, session_cookie,
};
use crate::http::error::AppError;

/// Recovery codes as shown to their owner (the API's answers and the pages).
pub(crate) fn shown(codes: &[RecoveryCode]) -> Vec<String> {
    codes.iter().map(|c| c.display().expose_secret().to_owned()).collect()
}

/// The state of the signed-in user's second factor.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MfaStatus {
    /// Whether TOTP is on.
    totp_enabled: bool,
    /// Since when (RFC 3339), or null.
    #[schema(format = DateTime)]
    enabled_at: Option<String>,
    /// Recovery codes not used yet.
    recovery_codes_left: u32,
    /// Whether an enrollment waits for its confirmation.
    enrollment_pending: bool,
    /// This session's assurance level: 1 password, 2 with a second factor.
    session_aal: i64,
}

// It holds the new secret, so it is serialized from the borrowed secrets straight into the
// response body, never copied into a `String` of its own.
/// A started TOTP enrollment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpEnrollment<'a> {
    /// The `otpauth://totp/...` URI with the new secret.
    otpauth_uri: &'a str,
    /// The URI as a QR code, a `data:image/png;base64,...` URI.
    qr_png: &'a str,
    /// The URI as a QR code, a `data:image/svg+xml;base64,...` URI.
    qr_svg: &'a str,
    /// When the enrollment lapses unless confirmed (RFC 3339).
    #[schema(format = DateTime)]
    expires_at: String,
}

/// Recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoveryCodes {
    /// Ten single-use codes.
    recovery_codes: Vec<String>,
}

/// The signed-in user's MFA state: `{totp_enabled, enabled_at, recovery_codes_left,
/// enrollment_pending, session_aal}`.
#[utoipa::path(
    get,
    path = "/api/v1/me/mfa",
    tag = "mfa",
    responses(
        (status = 200, description = "The second factor's state.", body = MfaStatus),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn status(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let principal = session.0;
    let aal = principal.session.aal.as_i64();
    let status = blocking(move || auth.mfa_status(&principal)).await?;
    Ok(HttpResponse::Ok().json(MfaStatus {
        totp_enabled: status.totp_enabled,
        enabled_at: status.enabled_at.map(rfc3339),
        recovery_codes_left: status.recovery_codes_left,
        enrollment_pending: status.enrollment_pending,
        session_aal: aal,
    }))
}

/// Starts a TOTP enrollment (a factor change: see the tag): 201 with `otpauth_uri`,
/// `qr_png` and `qr_svg` (data URIs of the same URI as QR codes) and `expires_at`. An active
/// factor stays in force until the new one is confirmed. 503 `mfa_unavailable` without an MFA
/// key on the server.
#[utoipa::path(
    post,
    path = "/api/v1/me/mfa/totp",
    tag = "mfa",
    responses(
        (status = 201, description = "An enrollment, to confirm with a code from the new secret.", body = TotpEnrollment<'static>),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn begin_totp(
    session: FactorChangeSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let enrollment = blocking(move || auth.begin_totp_enrollment(&session.0)).await?;
    Ok(HttpResponse::Created().json(TotpEnrollment {
        otpauth_uri: enrollment.otpauth_uri.expose_secret(),
        qr_png: enrollment.qr_png.expose_secret(),
        qr_svg: enrollment.qr_svg.expose_secret(),
        expires_at: rfc3339(enrollment.expires_at),
    }))
}

/// `POST /api/v1/me/mfa/totp/confirm` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

/// Confirms the pending enrollment with a code from the new secret (a factor change: see
/// the tag; codes are throttled like every second factor): TOTP is on, every
/// other session of the account ends, the response holds the ten recovery codes (shown this
/// once), and this session gets a new cookie, established with two factors. 422
/// `code`/`incorrect` or `code`/`no_enrollment`.
#[utoipa::path(
    post,
    path = "/api/v1/me/mfa/totp/confirm",
    tag = "mfa",
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "TOTP is on: the recovery codes, shown this once; every other session ended; this session gets a new cookie (two factors).", body = RecoveryCodes),
        (status = 422, description = "Wrong code (`code`/`incorrect`) or no enrollment pending (`code`/`no_enrollment`) (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn confirm_totp(
    session: FactorChangeSession,
    req: HttpRequest,
    body: JsonBody<ConfirmBody>,
) -> Result<HttpResponse, actix_web::Error> {
    let code = body?.into_inner().code;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let confirmed =
        blocking(move || auth.confirm_totp_enrollment(&session.0, &code, &meta)).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(confirmed.token.expose()))
        .json(RecoveryCodes { recovery_codes: shown(&confirmed.recovery_codes) }))
}

/// Turns TOTP off (a factor change: see the tag; and, in the body, a TOTP `code` or a
/// `recovery_code`): the factor and the recovery codes are deleted and every other session
/// ends. 200 `{"revoked": n}`; 422 for a wrong code; 409 `mfa_not_enabled`.
#[utoipa::path(
    delete,
    path = "/api/v1/me/mfa/totp",
    tag = "mfa",
    request_body = crate::routes::auth::SecondFactorBody,
    responses(
        (status = 200, description = "TOTP is off; every other session ended.", body = Revoked),
        (status = 409, description = "TOTP is not enabled (`mfa_not_enabled`).", body = crate::http::error::ErrorBody),
        (status = 422, description = "Wrong code, or both or neither of `code` and `recovery_code` (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn disable_totp(
    session: FactorChangeSession,
    req: HttpRequest,
    body: JsonBody<SecondFactorBody>,
) -> Result<HttpResponse, actix_web::Error> {
    let factor = body?.into_inner().factor()?;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let revoked = blocking(move || auth.disable_totp(&session.0, &factor, &meta)).await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// Replaces the recovery codes (a factor change: see the tag): 200 with ten new codes, shown
/// this once; the old ones stop working. 409 `mfa_not_enabled`.
#[utoipa::path(
    post,
    path = "/api/v1/me/mfa/recovery-codes",
    tag = "mfa",
    responses(
        (status = 200, description = "Ten new recovery codes, shown this once; the old ones stop working.", body = RecoveryCodes),
        (status = 409, description = "TOTP is not enabled (`mfa_not_enabled`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseOrNoMfaKey),
    ),
    security(("session" = [])),
)]
pub(crate) async fn regenerate_recovery_codes(
    session: FactorChangeSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let codes = blocking(move || auth.regenerate_recovery_codes(&session.0, &meta)).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: shown(&codes) }))
}
