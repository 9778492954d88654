//! `/api/v1/me*`: the signed-in user's own account, password and sessions.

use actix_web::{HttpRequest, HttpResponse, web};
use sec_auth::{Principal, SessionId};
use sec_core::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JsonBody;
use super::auth::signed_out;
use super::responses::{DatabaseOrHashingBusy, DatabaseUnavailable, Revoked, ThrottledAttempts};
use super::views::{SessionView, UserView};
use crate::auth::{
    CurrentSession, RecentSession, auth_service, blocking, request_meta, session_cookie,
};
use crate::http::error::{AppError, ErrorCode};

/// The signed-in account and its roles.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeResponse {
    /// The account.
    user: UserView,
    /// Its role names.
    roles: Vec<String>,
}

/// The signed-in user's sessions.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionList {
    /// Newest first.
    sessions: Vec<SessionView>,
}

/// The signed-in account and its roles.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "me",
    responses(
        (status = 200, description = "The signed-in account and its roles.", body = MeResponse),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn get(session: CurrentSession) -> Result<HttpResponse, AppError> {
    // The roles were read with the session, in the same statement (db/sessions.rs): asking
    // again would cost a second trip to the database for the same answer.
    let CurrentSession(principal) = session;
    let user = UserView::from(&principal.user);
    Ok(HttpResponse::Ok().json(MeResponse { user, roles: principal.roles }))
}

/// `PUT /api/v1/me/password` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePasswordBody {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// The password rules of registration: at least `auth.password_min_chars` characters
    /// (15 unless configured otherwise, never below 8), at most 128.
    #[schema(value_type = String, format = Password, min_length = 15, max_length = 128)]
    new_password: SecretString,
}

/// Changes the password (needs a recent authentication): every other session ends, this one
/// gets a new token (sent as a new cookie). 204; 422 for a wrong current password or a refused
/// new one.
#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    tag = "me",
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed: every other session ended; this one gets a new cookie."),
        (status = 422, description = "Wrong current password or a refused new one (`validation_failed`).", body = crate::http::error::ErrorBody),
        (status = 429, response = ThrottledAttempts),
        (status = 503, response = DatabaseOrHashingBusy),
    ),
    security(("session" = [])),
)]
pub(crate) async fn change_password(
    session: RecentSession,
    req: HttpRequest,
    body: JsonBody<ChangePasswordBody>,
) -> Result<HttpResponse, actix_web::Error> {
    let ChangePasswordBody { current_password, new_password } = body?.into_inner();
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let token =
        blocking(move || auth.change_password(&session.0, &current_password, &new_password, &meta))
            .await?;
    Ok(HttpResponse::NoContent().cookie(session_cookie(token.expose())).finish())
}

/// The signed-in user's sessions, newest first; `current` marks this one.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    tag = "me",
    responses(
        (status = 200, description = "The sessions, newest first.", body = SessionList),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn sessions(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let principal = session.0;
    let current = principal.session.id;
    let list = blocking(move || auth.sessions(&principal)).await?;
    let views: Vec<SessionView> =
        list.iter().map(|s| SessionView::new(s, s.id == current)).collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions: views }))
}

/// Ends every session of the signed-in user except this one (needs a recent authentication).
/// 200 with how many ended.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions",
    tag = "me",
    responses(
        (status = 200, description = "Every other session ended.", body = Revoked),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn revoke_other_sessions(
    session: RecentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let revoked = blocking(move || auth.revoke_other_sessions(&session.0, &meta)).await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// Ends one of the signed-in user's sessions (needs a recent authentication, as ending all the
/// others does); ending the current one signs out. 204; 404 if the id is not one of theirs.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    tag = "me",
    params(("id" = String, Path, description = "The session id (a UUID); anything else is 404.")),
    responses(
        (status = 204, description = "Ended (ending the current one signs out: cookie deleted, `Clear-Site-Data` sent)."),
        (status = 404, description = "Not one of this user's sessions (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn revoke_session(
    session: RecentSession,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let current = end_session(session.0, &req, &path.into_inner()).await?;
    Ok(if current { signed_out() } else { HttpResponse::NoContent().finish() })
}

/// Ends session `id` of the principal's own account (audited): the API's and the account
/// page's "End" form. `Ok(true)` when it was the principal's current session (the caller
/// signs the browser out); 404 `not_found` when `id` is not a session of this account.
pub(crate) async fn end_session(
    principal: Principal,
    req: &HttpRequest,
    id: &str,
) -> Result<bool, AppError> {
    let id = SessionId::parse(id).ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    let current = principal.session.id == id;
    blocking(move || auth.revoke_session(&principal, id, &meta)).await?;
    Ok(current)
}
