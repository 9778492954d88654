//! Catch-panic middleware: a panic inside a handler becomes a 500 with the standard error body
//! (`internal_error` and the request id, nothing about the panic) and the worker goes on
//! serving. The panic itself is logged once, by the panic hook (`sec_audit::install_panic_hook`),
//! with the same request id.
//!
//! A small middleware of our own rather than `actix-web-lab`'s `CatchPanic`: that crate brings
//! a dozen dependencies for these few lines. Like it, this catches panics while the handler's
//! future is polled; a panic while a streamed body is being written is not covered (it ends
//! that connection, and the worker is restarted by actix).

use std::panic::AssertUnwindSafe;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use futures_util::FutureExt;

use crate::http::error::{ErrorCode, json_error};

/// Middleware: runs the rest of the chain, turning a panic into [`HandlerPanicked`]. Mount it
/// inside the request-id middleware, so the response and the log carry the id.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // `next.call` runs inside the guarded future, so a panic while the call is set up is
    // caught too. The state the panic interrupted is dropped with the future; nothing of it
    // is reused, which is what makes asserting unwind safety sound here.
    let guarded = AssertUnwindSafe(async move { next.call(req).await });
    match guarded.catch_unwind().await {
        Ok(result) => result,
        Err(_payload) => Err(HandlerPanicked.into()),
    }
}

/// A handler panicked; the client gets a plain 500.
#[derive(Debug, thiserror::Error)]
#[error("request handler panicked")]
pub struct HandlerPanicked;

impl ResponseError for HandlerPanicked {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        json_error(ErrorCode::Internal)
    }
}
