//! `/admin/users*`: the administration page: accounts a page at a time, with forms to disable
//! and enable them and to grant and revoke roles.
//!
//! The page and each form have the rule of their API twin (`/api/v1/admin/users*`): the
//! permission, the administrator's own second factor and a recent authentication, checked by
//! the same function ([`PermittedForm`], [`Require`]); the actions are the API's own
//! ([`crate::routes::admin::set_disabled`], [`crate::routes::admin::change_role`]), audited
//! the same way.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sec_auth::{ROLE_ADMIN, ROLE_USER};
use serde::Deserialize;
use utoipa::ToSchema;

use super::account::chrome_for;
use super::{Chrome, Flash, NoFields, html, pages, see_other_with};
use crate::auth::{PermittedForm, Require, auth_service, blocking, form_token, perm};
use crate::http::error::AppError;
use crate::routes::admin::{change_role, set_disabled};
use crate::routes::responses::DatabaseUnavailable;
use crate::routes::views::rfc3339;

/// The page the forms lead back to.
const USERS: &str = "/admin/users";
/// Accounts per page.
const PAGE_SIZE: u32 = 20;

/// One account in the table.
struct Row {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    disabled: bool,
    roles: Vec<String>,
    created_at: String,
}

/// `templates/admin_users.html`.
#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    rows: Vec<Row>,
    /// The roles the grant form offers.
    roles: Vec<String>,
    previous: Option<u32>,
    next: Option<u32>,
}

pages!(UsersPage<'_>);

/// `?offset=` of the page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersQuery {
    #[serde(default)]
    offset: u32,
}

/// The accounts, oldest first, twenty at a time, with their state and roles and the forms to
/// change them.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "pages",
    params(("offset" = Option<u64>, Query, maximum = 4_294_967_295_u64, description = "Accounts to skip (default 0).")),
    responses(
        (status = 200, description = "The page, HTML.", body = String, content_type = "text/html"),
        (status = 400, description = "An unknown or malformed query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session (`unauthorized`, a browser is sent to `/login`), or no recent authentication (`reauth_required`, a browser is sent to `/account/confirm`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "Without `users:read` (`forbidden`), or without the administrator's second factor (`mfa_required`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn users(
    admin: Require<perm::UsersRead>,
    req: HttpRequest,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf_token = form_token(&req)?;
    let chrome = chrome_for(&req, &admin.principal).await;
    let auth = auth_service(&req)?;
    let offset = query.offset;
    // One more than shown tells whether there is a next page.
    let mut list = blocking(move || auth.list_users(offset, PAGE_SIZE + 1)).await?;
    let more = list.len() > PAGE_SIZE as usize;
    list.truncate(PAGE_SIZE as usize);
    let mut roles: Vec<String> = vec![ROLE_ADMIN.to_owned(), ROLE_USER.to_owned()];
    let rows = list
        .into_iter()
        .map(|(user, held)| {
            roles.extend(held.iter().cloned());
            Row {
                id: user.id.to_string(),
                username: user.username,
                email: user.email,
                email_verified: user.email_verified_at.is_some(),
                disabled: user.disabled,
                roles: held,
                created_at: rfc3339(user.created_at),
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    html(&UsersPage {
        chrome,
        csrf_token: &csrf_token,
        rows,
        roles,
        previous: (offset > 0).then(|| offset.saturating_sub(PAGE_SIZE)),
        next: more.then(|| offset.saturating_add(PAGE_SIZE)),
    })
}

/// Disables an account as `POST /api/v1/admin/users/{id}/disable` does (its sessions end at
/// once), then 303 to the page.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/disable",
    tag = "pages",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Disabled.", headers(("Location" = String, description = "`/admin/users`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session, or no recent authentication (`reauth_required`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "Without `users:manage` or the administrator's second factor, or a missing or wrong `csrf_token` (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "The last enabled administrator (`last_admin`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn disable(
    form: PermittedForm<perm::UsersManage, NoFields>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_disabled(form.session.0, &req, &path.into_inner(), true).await?;
    Ok(see_other_with(USERS, Flash::UserDisabled))
}

/// Re-enables an account as `POST /api/v1/admin/users/{id}/enable` does, then 303 to the page.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/enable",
    tag = "pages",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Enabled.", headers(("Location" = String, description = "`/admin/users`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session, or no recent authentication (`reauth_required`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "Without `users:manage` or the administrator's second factor, or a missing or wrong `csrf_token` (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn enable(
    form: PermittedForm<perm::UsersManage, NoFields>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    set_disabled(form.session.0, &req, &path.into_inner(), false).await?;
    Ok(see_other_with(USERS, Flash::UserEnabled))
}

/// The role forms' field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleForm {
    /// A role name, e.g. `admin` or `user`; an unknown one is 404.
    role: String,
}

/// Grants a role as `PUT /api/v1/admin/users/{id}/roles/{role}` does, then 303 to the page.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/roles/grant",
    tag = "pages",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    request_body(content = RoleForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Granted (also when already held).", headers(("Location" = String, description = "`/admin/users`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session, or no recent authentication (`reauth_required`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "Without `roles:manage` or the administrator's second factor, or a missing or wrong `csrf_token` (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account or role (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn grant_role_submit(
    form: PermittedForm<perm::RolesManage, RoleForm>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    change_role(form.session.0, &req, (&id, &form.fields.role), true).await?;
    Ok(see_other_with(USERS, Flash::RoleGranted))
}

/// Revokes a role as `DELETE /api/v1/admin/users/{id}/roles/{role}` does, then 303 to the
/// page.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/roles/revoke",
    tag = "pages",
    params(("id" = String, Path, description = "The account id (a UUID); anything else is 404.")),
    request_body(content = RoleForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Revoked (also when not held).", headers(("Location" = String, description = "`/admin/users`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No valid session, or no recent authentication (`reauth_required`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "Without `roles:manage` or the administrator's second factor, or a missing or wrong `csrf_token` (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such account or role (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 409, description = "The last enabled administrator's admin role (`last_admin`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn revoke_role_submit(
    form: PermittedForm<perm::RolesManage, RoleForm>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    change_role(form.session.0, &req, (&id, &form.fields.role), false).await?;
    Ok(see_other_with(USERS, Flash::RoleRevoked))
}
