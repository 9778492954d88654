//! The request layer: every request gets its id ([`super::request_id`]), runs inside a log
//! span that carries it and ends with one log line; and every error response leaves in the
//! same JSON shape, whichever component produced it.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use tracing::Instrument;

use super::error::{ErrorCode, code_for_status, error_response_with_id, json_error};
use super::request_id::{self, HEADER};

/// Middleware: assigns the id, runs the request inside a span that carries it, logs one line
/// per request, and rewrites any non-JSON error response into the standard error body.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id::choose(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        // Debug formatting escapes control characters, so a crafted path cannot forge lines.
        path = ?req.path(),
    );
    let started = Instant::now();

    let scoped_id = id.clone();
    let result = request_id::scope(id.clone(), async move {
        let result = match next.call(req).await {
            Ok(res) => Ok(normalise_error_body(res.map_into_boxed_body())),
            // An inner middleware failed and the request is gone with it, so the response
            // is built by the dispatcher from this error: it carries the code and the id.
            Err(err) => {
                let status = err.as_response_error().status_code();
                Err(FailedRequest { code: code_for_status(status), request_id: scoped_id })
            }
        };
        let status = match &result {
            Ok(res) => res.status(),
            Err(failed) => failed.code.status(),
        };
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request completed"
        );
        result
    })
    .instrument(span)
    .await;

    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

/// A request whose inner service chain returned an error instead of a response.
#[derive(Debug)]
struct FailedRequest {
    code: ErrorCode,
    request_id: String,
}

impl std::fmt::Display for FailedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl ResponseError for FailedRequest {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = error_response_with_id(self.code, &self.request_id);
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            res.headers_mut().insert(HEADER, value);
        }
        res
    }
}

/// Error responses made by actix itself (extractor rejections, unmatched methods) have plain
/// text bodies; they are replaced by the JSON error body with the same status, keeping any
/// other headers (such as `Retry-After` or `Allow`).
fn normalise_error_body(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (req, old) = res.into_parts();
    let mut replacement = json_error(code_for_status(status));
    *replacement.status_mut() = status;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().append(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, replacement)
}

fn is_json(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}
