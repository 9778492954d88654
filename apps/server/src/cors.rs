//! Cross-origin resource sharing, through `actix-cors`, from `cors.*`.
//!
//! Off by default: with an empty `cors.allowed_origins` no `Access-Control-*` header is ever
//! sent, so browsers let no other origin read a response. When origins are listed, exactly
//! those get access; an origin not on the list is treated as if CORS were off (the request is
//! served, the browser withholds the answer), so the list cannot be probed for error codes.
//! `*` alone allows any origin without credentials (`Access-Control-Allow-Origin: *`);
//! `*` with `cors.allow_credentials` is refused at start-up (SEC-C020), because it would let
//! every site read answers made with the user's cookies.
//!
//! Methods: GET, HEAD, POST, PUT, PATCH, DELETE. Request headers: `Authorization`,
//! `Content-Type`, `X-Request-Id`. Exposed: `X-Request-Id`, `Retry-After`.

use actix_cors::Cors;
use actix_web::http::{Method, header};
use actix_web::middleware::Condition;
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
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, crate::request_id::HEADER])
        .expose_headers([crate::request_id::HEADER, header::RETRY_AFTER])
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
