//! Liveness and readiness probes for load balancers and Kubernetes.
//!
//! `/healthz` says the process is up and serving; it touches nothing else, so a database
//! outage never gets a healthy pod restarted. `/readyz` says the server can do useful work:
//! it answers 503 `database_unavailable` while the database cannot be reached, and turns
//! green again by itself when it can. Until the audit folder has been compared with the head
//! recorded in the database (`audit::continuity`), which a database down at start-up
//! postpones, it answers the same 503.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::DatabaseUnavailable;
use crate::audit::continuity::Recorder;
use crate::db::{Db, DbError};
use crate::http::error::AppError;

/// `{"status": ...}` of the probes.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeStatus {
    /// `ok` (liveness) or `ready` (readiness).
    status: &'static str,
}

/// Liveness: 200 while the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "The process is serving.", body = ProbeStatus),
    ),
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(ProbeStatus { status: "ok" })
}

/// Readiness: 200 when the database answers (and the audit trail has been compared with the
/// head recorded in it), 503 with a reason code when it does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database answers.", body = ProbeStatus),
        (status = 503, response = DatabaseUnavailable),
    ),
)]
pub(crate) async fn readyz(
    db: web::Data<Db>,
    audit_head: web::Data<Recorder>,
) -> Result<HttpResponse, AppError> {
    db.ping().await?;
    if !audit_head.is_confirmed() {
        return Err(DbError::Unavailable("audit head not compared yet".into()).into());
    }
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(ProbeStatus { status: "ready" }))
}
