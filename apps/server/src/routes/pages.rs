//! `/account*`: server-rendered HTML pages, and the forms they post.
//!
//! Pages are askama templates (`apps/server/templates/`), compiled into the binary and
//! HTML-escaped by default: a value from the database or the request (a user agent, a user
//! name) is always text in the page, never markup. They carry no inline script or style and
//! load nothing from elsewhere, so the page policy of `security_headers` (`default-src 'self'`,
//! no `'unsafe-inline'`) holds without exceptions.
//!
//! Every form posts `application/x-www-form-urlencoded` with the session's form token in a
//! hidden `csrf_token` field ([`form_token`]), and its handler takes a [`VerifiedForm`], which
//! refuses the form (403 `form_token_invalid`) unless the token is that session's. Together
//! with the Fetch Metadata / `Origin` check of [`crate::http::csrf`], that is two independent
//! defences against cross-site form posts. A form handler answers 303 See Other to a page
//! (post/redirect/get), so reloading the page that follows never posts the form again.
//!
//! Without a valid session a page answers like the API: 401 with the JSON error body (there is
//! no sign-in page yet; a fork that adds one can redirect to it instead).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{clear_session, end_current_session};
use super::me::end_session;
use super::responses::DatabaseUnavailable;
use super::views::SessionView;
use crate::auth::{
    CurrentSession, FORM_TOKEN_FIELD, RecentVerifiedForm, VerifiedForm, auth_service, blocking,
    form_token,
};
use crate::http::error::AppError;

/// Where the account page is.
const ACCOUNT: &str = "/account";
/// Where a signed-out browser is sent.
const SIGNED_OUT: &str = "/account/signed-out";

/// The fields of a form that carries nothing but its token: [`VerifiedForm`] checks the token
/// and gives the handler the other fields, here none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

// On the wire such a form is its token alone, which is what the document states for it (the
// derive would describe the empty struct the handler receives).
impl utoipa::PartialSchema for NoFields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A form of the account page: only the session's form token."))
            .property(
                FORM_TOKEN_FIELD,
                ObjectBuilder::new().schema_type(Type::String).description(Some(
                    "The form token of the session, from the page's hidden field.",
                )),
            )
            .required(FORM_TOKEN_FIELD)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for NoFields {
    fn name() -> std::borrow::Cow<'static, str> {
        "TokenForm".into()
    }
}

/// `templates/account.html`.
#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    username: &'a str,
    email: &'a str,
    csrf_token: &'a str,
    sessions: Vec<SessionView>,
}

/// `templates/signed_out.html`.
#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage;

/// 200 `text/html; charset=utf-8` with the rendered page.
pub(super) fn html(page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::Ok().insert_header(ContentType::html()).body(body))
}

/// 303 See Other to `location`.
pub(super) fn see_other(location: &'static str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// 303 to the signed-out page that also ends the session in the browser.
fn signed_out_redirect() -> HttpResponse {
    clear_session(&mut HttpResponse::SeeOther())
        .insert_header((header::LOCATION, SIGNED_OUT))
        .finish()
}

/// The account page: the signed-in user's name and e-mail, their sessions (newest first) with
/// an "End" form for each other one, and a "Sign out" form.
#[utoipa::path(
    get,
    path = "/account",
    tag = "pages",
    responses(
        (status = 200, description = "The account page, HTML with the session's form token in its forms.", body = String, content_type = "text/html"),
        (status = 401, description = "No valid session (`unauthorized`, JSON: there is no sign-in page).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn account(
    session: CurrentSession,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    // The token of the cookie the browser holds after this response (a reissued one included).
    let csrf_token = form_token(&req)?;
    let auth = auth_service(&req)?;
    let principal = session.0;
    let user = principal.user.clone();
    let current = principal.session.id;
    let list = blocking(move || auth.sessions(&principal)).await?;
    html(&AccountPage {
        username: &user.username,
        email: &user.email,
        csrf_token: &csrf_token,
        sessions: list.iter().map(|s| SessionView::new(s, s.id == current)).collect(),
    })
}

/// The "Sign out" form: ends this session exactly as `POST /api/v1/auth/logout` does, then
/// 303 to the signed-out page with the cookie deleted and `Clear-Site-Data` sent.
#[utoipa::path(
    post,
    path = "/account/sign-out",
    tag = "pages",
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out: the session is ended, its cookie deleted and `Clear-Site-Data` sent.", headers(("Location" = String, description = "`/account/signed-out`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn sign_out(
    form: VerifiedForm<NoFields>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    end_current_session(form.session.0, &req).await?;
    Ok(signed_out_redirect())
}

/// An "End" form of the session list: ends that session of the signed-in user exactly as
/// `DELETE /api/v1/me/sessions/{id}` does, under the same rule (a recent authentication, so a
/// stolen session cannot end the owner's sessions one by one through the page), then 303 back
/// to the account page (or, for this very session, to the signed-out page, as "Sign out"
/// does).
#[utoipa::path(
    post,
    path = "/account/sessions/{id}/end",
    tag = "pages",
    params(("id" = String, Path, description = "The session id (a UUID); anything else is 404.")),
    request_body(content = NoFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Ended; back to the account page (to the signed-out page, cookie deleted, when it was this session).", headers(("Location" = String, description = "`/account`, or `/account/signed-out`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not this session's form token (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 404, description = "Not one of this user's sessions (`not_found`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn end_other_session(
    form: RecentVerifiedForm<NoFields>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let current = end_session(form.session.0, &req, &path.into_inner()).await?;
    Ok(if current { signed_out_redirect() } else { see_other(ACCOUNT) })
}

/// Where "Sign out" leads: a page that says so. Public: the session is gone by then.
#[utoipa::path(
    get,
    path = "/account/signed-out",
    tag = "pages",
    responses(
        (status = 200, description = "The signed-out page, HTML.", body = String, content_type = "text/html"),
    ),
)]
pub(crate) async fn signed_out() -> Result<HttpResponse, AppError> {
    html(&SignedOutPage)
}
