//! The one error type handlers return, and the JSON body every error response carries.
//!
//! Clients get a status, a stable machine-readable code and the request id, nothing more: the
//! cause chain goes to the log, tagged with the same request id, so an operator can find it
//! from a user's report without the user ever seeing internals.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::http::request_id;

/// Stable error codes. Clients may match on these strings; they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No route matches the path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The request could not be understood (malformed syntax, bad path or query parameters).
    BadRequest,
    /// The body is not valid JSON for this endpoint.
    InvalidJson,
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// The body's media type is not accepted.
    UnsupportedMediaType,
    /// The request target (path and query) is longer than `limits.max_url_bytes`.
    UriTooLong,
    /// The request body did not arrive within `limits.body_read_timeout_ms`; the connection is
    /// closed.
    RequestTimeout,
    /// The write conflicts with existing data.
    Conflict,
    /// One or more fields failed validation; the body names each field and the reason.
    ValidationFailed,
    /// No valid credentials: no session, or an expired or revoked one.
    Unauthorized,
    /// Authenticated, but without the permission this route requires.
    Forbidden,
    /// A state-changing request with ambient credentials (the session cookie) came from another
    /// site.
    CrossSiteRequest,
    /// A form of a server-rendered page came without the form token of the session that sent
    /// it (missing, repeated, altered, or another session's): the page must be reloaded.
    FormTokenInvalid,
    /// Too many requests or failed attempts; `Retry-After` says when to try again.
    TooManyRequests,
    /// Login refused: unknown account, wrong password or disabled account, deliberately not
    /// told apart.
    InvalidCredentials,
    /// The change would leave no enabled account holding the admin role.
    LastAdmin,
    /// Password hashing is saturated; `Retry-After` says when to try again.
    Busy,
    /// The action needs a recent authentication: re-authenticate with
    /// `POST /api/v1/auth/reauth`, then retry.
    ReauthRequired,
    /// The action needs a second factor: the account has none enrolled, or this session was
    /// not established (or re-authenticated) with it.
    MfaRequired,
    /// The action needs TOTP to be enabled on the account.
    MfaNotEnabled,
    /// Multi-factor authentication cannot be used: the server has no MFA key configured.
    MfaUnavailable,
    /// The token of a link sent by mail (address verification, password reset) is wrong,
    /// expired or already used: one answer for all. Ask for a new link.
    InvalidToken,
    /// The password was right, but the account's address is not verified yet: use the link
    /// sent to it, or ask for a new one (`POST /api/v1/auth/verify-email/resend`).
    EmailUnverified,
    /// The database cannot be reached.
    DatabaseUnavailable,
    /// Anything else: a bug or an unexpected failure, details in the log.
    Internal,
}

impl ErrorCode {
    /// The wire form, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UriTooLong => "uri_too_long",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict => "conflict",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::CrossSiteRequest => "cross_site_request",
            Self::FormTokenInvalid => "form_token_invalid",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LastAdmin => "last_admin",
            Self::Busy => "busy",
            Self::ReauthRequired => "reauth_required",
            Self::MfaRequired => "mfa_required",
            Self::MfaNotEnabled => "mfa_not_enabled",
            Self::MfaUnavailable => "mfa_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::EmailUnverified => "email_unverified",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Internal => "internal_error",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest | Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict => StatusCode::CONFLICT,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CrossSiteRequest | Self::FormTokenInvalid => {
                StatusCode::FORBIDDEN
            }
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::LastAdmin => StatusCode::CONFLICT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::ReauthRequired => StatusCode::UNAUTHORIZED,
            Self::MfaRequired => StatusCode::FORBIDDEN,
            Self::MfaNotEnabled => StatusCode::CONFLICT,
            Self::MfaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidToken => StatusCode::BAD_REQUEST,
            Self::EmailUnverified => StatusCode::FORBIDDEN,
            Self::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

// One type for what every error response sends and for what the OpenAPI document states (its
// doc comments are the document's descriptions).
/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unauthorized`.
    pub error: &'static str,
    /// The id of the request, also in the `X-Request-Id` header and in every log line.
    pub request_id: String,
    /// For 422 `validation_failed`: which fields and why. Absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// One rejected input field: its name in the request body, a stable code and a reason a user
/// can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it, e.g. `password`.
    pub field: String,
    /// Stable machine-readable code, e.g. `password_too_short`.
    pub code: String,
    /// What is wrong with it, e.g. `the password must have at least 15 characters`.
    pub reason: String,
}

impl FieldError {
    /// A field error.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self { field: field.into(), code: code.into(), reason: reason.into() }
    }
}

/// An error on its way to becoming a response.
pub struct AppError {
    code: ErrorCode,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    retry_after: Option<u64>,
    fields: Vec<FieldError>,
}

impl AppError {
    /// An error with a code and no underlying cause.
    pub fn new(code: ErrorCode) -> Self {
        Self { code, cause: None, retry_after: None, fields: Vec::new() }
    }

    /// An error with a code and the cause to log.
    pub fn with_cause(
        code: ErrorCode,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { cause: Some(cause.into()), ..Self::new(code) }
    }

    /// 429 with `Retry-After` in whole seconds (rounded up, at least 1).
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self { retry_after: Some(secs.max(1)), ..Self::new(ErrorCode::TooManyRequests) }
    }

    /// 503 `busy` with `Retry-After`.
    pub fn busy(retry_after: std::time::Duration) -> Self {
        Self { code: ErrorCode::Busy, ..Self::too_many_requests(retry_after) }
    }

    /// 422 `validation_failed` naming each rejected field.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        Self { fields, ..Self::new(ErrorCode::ValidationFailed) }
    }

    /// The `Retry-After` seconds, for 429.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The rejected fields, for `validation_failed`.
    pub fn fields(&self) -> &[FieldError] {
        &self.fields
    }

    /// An unexpected failure: 500, cause logged.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::with_cause(ErrorCode::Internal, cause)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppError")
            .field("code", &self.code)
            .field("cause", &self.cause)
            .field("retry_after", &self.retry_after)
            .field("fields", &self.fields)
            .finish()
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        let code = match &e {
            DbError::Unavailable(_) => ErrorCode::DatabaseUnavailable,
            DbError::Conflict { .. } => ErrorCode::Conflict,
            DbError::NotFound => ErrorCode::NotFound,
            _ => ErrorCode::Internal,
        };
        Self::with_cause(code, e)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.code.status();
        if let Some(cause) = &self.cause {
            let chain = cause_chain(cause.as_ref());
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // An outage, not a bug: the pool's own warnings already say why.
                tracing::warn!(code = self.code.as_str(), cause = ?chain, "request failed");
            } else if status.is_server_error() {
                tracing::error!(code = self.code.as_str(), cause = ?chain, "request failed");
            } else {
                tracing::info!(code = self.code.as_str(), cause = ?chain, "request rejected");
            }
        }
        let mut response =
            build_error(self.code, &request_id::current().unwrap_or_default(), &self.fields);
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
            );
        }
        response
    }
}

/// Builds the JSON error response for `code`, with the current request id.
pub fn json_error(code: ErrorCode) -> HttpResponse {
    error_response_with_id(code, &request_id::current().unwrap_or_default())
}

/// Builds the JSON error response for `code` with an explicit request id.
pub fn error_response_with_id(code: ErrorCode, request_id: &str) -> HttpResponse {
    build_error(code, request_id, &[])
}

fn build_error(code: ErrorCode, request_id: &str, fields: &[FieldError]) -> HttpResponse {
    let mut response = HttpResponse::build(code.status())
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(ErrorBody {
            error: code.as_str(),
            request_id: request_id.to_owned(),
            fields: fields.to_vec(),
        });
    // For the layers outside that answer differently for a browser's navigation
    // (`routes::pages::errors`), without parsing the body back.
    response.extensions_mut().insert(code);
    response
}

/// `outer: inner: innermost`, for the log.
fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Maps any error status an actix component produced (extractor, router) to our code.
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::DatabaseUnavailable,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let all = [
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::BadRequest,
            ErrorCode::InvalidJson,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::UriTooLong,
            ErrorCode::RequestTimeout,
            ErrorCode::Conflict,
            ErrorCode::ValidationFailed,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::CrossSiteRequest,
            ErrorCode::FormTokenInvalid,
            ErrorCode::TooManyRequests,
            ErrorCode::InvalidCredentials,
            ErrorCode::LastAdmin,
            ErrorCode::Busy,
            ErrorCode::ReauthRequired,
            ErrorCode::MfaRequired,
            ErrorCode::MfaNotEnabled,
            ErrorCode::MfaUnavailable,
            ErrorCode::InvalidToken,
            ErrorCode::EmailUnverified,
            ErrorCode::DatabaseUnavailable,
            ErrorCode::Internal,
        ];
        let mut seen = std::collections::HashSet::new();
        for c in all {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!(c.as_str().chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
    }

    #[test]
    fn database_outage_is_503_and_other_database_errors_are_500() {
        let unavailable = AppError::from(DbError::Unavailable("down".into()));
        assert_eq!(unavailable.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            AppError::from(DbError::TaskFailed).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
