//! `GET /api/openapi.json`: the OpenAPI document of this API. It is assembled from the
//! handlers by `crate::openapi`, which names this handler too; so the document reaches it as
//! application data ([`ApiDocument`], rendered once at start-up), not by a call back.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{HttpResponse, web};

/// The document as JSON, fixed for a build.
#[derive(Debug, Clone)]
pub(crate) struct ApiDocument(String);

impl ApiDocument {
    /// Wraps the rendered document.
    pub(crate) fn new(json: String) -> Self {
        Self(json)
    }
}

/// The document, as JSON. It is fixed for a build, so it may be cached by clients and proxies
/// for an hour.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    responses(
        (status = 200, description = "This document.", body = Object),
    ),
)]
pub(crate) async fn openapi_json(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(3600)]))
        .insert_header(ContentType::json())
        .body(document.0.clone())
}
