//! `/api/v1/auth/*`: register, login, logout.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, web};
use sec_auth::Registration;
use sec_core::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::views::UserView;
use crate::auth::{
    CurrentSession, SESSION_COOKIE, auth_service, blocking, clearing_cookie, request_meta,
    session_cookie,
};
use crate::error::AppError;

/// `POST /api/v1/auth/register` body. The password is held as a secret from the moment it is
/// parsed: no `Debug` output, wiped on drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    username: String,
    email: String,
    password: SecretString,
}

/// Creates an account with the least-privileged role. 201 with the account; 422 naming each
/// rejected field (a taken user name or e-mail included).
pub(crate) async fn register(
    req: HttpRequest,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let RegisterBody { username, email, password } = body.into_inner();
    let user = blocking(move || {
        auth.register(
            &Registration { username: &username, email: &email, password: &password },
            &meta,
        )
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({ "user": UserView::from(&user) })))
}

/// `POST /api/v1/auth/login` body: a user name or e-mail address, and the password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    identifier: String,
    password: SecretString,
}

/// Logs in: 200 with a fresh session cookie; 401 `invalid_credentials` for an unknown account,
/// a wrong password or a disabled account alike; 429 with `Retry-After` when throttled.
pub(crate) async fn login(
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let previous = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let LoginBody { identifier, password } = body.into_inner();
    let logged_in =
        blocking(move || auth.login(&identifier, &password, previous.as_deref(), &meta)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .cookie(session_cookie(logged_in.token.expose()))
        .json(json!({ "user": UserView::from(&logged_in.user), "mfa_required": false })))
}

/// Logs out: deletes the session on the server, deletes the cookie, and asks the browser to
/// drop this origin's cookies and storage (`Clear-Site-Data`). 204.
pub(crate) async fn logout(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    blocking(move || auth.logout(&session.0, &meta)).await?;
    Ok(signed_out())
}

/// 204 that deletes the session cookie and clears the site's data in the browser.
pub(crate) fn signed_out() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((
            header::HeaderName::from_static("clear-site-data"),
            "\"cache\", \"cookies\", \"storage\"",
        ))
        .cookie(clearing_cookie())
        .finish()
}
