//! Errors answered to a browser's navigation: pages, not JSON.
//!
//! A navigation is a request the browser makes to show its answer as the page: it says so
//! with `Sec-Fetch-Dest: document` (Fetch Metadata, sent by every current browser, never
//! settable by a script). For such a request, an error answer of any layer (a handler, an
//! extractor's access rule, the CSRF check, the rate limit, a 404) becomes:
//!
//! - no valid session (`unauthorized`): 303 to the sign-in page, which returns to the page the
//!   user was on ([`Next::page_of`]); on the second-factor step of a sign-in, back to the
//!   sign-in page with a message;
//! - an action that needs a fresher proof (`reauth_required`, `mfa_required`): 303 to the
//!   confirmation page, which returns to that page;
//! - anything else: an HTML page with the same status, the stable error code and the request
//!   id, and a sentence saying what to do. `Retry-After`, `Allow`, `Set-Cookie` and the
//!   request id header are kept.
//!
//! Every other client (scripts, `fetch`, the API's callers) gets the JSON error body as before:
//! its shape is the API's contract.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next as NextService;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use askama::Template;

use super::{CONFIRM, Chrome, Flash, LOGIN, Next, render, see_other_builder};
use crate::http::error::ErrorCode;
use crate::http::request_id::HEADER as REQUEST_ID;

/// `templates/error.html`.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

super::pages!(ErrorPage<'_>);

/// Whether the request is a navigation of a browser (its answer becomes the page).
pub(crate) fn is_navigation(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-dest").is_some_and(|v| v.as_bytes() == b"document")
}

/// Middleware: see the module.
pub(crate) async fn middleware(
    req: ServiceRequest,
    next: NextService<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !is_navigation(req.headers()) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    // An inner layer's own failure (not a response) stays as it is: the dispatcher builds its
    // JSON answer, and the request it would need for a page is gone with it.
    let (request, response) = next.call(req).await?.map_into_boxed_body().into_parts();
    let Some(code) = response.extensions().get::<ErrorCode>().copied() else {
        return Ok(ServiceResponse::new(request, response));
    };
    let page = page_for(&request, code, &response);
    Ok(ServiceResponse::new(request, page))
}

/// The answer to a navigation that failed with `code` (the JSON answer `json`).
fn page_for(req: &HttpRequest, code: ErrorCode, json: &HttpResponse) -> HttpResponse {
    let here = Next::page_of(req.path());
    let (mut answer, redirect) = match code {
        ErrorCode::Unauthorized if req.path().starts_with("/login") => {
            let mut answer = see_other_builder(LOGIN);
            answer.cookie(Flash::SignInExpired.cookie());
            (answer, true)
        }
        ErrorCode::Unauthorized => (see_other_builder(&here.on(LOGIN)), true),
        ErrorCode::ReauthRequired => (see_other_builder(&here.on(CONFIRM)), true),
        ErrorCode::MfaRequired => {
            let confirm = here.on(CONFIRM);
            let separator = if confirm.contains('?') { '&' } else { '?' };
            (see_other_builder(&format!("{confirm}{separator}factor=true")), true)
        }
        _ => (HttpResponse::build(json.status()), false),
    };
    for name in [header::SET_COOKIE, header::RETRY_AFTER, header::ALLOW, REQUEST_ID] {
        for value in json.headers().get_all(&name) {
            answer.append_header((name.clone(), value.clone()));
        }
    }
    if redirect {
        return answer.finish();
    }
    let request_id = json.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    let page = ErrorPage {
        chrome: Chrome::public(req),
        status: json.status().as_u16(),
        code: code.as_str(),
        message: message(code),
        request_id,
    };
    render(answer, &page).unwrap_or_else(|e| e.error_response())
}

/// What the error page says for `code`.
fn message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "There is no page at this address.",
        ErrorCode::Forbidden => "Your account may not open this page or do this.",
        ErrorCode::FormTokenInvalid => {
            "This form has expired, or was opened before you signed in or out. Go back, reload \
             the page, and send the form again."
        }
        ErrorCode::CrossSiteRequest => {
            "This request came from another site, or did not say where it came from, so it was \
             refused. Open this site directly and try again."
        }
        ErrorCode::TooManyRequests => "Too many requests. Please wait a moment and try again.",
        ErrorCode::Busy => "The server is busy. Please try again in a moment.",
        ErrorCode::DatabaseUnavailable => {
            "The server cannot reach its database just now. Please try again in a moment."
        }
        ErrorCode::MfaUnavailable => {
            "Two-factor authentication is not available on this server: it has no key for it. \
             Tell the people who run it."
        }
        ErrorCode::MfaNotEnabled => "Two-factor authentication is not on for this account.",
        ErrorCode::LastAdmin => "This would leave no enabled administrator, so it was not done.",
        ErrorCode::Internal => {
            "Something went wrong on our side. If it happens again, tell the people who run \
             this site, with the reference below."
        }
        _ => "The request could not be handled.",
    }
}
