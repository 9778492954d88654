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
//! Every body in it is the type the handler serializes (`Serialize` and `ToSchema` on one
//! struct, beside the handler in `routes/`), and the conformance test checks the document
//! against what the server really sends. The answers several operations share are in
//! [`crate::routes::responses`].
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
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::http::cookies::{MFA_COOKIE, SESSION_COOKIE};
use crate::http::error::{ErrorBody, FieldError};
use crate::routes::responses::{
    ALL_SHARED, CROSS_SITE, FORBIDDEN, INTERNAL, INVALID_JSON, MFA_SCHEME, PAYLOAD_TOO_LARGE,
    RATE_LIMITED, REAUTH_REQUIRED, REQUEST_TIMEOUT, SECOND_FACTOR_PROOF_REQUIRED, SESSION_SCHEME,
    Shared, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE, URI_TOO_LONG,
};
use crate::routes::{Access, admin, auth, docs, endpoints, health, lifecycle, me, mfa, notes};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "server",
        description = "Secure-by-default reference server. Every error response carries \
                       `ErrorBody` (with `fields` for 422 `validation_failed`), the \
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
        crate::routes::csp_report::csp_report,
        auth::register,
        auth::login,
        auth::complete_mfa,
        lifecycle::verify_email,
        lifecycle::resend_verification,
        lifecycle::request_password_reset,
        lifecycle::complete_password_reset,
        auth::reauth,
        auth::logout,
        me::get,
        me::change_password,
        lifecycle::change_email,
        me::sessions,
        me::revoke_other_sessions,
        me::revoke_session,
        mfa::status,
        mfa::begin_totp,
        mfa::disable_totp,
        mfa::confirm_totp,
        mfa::regenerate_recovery_codes,
        notes::list_notes,
        notes::create_note,
        notes::get_note,
        notes::replace_note,
        notes::delete_note,
        admin::list_users,
        admin::get_user,
        admin::disable_user,
        admin::enable_user,
        admin::unlock_user,
        lifecycle::admin_reset_mfa,
        lifecycle::admin_reset_password,
        admin::grant_role,
        admin::revoke_role,
        crate::routes::pages::sign_in::home,
        crate::routes::pages::sign_in::signup_page,
        crate::routes::pages::sign_in::signup,
        crate::routes::pages::sign_in::login_form,
        crate::routes::pages::sign_in::login_submit,
        crate::routes::pages::sign_in::login_mfa_form,
        crate::routes::pages::sign_in::login_mfa,
        crate::routes::pages::sign_in::forgot_password_form,
        crate::routes::pages::sign_in::forgot_password,
        crate::routes::pages::sign_in::resend_verification_form,
        crate::routes::pages::sign_in::resend_verification_submit,
        crate::routes::pages::account::account,
        crate::routes::pages::account::sign_out,
        crate::routes::pages::account::password_submit,
        crate::routes::pages::account::email_submit,
        crate::routes::pages::account::end_other_sessions,
        crate::routes::pages::account::end_other_session,
        crate::routes::pages::account::confirm_form,
        crate::routes::pages::account::confirm_submit,
        crate::routes::pages::account::signed_out,
        crate::routes::pages::mfa::mfa_page,
        crate::routes::pages::mfa::enrollment_begin,
        crate::routes::pages::mfa::enrollment_confirm,
        crate::routes::pages::mfa::turn_off,
        crate::routes::pages::mfa::regenerate,
        crate::routes::pages::links::verify_page,
        crate::routes::pages::links::verify_submit,
        crate::routes::pages::links::email_verified,
        crate::routes::pages::links::email_changed,
        crate::routes::pages::links::reset_page,
        crate::routes::pages::links::reset_submit,
        crate::routes::pages::links::password_reset,
        crate::routes::pages::admin::users,
        crate::routes::pages::admin::disable,
        crate::routes::pages::admin::enable,
        crate::routes::pages::admin::grant_role_submit,
        crate::routes::pages::admin::revoke_role_submit,
        crate::routes::assets::file,
    ),
    components(
        schemas(ErrorBody, FieldError),
    ),
    modifiers(&CookieSchemes, &CommonResponses),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "docs", description = "This document."),
        (name = "reports", description = "Reports browsers send on their own: Content-Security-Policy violations, logged."),
        (name = "auth", description = "Registration, login, second factor, step-up, logout, address verification and password reset. Answers that could tell whether an account exists (registration, reset and verification requests) are the same for every identifier."),
        (name = "me", description = "The signed-in user's account and sessions."),
        (name = "mfa", description = "The signed-in user's second factor (TOTP). Every change to the factors (a new enrollment, its confirmation, new recovery codes, turning TOTP off) needs a recent authentication and, once TOTP is on, a session that proved the second factor within the re-authentication window (a login or re-authentication with a TOTP or recovery code; the password alone is not enough): otherwise 403 `mfa_required`."),
        (name = "notes", description = "The signed-in user's notes (the worked example resource). Another user's note is 404 `not_found`, exactly as a note that does not exist."),
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
            if !crate::http::csrf::is_safe(&e.method) {
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

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
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

    /// The lengths the notes body states are the ones its handlers check (here rather than
    /// beside the handlers, so `routes` does not import this module back).
    #[test]
    fn note_lengths_are_the_checked_ones() -> Result<(), serde_json::Error> {
        use crate::routes::notes::{BODY_MAX_CHARS, TITLE_MAX_CHARS};
        let doc = serde_json::to_value(document())?;
        let field = |name: &str, key: &str| -> Value {
            doc["components"]["schemas"]["NoteContent"]["properties"][name][key].clone()
        };
        assert_eq!(field("title", "minLength"), 1);
        assert_eq!(field("title", "maxLength"), TITLE_MAX_CHARS);
        assert_eq!(field("body", "minLength"), 0);
        assert_eq!(field("body", "maxLength"), BODY_MAX_CHARS);
        Ok(())
    }

    /// OpenAPI requires operation ids to be unique, and utoipa takes them from the handlers'
    /// names: two `get` handlers in different modules would collide.
    #[test]
    fn operation_ids_are_unique() -> Result<(), serde_json::Error> {
        let doc = serde_json::to_value(document())?;
        let mut seen = std::collections::BTreeSet::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Some(id) = op["operationId"].as_str() else { continue };
                assert!(seen.insert(id.to_owned()), "{method} {path}: operation id {id} is taken");
            }
        }
        assert!(seen.len() > 20, "{seen:?}");
        Ok(())
    }
}
