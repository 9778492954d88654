//! Request and connection limits: what a client may make the server hold, and for how long.
//!
//! | limit | where | default | answer |
//! | --- | --- | --- | --- |
//! | JSON, form and raw body size | extractor configs in `startup.rs` | 64 KiB | 413 `payload_too_large` |
//! | request target (path + query) | [`middleware`] | `limits.max_url_bytes` = 8 KiB | 414 `uri_too_long` |
//! | request head (line + headers) | actix-http, fixed | 96 headers, 128 KiB | 431, empty body |
//! | time to send the first request head | `limits.client_request_timeout_ms` | 5 s | 408, then close (slow-loris) |
//! | idle keep-alive connection | `limits.keep_alive_secs` | 5 s | close |
//! | connection shutdown | `limits.client_disconnect_timeout_ms` | 1 s | drop |
//! | open connections per worker | `limits.max_connections` | 25 000 | stop accepting until one closes |
//! | TLS handshakes in progress per worker | `limits.max_connection_rate` | 256 | stop accepting until one ends |
//! | TLS handshake | actix-tls, fixed | 3 s | close |
//!
//! actix-http does not let an application lower its head limits; the request target is the
//! part of the head that ends up in logs and in downstream calls, so it gets a cap of its own.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::KeepAlive;
use actix_web::middleware::Next;
use actix_web::web;
use sec_config::LimitsSettings;

use crate::error::{AppError, ErrorCode};

/// The request-target cap, registered as `web::Data<MaxUrlBytes>`.
#[derive(Debug, Clone, Copy)]
pub struct MaxUrlBytes(pub usize);

/// Middleware: 414 `uri_too_long` when the request target is longer than the cap.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let max = req.app_data::<web::Data<MaxUrlBytes>>().map(|m| m.0);
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    match max {
        Some(max) if len > max => Ok(req.error_response(AppError::with_cause(
            ErrorCode::UriTooLong,
            format!("request target of {len} bytes, more than {max}"),
        ))),
        _ => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
    }
}

/// The keep-alive setting in actix's terms.
pub fn keep_alive(limits: &LimitsSettings) -> KeepAlive {
    match limits.keep_alive() {
        Some(d) => KeepAlive::Timeout(d),
        None => KeepAlive::Disabled,
    }
}
