//! The OpenAPI 3.1 document of the HTTP API, derived from the handlers' `#[utoipa::path]`
//! attributes and the `ToSchema` derives of request bodies and views.
//!
//! Served at `GET /api/openapi.json`, printed by `server openapi`, and checked in as
//! `docs/openapi.json` (`just openapi`); the API tests fail when the checked-in file is stale,
//! when a route of [`crate::routes::endpoints`] is missing here (or one here is not a route),
//! and when a real response does not match what an operation documents.
//!
//! Handlers that build their JSON with `json!` are described by the response shapes below:
//! they exist only for the document, and the conformance test checks them against what the
//! server really sends.

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::{MFA_COOKIE, SESSION_COOKIE};
use crate::error::FieldError;
use crate::routes::views::{AdminUserView, SessionView, UserView};
use crate::routes::{admin, auth, docs, health, me, mfa};

/// Name of the security scheme of the session cookie, as handlers' `security(...)` cite it.
pub(crate) const SESSION_SCHEME: &str = "session";
/// Name of the security scheme of the pending second-factor cookie.
pub(crate) const MFA_SCHEME: &str = "mfa_pending";

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "server",
        description = "Secure-by-default reference server. Every error response carries \
                       `ErrorBody` (422 `validation_failed`: `ValidationErrorBody`), the \
                       `X-Request-Id` header, and `Cache-Control: no-store`.",
    ),
    paths(
        health::healthz,
        health::readyz,
        docs::openapi_json,
        auth::register,
        auth::login,
        auth::complete_mfa,
        auth::reauth,
        auth::logout,
        me::get,
        me::change_password,
        me::sessions,
        me::revoke_other_sessions,
        me::revoke_session,
        mfa::status,
        mfa::begin_totp,
        mfa::disable_totp,
        mfa::confirm_totp,
        mfa::regenerate_recovery_codes,
        admin::list_users,
        admin::get_user,
        admin::disable_user,
        admin::enable_user,
        admin::grant_role,
        admin::revoke_role,
        crate::routes::pages::account,
        crate::routes::pages::sign_out,
        crate::routes::pages::end_other_session,
        crate::routes::pages::signed_out,
    ),
    components(schemas(ErrorBody, ValidationErrorBody, FieldError)),
    modifiers(&CookieSchemes),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "docs", description = "This document."),
        (name = "auth", description = "Registration, login, second factor, step-up, logout."),
        (name = "me", description = "The signed-in user's account and sessions."),
        (name = "mfa", description = "The signed-in user's second factor (TOTP)."),
        (name = "admin", description = "Account and role administration."),
        (name = "pages", description = "Server-rendered HTML pages and the forms they post (each with the session's form token in `csrf_token`)."),
    )
)]
struct ApiDoc;

/// The OpenAPI document of every route.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a trailing newline: what `server openapi` prints, what
/// `GET /api/openapi.json` serves and what `docs/openapi.json` holds.
///
/// # Errors
///
/// When the document cannot be serialized (not expected: it is plain data).
pub fn pretty_json() -> Result<String, serde_json::Error> {
    let mut out = document().to_pretty_json()?;
    out.push('\n');
    Ok(out)
}

/// Adds the cookie security schemes (utoipa's derive has no syntax for them).
struct CookieSchemes;

impl Modify for CookieSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session token, set by login (HttpOnly, Secure, SameSite=Lax).",
            ))),
        );
        components.add_security_scheme(
            MFA_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                MFA_COOKIE,
                "A login waiting for its second factor, set by login when the account has \
                 one; it authenticates nothing but `POST /api/v1/auth/mfa`.",
            ))),
        );
    }
}

/// The body of every error response except 422 `validation_failed`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document; error.rs builds the real body")]
pub(crate) struct ErrorBody {
    /// Stable machine-readable code, e.g. `unauthorized`.
    error: String,
    /// The id of the request, also in the `X-Request-Id` header and in every log line.
    request_id: String,
}

/// The body of 422 `validation_failed`: the rejected fields and why.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document; error.rs builds the real body")]
pub(crate) struct ValidationErrorBody {
    /// Always `validation_failed`.
    error: String,
    /// The id of the request.
    request_id: String,
    /// Each rejected field.
    fields: Vec<FieldError>,
}

/// `{"status": ...}` of the probes.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct ProbeStatus {
    /// `ok` (liveness) or `ready` (readiness).
    status: String,
}

/// `{"user": ...}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct UserEnvelope {
    /// The account.
    user: UserView,
}

/// The answer to a login (and to its second-factor step).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
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
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct ReauthResponse {
    /// When this re-authentication happened (RFC 3339).
    #[schema(format = DateTime)]
    authenticated_at: String,
    /// 1: password; 2: with a second factor.
    aal: i64,
}

/// The signed-in account and its roles.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct MeResponse {
    /// The account.
    user: UserView,
    /// Its role names.
    roles: Vec<String>,
}

/// The signed-in user's sessions.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct SessionList {
    /// Newest first.
    sessions: Vec<SessionView>,
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct Revoked {
    /// The number of sessions ended.
    revoked: u64,
}

/// The state of the signed-in user's second factor.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct MfaStatus {
    /// Whether TOTP is on.
    totp_enabled: bool,
    /// Since when (RFC 3339), or null.
    #[schema(format = DateTime)]
    enabled_at: Option<String>,
    /// Recovery codes not used yet.
    recovery_codes_left: u64,
    /// Whether an enrollment waits for its confirmation.
    enrollment_pending: bool,
    /// This session's assurance level: 1 password, 2 with a second factor.
    session_aal: i64,
}

/// A started TOTP enrollment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct TotpEnrollment {
    /// The `otpauth://totp/...` URI with the new secret.
    otpauth_uri: String,
    /// The URI as a QR code, a `data:image/png;base64,...` URI.
    qr_png: String,
    /// The URI as a QR code, a `data:image/svg+xml;base64,...` URI.
    qr_svg: String,
    /// When the enrollment lapses unless confirmed (RFC 3339).
    #[schema(format = DateTime)]
    expires_at: String,
}

/// Recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct RecoveryCodes {
    /// Ten single-use codes.
    recovery_codes: Vec<String>,
}

/// A page of accounts.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct UserPage {
    /// The accounts, oldest first.
    users: Vec<AdminUserView>,
    /// The offset asked for.
    offset: u32,
    /// The page size used (the one asked for, within 1..=100).
    limit: u32,
}

/// One account in the admin API.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "a shape for the document")]
pub(crate) struct AdminUserEnvelope {
    /// The account with its state and roles.
    user: AdminUserView,
}
