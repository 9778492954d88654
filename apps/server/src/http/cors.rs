//! Cross-origin resource sharing, through `actix-cors`, from `cors.*`.
//!
//! Off by default: with an empty `cors.allowed_origins` no `Access-Control-*` header is ever
//! sent, so browsers let no other origin read a response. When origins are listed, exactly
//! those get access; a request from an origin not on the list (or with no `Origin`) is served
//! as if CORS were off: the answer carries no `Access-Control-*` header at all
//! ([`only_for_allowed_origins`] removes the ones `actix-cors` adds to every answer), only
//! `Vary: Origin`. A preflight from an unlisted origin, or asking for a method or header that
//! is not allowed, is refused with 400 `bad_request` and no `Access-Control-*` header, so a
//! refusal names no listed origin, method or header.
//! `*` alone allows any origin without credentials (`Access-Control-Allow-Origin: *`);
//! `*` with `cors.allow_credentials` is refused at start-up (SEC-C020), because it would let
//! every site read answers made with the user's cookies.
//!
//! Methods: GET, HEAD, POST, PUT, PATCH, DELETE. Request headers: `Authorization`,
//! `Content-Type`, `X-Request-Id`. Exposed: `X-Request-Id`, `Retry-After`.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, Next};
use sec_config::{CorsOrigins, CorsSettings};

/// The CORS layer for `App::wrap`; a pass-through when `cors.allowed_origins` is empty.
pub fn layer(cors: &CorsSettings) -> Condition<Cors> {
    let mut layer = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            crate::http::request_id::HEADER,
        ])
        .expose_headers([crate::http::request_id::HEADER, header::RETRY_AFTER])
        .max_age(usize::try_from(cors.max_age_secs()).ok())
        // Unlisted origins are served as if CORS were off, rather than refused with an error.
        .block_on_origin_mismatch(false);
    let enabled = match cors.origins() {
        CorsOrigins::List(origins) => {
            for origin in origins {
                layer = layer.allowed_origin(origin.as_str());
            }
            true
        }
        // SEC-C020 refuses to start with credentials here, so this never reflects any origin
        // together with cookies.
        CorsOrigins::Any => {
            layer = layer.allow_any_origin().send_wildcard();
            true
        }
        _ => false,
    };
    if cors.allow_credentials() {
        layer = layer.supports_credentials();
    }
    Condition::new(enabled, layer)
}

/// Middleware around [`layer`]: an answer that grants no origin (no
/// `Access-Control-Allow-Origin`) leaves without any `Access-Control-*` header. `actix-cors`
/// adds `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` to every answer,
/// whatever the origin; they grant nothing without `Allow-Origin`, but they would tell an
/// unlisted origin that credentials are enabled, and they make "as if CORS were off" untrue.
///
/// # Errors
///
/// Those of the inner service, unchanged.
pub async fn only_for_allowed_origins(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let granted: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in granted {
            headers.remove(name);
        }
    }
    Ok(response)
}
