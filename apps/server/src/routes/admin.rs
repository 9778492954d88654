//! `/api/v1/admin/*`: account and role administration. Each handler's first argument states
//! the permission it needs.

use actix_web::{HttpRequest, HttpResponse, web};
use sec_auth::{RoleName, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use super::paging::PageQuery;
use super::responses::DatabaseUnavailable;
use super::views::AdminUserView;
use crate::auth::{Require, auth_service, blocking, perm, request_meta};
use crate::http::error::{AppError, ErrorCode};

/// The account id of a path, or 404 for anything that cannot be one.
pub(crate) fn user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).ok_or_else(|| AppError::new(ErrorCode::NotFound))
}

/// A page of accounts.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPage {
    /// The accounts, oldest first.
    users: Vec<AdminUserView>,
    /// The offset asked for (any `u32`).
    #[schema(value_type = u64, maximum = 4_294_967_295_u64)]
    offset: u32,
    /// The page size used (the one asked for, within 1..=100).
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
}

/// One account in the admin API.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminUserEnvelope {
    /// The account with its state and roles.
    user: AdminUserView,
}

/// A page of accounts, oldest first (`?offset=0&limit=50`, limit at most 100).
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    params(("offset" = Option<u64>, Query, maximum = 4_294_967_295_u64, description = "Accounts to skip (default 0)."), ("limit" = Option<u64>, Query, maximum = 4_294_967_295_u64, description = "Page size (default 50, clamped to 1..=100).")),
    responses(
        (status = 200, description = "A page of accounts, oldest first.", body = UserPage),
        (status = 400, description = "A malformed or unknown query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn list_users(
    _: Require<perm::UsersRead>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let auth = auth_service(&req)?;
    let page = query.page();
    let (offset, limit) = (page.offset(), page.limit());
    let users = blocking(move || auth.list_users(offset, limit)).await?;
    let views: Vec<AdminUserView> =
        users.iter().map(|(u, roles)| AdminUserView::new(u, roles.clone())).collect();
    Ok(HttpResponse::Ok().json(UserPage { users: views, offset, limit }))
}

/// One account with its roles.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 200, description = "The account with its roles.", body = AdminUserEnvelope),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn get_user(
    _: Require<perm::UsersRead>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = user_id(&path.into_inner())?;
    let auth = auth_service(&req)?;
    let (user, roles) = blocking(move || auth.user(id)).await?;
    Ok(HttpResponse::Ok().json(AdminUserEnvelope { user: AdminUserView::new(&user, roles) }))
}

/// Disables or re-enables account `raw_id`: the API's and the administration page's action.
pub(crate) async fn set_disabled(
    admin: sec_auth::Principal,
    req: &HttpRequest,
    raw_id: &str,
    disabled: bool,
) -> Result<(), AppError> {
    let id = user_id(raw_id)?;
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    blocking(move || auth.set_disabled(&admin, id, disabled, &meta)).await
}

/// Disables an account: it cannot log in and its sessions end at once. 204; 409 `last_admin`
/// for the last enabled administrator.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/disable",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 204, description = "Disabled: it cannot log in and its sessions ended."),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "The last enabled administrator (`last_admin`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn disable_user(
    admin: Require<perm::UsersManage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_disabled(admin.principal, &req, &path.into_inner(), true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Re-enables an account. 204.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/enable",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 204, description = "Enabled."),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn enable_user(
    admin: Require<perm::UsersManage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_disabled(admin.principal, &req, &path.into_inner(), false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Clears an account's login-failure counters (password and second factor, from every
/// address): any back-off or hard limit on it ends at once. Audited as `LoginFailuresCleared`.
/// 204.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/unlock",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    responses(
        (status = 204, description = "The counters are cleared: the account's login attempts are judged afresh."),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn unlock_user(
    admin: Require<perm::UsersManage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = user_id(&path.into_inner())?;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let admin = admin.principal;
    blocking(move || auth.clear_login_failures(Some(&admin), id, &meta)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grants (`grant`) or revokes the role of the path `{id}/roles/{role}`: 404 for an account id
/// or role name that cannot exist, then 204.
/// Grants or revokes role `raw_role` of account `raw_id`: the API's and the administration
/// page's action.
pub(crate) async fn change_role(
    admin: sec_auth::Principal,
    req: &HttpRequest,
    (raw_id, raw_role): (&str, &str),
    grant: bool,
) -> Result<(), AppError> {
    let role = RoleName::parse(raw_role).map_err(|_| AppError::new(ErrorCode::NotFound))?;
    let id = user_id(raw_id)?;
    let auth = auth_service(req)?;
    let meta = request_meta(req);
    blocking(move || {
        if grant {
            auth.grant_role(&admin, id, &role, &meta)
        } else {
            auth.revoke_role(&admin, id, &role, &meta)
        }
    })
    .await
}

/// Grants a role. 204 (also when already held); 404 for an unknown account or role.
#[utoipa::path(
    put,
    path = "/api/v1/admin/users/{id}/roles/{role}",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404."), ("role" = String, Path, description = "A role name, e.g. `admin` or `user`; an unknown one is 404.")),
    responses(
        (status = 204, description = "Granted (also when already held)."),
        (status = 404, description = "No such account or role (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn grant_role(
    admin: Require<perm::RolesManage>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, role) = path.into_inner();
    change_role(admin.principal, &req, (&id, &role), true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a role. 204 (also when not held); 409 `last_admin` for the last enabled
/// administrator's admin role.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/roles/{role}",
    tag = "admin",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404."), ("role" = String, Path, description = "A role name, e.g. `admin` or `user`; an unknown one is 404.")),
    responses(
        (status = 204, description = "Revoked (also when not held)."),
        (status = 404, description = "No such account or role (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "The last enabled administrator's admin role (`last_admin`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn revoke_role(
    admin: Require<perm::RolesManage>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, role) = path.into_inner();
    change_role(admin.principal, &req, (&id, &role), false).await?;
    Ok(HttpResponse::NoContent().finish())
}
