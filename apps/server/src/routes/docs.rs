//! `GET /api/openapi.json`: the OpenAPI document of this API (see [`crate::openapi`]).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header::{CacheControl, CacheDirective, ContentType};

use crate::error::AppError;

/// The document, as JSON. It is fixed for a build, so it is rendered once and may be cached
/// by clients and proxies for an hour.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    responses(
        (status = 200, description = "This document.", body = Object),
    ),
)]
pub(crate) async fn openapi_json() -> Result<HttpResponse, AppError> {
    static RENDERED: OnceLock<String> = OnceLock::new();
    let body = match RENDERED.get() {
        Some(body) => body.clone(),
        None => {
            let body = crate::openapi::pretty_json().map_err(AppError::internal)?;
            RENDERED.get_or_init(|| body).clone()
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(3600)]))
        .insert_header(ContentType::json())
        .body(body))
}
