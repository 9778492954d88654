//! The OpenAPI 3.1 document of the HTTP API, derived from the handlers' `#[utoipa::path]`
//! attributes and the `ToSchema` derives of request bodies and views.
//!
//! Served at `GET /api/openapi.json`, printed by `server openapi`, and checked in as
//! `docs/openapi.json` (`just openapi`); the API tests fail when the checked-in file is stale,
//! when a route of [`crate::routes::endpoints`] is missing here (or one here is not a route),
//! when a real response does not match what an operation documents (formats and the ranges
//! of `int32`/`int64` included), and when a request valid against the declared schema at its
//! boundaries (shortest and longest fields, smallest and largest integers) is not served as
//! documented.
//!
//! Request schemas state what the server checks: registration lengths and patterns from
//! `sec_core` (`Username`, `Email`, the password policy at its default minimum of 15; a fork
//! that raises `auth.password_min_chars` should change `min_length` too), `oneOf` for the
//! "exactly one of" bodies ([`exactly_one_of`]), and integer ranges as parsed (`u32` is
//! `int64` with a maximum, since OpenAPI's `int32` is signed). What a schema cannot say (the
//! common-password list, one script per username, a taken name) stays a documented 422.
//!
//! Handlers that build their JSON with `json!` are described by the response shapes below:
//! they exist only for the document, and the conformance test checks them against what the
//! server really sends.
//!
//! Handlers document only the answers that are their own. The ones that come from the layers
//! in front of every handler, or from a route's access rule and body type, are added by
//! [`CommonResponses`] from [`endpoints`], so they cannot drift apart from the routes:
//!
//! | Operations | Status | Why |
//! |---|---|---|
//! | all | 414 `uri_too_long` | request target over `limits.max_url_bytes` |
//! | all | 429 `too_many_requests` + `Retry-After` | the per-IP rate limit (`rate_limit.*`) |
//! | all | 500 `internal_error` | a bug or an unexpected failure |
//! | POST, PUT, PATCH, DELETE | 403 `cross_site_request` | the session cookie sent from another site |
//! | JSON request body | 400 `invalid_json`, 408 `request_timeout`, 413 `payload_too_large`, 415 `unsupported_media_type` | the body cannot be read |
//! | signed-in only | 401 `unauthorized` (and `reauth_required` where a recent authentication is needed) | the access rule |
//! | permission | 403 `forbidden` or `mfa_required` | the access rule |
//! | factor change | 403 `mfa_required` | no recent second-factor proof in this session |
//!
//! Shared answers are components (`#/components/responses/...`); where a handler documents the
//! same status for its own reason, the two descriptions are joined.

use std::collections::BTreeMap;

use actix_web::http::Method;
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::auth::{MFA_COOKIE, SESSION_COOKIE};
use crate::error::FieldError;
use crate::routes::views::{AdminUserView, SessionView, UserView};
use crate::routes::{Access, admin, auth, docs, endpoints, health, me, mfa};

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
                       `X-Request-Id` header, and `Cache-Control: no-store`. Besides what \
                       each operation lists: an unknown path is 404 `not_found` and a known \
                       path with another method 405 `method_not_allowed` with an `Allow` header \
                       naming the path's methods; a request whose \
                       head is malformed (400), too large (431) or not sent within \
                       `limits.client_request_timeout_ms` (408) is answered by the HTTP layer \
                       with no body and the connection closed; the optional plain-HTTP \
                       listener (`tls.redirect_http_bind`) answers everything with 308 to \
                       HTTPS.",
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
        admin::unlock_user,
        admin::grant_role,
        admin::revoke_role,
        crate::routes::pages::account,
        crate::routes::pages::sign_out,
        crate::routes::pages::end_other_session,
        crate::routes::pages::signed_out,
    ),
    components(
        schemas(ErrorBody, ValidationErrorBody, FieldError),
        responses(DatabaseUnavailable),
    ),
    modifiers(&CookieSchemes, &CommonResponses),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "docs", description = "This document."),
        (name = "auth", description = "Registration, login, second factor, step-up, logout."),
        (name = "me", description = "The signed-in user's account and sessions."),
        (name = "mfa", description = "The signed-in user's second factor (TOTP). Every change to the factors (a new enrollment, its confirmation, new recovery codes, turning TOTP off) needs a recent authentication and, once TOTP is on, a session that proved the second factor within the re-authentication window (a login or re-authentication with a TOTP or recovery code; the password alone is not enough): otherwise 403 `mfa_required`."),
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

/// The shared error answers: component name, description, and whether `Retry-After` comes
/// with it.
struct Shared {
    name: &'static str,
    description: &'static str,
    retry_after: bool,
}

const URI_TOO_LONG: Shared = Shared {
    name: "UriTooLong",
    description: "The path and query are longer than `limits.max_url_bytes` (`uri_too_long`).",
    retry_after: false,
};
const RATE_LIMITED: Shared = Shared {
    name: "RateLimited",
    description: "More requests from this client address than `rate_limit.*` allows \
                  (`too_many_requests`); `/api/v1/auth/*` has a stricter bucket.",
    retry_after: true,
};
const INTERNAL: Shared = Shared {
    name: "InternalError",
    description: "Unexpected failure (`internal_error`); details are in the log under the \
                  request id.",
    retry_after: false,
};
const CROSS_SITE: Shared = Shared {
    name: "CrossSiteRequest",
    description: "The request carries the session (or pending second-factor) cookie and comes \
                  from another site, or says nothing of where it comes from \
                  (`cross_site_request`).",
    retry_after: false,
};
const INVALID_JSON: Shared = Shared {
    name: "InvalidJson",
    description: "The body is not JSON of this shape (`invalid_json`).",
    retry_after: false,
};
const REQUEST_TIMEOUT: Shared = Shared {
    name: "RequestTimeout",
    description: "The body did not arrive within `limits.body_read_timeout_ms` \
                  (`request_timeout`); the connection is closed.",
    retry_after: false,
};
const PAYLOAD_TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    description: "The body is over 64 KiB (`payload_too_large`).",
    retry_after: false,
};
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    description: "The body is not `application/json` (`unsupported_media_type`).",
    retry_after: false,
};
const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    description: "No valid session (`unauthorized`).",
    retry_after: false,
};
const REAUTH_REQUIRED: Shared = Shared {
    name: "ReauthRequired",
    description: "No valid session (`unauthorized`), or the last authentication is older than \
                  the re-authentication window (`reauth_required`).",
    retry_after: false,
};
const FORBIDDEN: Shared = Shared {
    name: "Forbidden",
    description: "The account lacks the permission (`forbidden`), or has no second factor or \
                  this session was not established with it (`mfa_required`).",
    retry_after: false,
};
const SECOND_FACTOR_PROOF_REQUIRED: Shared = Shared {
    name: "SecondFactorProofRequired",
    description: "The account has a second factor and this session has not proved it within \
                  the re-authentication window (`mfa_required`): re-authenticate with a TOTP \
                  or recovery code, not the password.",
    retry_after: false,
};
const DATABASE_UNAVAILABLE: Shared = Shared {
    name: "DatabaseUnavailable",
    description: "The database cannot be reached (`database_unavailable`).",
    retry_after: false,
};

const ALL_SHARED: [Shared; 13] = [
    URI_TOO_LONG,
    RATE_LIMITED,
    INTERNAL,
    CROSS_SITE,
    INVALID_JSON,
    REQUEST_TIMEOUT,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    UNAUTHORIZED,
    REAUTH_REQUIRED,
    FORBIDDEN,
    SECOND_FACTOR_PROOF_REQUIRED,
    DATABASE_UNAVAILABLE,
];

impl Shared {
    fn response(&self) -> Response {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        let mut response = ResponseBuilder::new()
            .description(self.description)
            .content("application/json", body)
            .build();
        if self.retry_after {
            let seconds = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0));
            let header = HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds to wait before trying again."))
                .build();
            response.headers.insert("Retry-After".to_owned(), header);
        }
        response
    }
}

/// `(status = 503, response = DatabaseUnavailable)` in a handler's `responses`: the answer of
/// every route that reads or writes the database, when it cannot be reached.
pub(crate) struct DatabaseUnavailable;

impl<'r> ToResponse<'r> for DatabaseUnavailable {
    fn response() -> (&'r str, RefOr<Response>) {
        (DATABASE_UNAVAILABLE.name, RefOr::T(DATABASE_UNAVAILABLE.response()))
    }
}

/// Adds the answers that come from the layers in front of the handlers and from each route's
/// access rule and body type (the table in the module documentation).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for shared in &ALL_SHARED {
            components.responses.insert(shared.name.to_owned(), RefOr::T(shared.response()));
        }
        for e in endpoints() {
            let Some(op) =
                openapi.paths.paths.get_mut(e.path).and_then(|i| operation(i, &e.method))
            else {
                // Not documented at all: the API tests name the route.
                continue;
            };
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            let r = &mut op.responses.responses;
            if json_body {
                add(r, "400", &INVALID_JSON);
                add(r, "408", &REQUEST_TIMEOUT);
                add(r, "413", &PAYLOAD_TOO_LARGE);
                add(r, "415", &UNSUPPORTED_MEDIA_TYPE);
            }
            match e.access {
                // The pending step documents its own 401.
                Access::Public | Access::MfaPending => {}
                Access::Authenticated => add(r, "401", &UNAUTHORIZED),
                Access::RecentAuthentication => add(r, "401", &REAUTH_REQUIRED),
                Access::FactorChange => {
                    add(r, "401", &REAUTH_REQUIRED);
                    add(r, "403", &SECOND_FACTOR_PROOF_REQUIRED);
                }
                Access::Permission(_) => {
                    add(r, "401", &REAUTH_REQUIRED);
                    add(r, "403", &FORBIDDEN);
                }
            }
            if !crate::csrf::is_safe(&e.method) {
                add(r, "403", &CROSS_SITE);
            }
            add(r, "414", &URI_TOO_LONG);
            add(r, "429", &RATE_LIMITED);
            add(r, "500", &INTERNAL);
        }
    }
}

fn operation<'a>(item: &'a mut PathItem, method: &Method) -> Option<&'a mut Operation> {
    match *method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        Method::HEAD => item.head.as_mut(),
        Method::OPTIONS => item.options.as_mut(),
        Method::TRACE => item.trace.as_mut(),
        _ => None,
    }
}

/// Documents `shared` under `status`: as a reference when the operation has nothing there yet,
/// joined to what is there otherwise.
fn add(responses: &mut BTreeMap<String, RefOr<Response>>, status: &str, shared: &Shared) {
    let existing = match responses.remove(status) {
        None => {
            responses.insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(shared.name)));
            return;
        }
        Some(RefOr::T(response)) => response,
        Some(RefOr::Ref(r)) => ALL_SHARED
            .iter()
            .find(|s| r.ref_location == Ref::from_response_name(s.name).ref_location)
            .map_or_else(|| Response::new(""), Shared::response),
    };
    let mut joined = shared.response();
    joined.description =
        format!("{} Or: {}", existing.description, lowercase_first(shared.description));
    joined.headers.extend(existing.headers);
    responses.insert(status.to_owned(), RefOr::T(joined));
}

/// The schema of a body that takes exactly one of some secret string fields: a `oneOf` with a
/// branch per field, which requires that field as a string and allows the others only absent
/// or null, and no other property (what the handlers accept; anything else is 422 or 400).
pub(crate) fn exactly_one_of(description: &str, fields: &[&str]) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new().description(Some(description));
    for given in fields {
        let secret = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)));
        let mut branch = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(*given, secret)
            .required(*given)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for other in fields.iter().filter(|f| *f != given) {
            branch = branch.property(*other, ObjectBuilder::new().schema_type(Type::Null));
        }
        one_of = one_of.item(branch);
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
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
    /// The offset asked for (any `u32`).
    #[schema(value_type = u64, maximum = 4_294_967_295_u64)]
    offset: u32,
    /// The page size used (the one asked for, within 1..=100).
    #[schema(minimum = 1, maximum = 100)]
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

#[cfg(test)]
mod tests {
    use sec_core::{
        EMAIL_MAX_LEN, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS_DEFAULT, USERNAME_MAX_CHARS,
        USERNAME_MIN_CHARS,
    };
    use serde_json::Value;

    use super::*;

    /// The lengths the document states are sec-core's own limits (the attributes need
    /// literals, so this keeps the two from drifting apart).
    #[test]
    fn registration_lengths_are_sec_core_limits() -> Result<(), serde_json::Error> {
        let doc = serde_json::to_value(document())?;
        let schemas = &doc["components"]["schemas"];
        let field = |schema: &str, name: &str, key: &str| -> Value {
            schemas[schema]["properties"][name][key].clone()
        };
        assert_eq!(field("RegisterBody", "username", "minLength"), USERNAME_MIN_CHARS);
        assert_eq!(field("RegisterBody", "username", "maxLength"), USERNAME_MAX_CHARS);
        assert_eq!(field("RegisterBody", "email", "maxLength"), EMAIL_MAX_LEN);
        for (schema, name) in [("RegisterBody", "password"), ("ChangePasswordBody", "new_password")]
        {
            assert_eq!(field(schema, name, "minLength"), PASSWORD_MIN_CHARS_DEFAULT);
            assert_eq!(field(schema, name, "maxLength"), PASSWORD_MAX_CHARS);
        }
        assert_eq!(schemas["UserPage"]["properties"]["offset"]["maximum"], u32::MAX);
        Ok(())
    }
}
