//! HTTP routes. Each module registers its own paths; [`configure`] mounts them all.

mod health;

use actix_web::web;

use crate::error::{AppError, ErrorCode};

/// Registers every route of the application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}

/// Answer for paths no route matches: the standard JSON error body with `not_found`.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::new(ErrorCode::NotFound))
}
