//! Request correlation: every request gets an id that appears in its log lines, in the
//! `X-Request-Id` response header and in error bodies; and every error response leaves in the
//! same JSON shape, whichever component produced it.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{ErrorCode, code_for_status, error_response_with_id, json_error};

/// The request and response header that carries the id.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a client.
const MAX_LEN: usize = 64;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// An id from a client (a load balancer, another service) is kept only if it is 1 to 64
/// characters of `[A-Za-z0-9._-]`: anything else could carry log-forging or header-splitting
/// payloads, and is replaced by a fresh id.
pub fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn choose(req: &ServiceRequest) -> String {
    req.headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Middleware: assigns the id, runs the request inside a span that carries it, logs one line
/// per request, and rewrites any non-JSON error response into the standard error body.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = choose(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        // Debug formatting escapes control characters, so a crafted path cannot forge lines.
        path = ?req.path(),
    );
    let started = Instant::now();

    let scoped_id = id.clone();
    let result = CURRENT
        .scope(id.clone(), async move {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_rejects_anything_that_could_inject() {
        for ok in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c-D", &"x".repeat(64)] {
            assert!(is_acceptable(ok), "{ok:?}");
        }
        for bad in ["", "a b", "a\nb", "a\r\nX-Evil: 1", "<script>", "é", "a/b", &"x".repeat(65)] {
            assert!(!is_acceptable(bad), "{bad:?}");
        }
    }
}
