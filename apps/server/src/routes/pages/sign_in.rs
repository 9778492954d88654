//! The pages of a visitor: the home page, sign-up, sign-in and its second-factor step,
//! "forgot password" and "send a new confirmation link". Their forms are
//! [`PublicForm`]s (the token bound to the form cookie, against login CSRF) and call the rules
//! the JSON endpoints of `/api/v1/auth/*` call, with the same answers: one message for every
//! failed sign-in, the same "a link is on its way" whether or not an account exists.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sec_auth::{Auth, LoginOutcome, Registration};
use sec_core::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    Chrome, Flash, LOGIN, Next, NextQuery, Problems, html, pages, second_factor, see_other_builder,
    see_other_with, throttled, with_form_cookie,
};
use crate::auth::{
    MfaChallengeCookie, PublicForm, auth_service, blocking_hashing, clearing_mfa_cookie,
    request_meta,
};
use crate::http::error::{AppError, ErrorCode};
use crate::routes::auth::{password_login, second_factor_login};
use crate::routes::lifecycle::{MailStep, throttled_then_after_answer};

/// `templates/home.html`.
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
}

/// `templates/signup.html`.
#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    problems: Problems,
    username: &'a str,
    email: &'a str,
    password_hint: &'a str,
}

/// `templates/login.html`.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    problems: Problems,
    identifier: &'a str,
    next: &'a str,
    /// The password was right but the address is not confirmed: offer a new link.
    unverified: bool,
}

/// `templates/login_mfa.html`.
#[derive(Template)]
#[template(path = "login_mfa.html")]
struct LoginMfaPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    problems: Problems,
    next: &'a str,
}

/// `templates/identifier_form.html`: "forgot password" and "send a new link".
#[derive(Template)]
#[template(path = "identifier_form.html")]
struct IdentifierPage<'a> {
    chrome: Chrome,
    csrf_token: &'a str,
    problems: Problems,
    title: &'a str,
    intro: &'a str,
    form_id: &'a str,
    action: &'a str,
    field: &'a str,
    label: &'a str,
    autocomplete: &'a str,
    button: &'a str,
}

pages!(HomePage, SignupPage<'_>, LoginPage<'_>, LoginMfaPage<'_>, IdentifierPage<'_>);

/// The home page: what this is, and links to sign up and sign in.
#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    responses((status = 200, description = "The home page, HTML.", body = String, content_type = "text/html")),
)]
pub(crate) async fn home(req: HttpRequest) -> Result<HttpResponse, AppError> {
    html(&HomePage { chrome: Chrome::public(&req) })
}

/// The sign-up form's fields: those of `POST /api/v1/auth/register`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupForm {
    username: String,
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

fn password_hint(req: &HttpRequest) -> Result<String, AppError> {
    let min = auth_service(req)?.config().password_policy.min_chars();
    Ok(format!(
        "At least {min} characters. A few unrelated words make a good one; common passwords \
         and ones containing your name or address are refused."
    ))
}

/// The sign-up form.
#[utoipa::path(
    get,
    path = "/signup",
    tag = "pages",
    responses((status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html")),
)]
pub(crate) async fn signup_page(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let hint = password_hint(&req)?;
    with_form_cookie(&req, |token| {
        html(&SignupPage {
            chrome: Chrome::public(&req),
            csrf_token: token,
            problems: Problems::default(),
            username: "",
            email: "",
            password_hint: &hint,
        })
    })
}

/// Creates an account as `POST /api/v1/auth/register` does (the same answer for a new and a
/// taken address), then 303 to the sign-in page with a message; a refused field shows the form
/// again with the reason and what was typed (never the password).
#[utoipa::path(
    post,
    path = "/signup",
    tag = "pages",
    request_body(content = SignupForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A field was refused: the form again with the reasons, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Accepted (created, or the address's owner told): to the sign-in page.", headers(("Location" = String, description = "`/login`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::super::responses::DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn signup(
    req: HttpRequest,
    form: PublicForm<SignupForm>,
) -> Result<HttpResponse, AppError> {
    let SignupForm { username, email, password } = form.0;
    let auth = auth_service(&req)?;
    let meta = request_meta(&req);
    let (u, e) = (username.clone(), email.clone());
    let outcome = blocking_hashing(&req, move || {
        auth.register(&Registration { username: &u, email: &e, password: &password }, &meta)
    })
    .await;
    let problems = match outcome {
        // Either outcome gets the same answer, as in the API.
        Ok(_) => return Ok(see_other_with(LOGIN, Flash::SignedUp)),
        Err(e) if e.code() == ErrorCode::ValidationFailed => Problems::from_fields(e.fields()),
        Err(e) => match throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    let hint = password_hint(&req)?;
    with_form_cookie(&req, |token| {
        html(&SignupPage {
            chrome: Chrome::public(&req),
            csrf_token: token,
            problems,
            username: &username,
            email: &email,
            password_hint: &hint,
        })
    })
}

/// The sign-in form's fields: those of `POST /api/v1/auth/login`, and the page to return to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginForm {
    identifier: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// The page to go to afterwards: one of the account's pages, anything else is ignored.
    #[serde(default)]
    next: Option<String>,
}

fn login_page(
    req: &HttpRequest,
    problems: Problems,
    identifier: &str,
    next: Next,
    unverified: bool,
) -> Result<HttpResponse, AppError> {
    with_form_cookie(req, |token| {
        html(&LoginPage {
            chrome: Chrome::public(req),
            csrf_token: token,
            problems,
            identifier,
            next: next.path(),
            unverified,
        })
    })
}

/// The sign-in form (`?next=` names the page to return to).
#[utoipa::path(
    get,
    path = "/login",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "The page to return to after signing in: `/account`, `/account/mfa` or `/admin/users`; anything else is ignored.")),
    responses(
        (status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html"),
        (status = 400, description = "An unknown query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
    ),
)]
pub(crate) async fn login_form(
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    login_page(&req, Problems::default(), "", query.next(), false)
}

/// Signs in as `POST /api/v1/auth/login` does: 303 to the page asked for with a new session
/// cookie, or, for an account with a second factor, to `/login/mfa` with only the pending
/// step's cookie. A refusal shows the form again with one message for an unknown account, a
/// wrong password and a disabled account alike.
#[utoipa::path(
    post,
    path = "/login",
    tag = "pages",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Refused (wrong credentials, an unconfirmed address, or throttled): the form again with the reason, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in (a new session cookie), or the second factor is due (only the pending-MFA cookie).", headers(("Location" = String, description = "The page asked for (`/account` by default), or `/login/mfa`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`: reload the page).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::super::responses::DatabaseOrHashingBusy),
    ),
)]
pub(crate) async fn login_submit(
    req: HttpRequest,
    form: PublicForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm { identifier, password, next } = form.0;
    let next = Next::parse(next.as_deref());
    let outcome = password_login(&req, identifier.clone(), password).await;
    let (problems, unverified) = match outcome {
        Ok(signed) => {
            let to = match signed.outcome {
                LoginOutcome::Session(_) => next.path().to_owned(),
                LoginOutcome::MfaRequired(_) => next.on("/login/mfa"),
            };
            let mut response = see_other_builder(&to);
            for cookie in signed.cookies {
                response.cookie(cookie);
            }
            return Ok(response.finish());
        }
        Err(e) => match e.code() {
            ErrorCode::InvalidCredentials => {
                (Problems::form("The user name, e-mail address or password is not right."), false)
            }
            ErrorCode::EmailUnverified => (
                Problems::form(
                    "Please confirm your e-mail address first: follow the link we sent to it.",
                ),
                true,
            ),
            _ => match throttled(&e) {
                Some(reason) => (Problems::form(reason), false),
                None => return Err(e),
            },
        },
    };
    login_page(&req, problems, &identifier, next, unverified)
}

/// The second step's fields: a TOTP code or a recovery code, and the page to return to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MfaForm {
    /// Six digits from the authenticator app, or a recovery code.
    #[schema(value_type = String, format = Password)]
    code: SecretString,
    #[serde(default)]
    next: Option<String>,
}

fn mfa_page(req: &HttpRequest, problems: Problems, next: Next) -> Result<HttpResponse, AppError> {
    with_form_cookie(req, |token| {
        html(&LoginMfaPage {
            chrome: Chrome::public(req),
            csrf_token: token,
            problems,
            next: next.path(),
        })
    })
}

/// The second step of a sign-in: a form for the code. Only for a login waiting for it (the
/// pending-MFA cookie).
#[utoipa::path(
    get,
    path = "/login/mfa",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "The page to return to, as for `/login`.")),
    responses(
        (status = 200, description = "The form, HTML.", body = String, content_type = "text/html"),
        (status = 400, description = "An unknown query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No login waits for its second factor (`unauthorized`; a browser is sent to `/login`).", body = crate::http::error::ErrorBody),
    ),
    security(("mfa_pending" = [])),
)]
pub(crate) async fn login_mfa_form(
    _: MfaChallengeCookie,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    mfa_page(&req, Problems::default(), query.next())
}

/// Completes the sign-in as `POST /api/v1/auth/mfa` does: 303 to the page asked for with a new
/// session cookie (two factors) and the pending cookie deleted. A wrong or replayed code shows
/// the form again; a missing, expired or used pending step goes back to `/login`.
#[utoipa::path(
    post,
    path = "/login/mfa",
    tag = "pages",
    request_body(content = MfaForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code is wrong or used, or throttled: the form again, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in with two factors, or the pending step is gone (to `/login`, its cookie deleted).", headers(("Location" = String, description = "The page asked for, or `/login`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 401, description = "No pending-MFA cookie (`unauthorized`; a browser is sent to `/login`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::super::responses::DatabaseOrNoMfaKey),
    ),
    security(("mfa_pending" = [])),
)]
pub(crate) async fn login_mfa(
    challenge: MfaChallengeCookie,
    req: HttpRequest,
    form: PublicForm<MfaForm>,
) -> Result<HttpResponse, AppError> {
    let MfaForm { code, next } = form.0;
    let next = Next::parse(next.as_deref());
    let outcome = second_factor_login(&req, challenge, second_factor(&code)).await;
    let problems = match outcome {
        Ok((_, [session, clearing])) => {
            return Ok(see_other_builder(next.path()).cookie(session).cookie(clearing).finish());
        }
        Err(e) if e.code() == ErrorCode::Unauthorized => {
            return Ok(see_other_builder(LOGIN)
                .cookie(Flash::SignInExpired.cookie())
                .cookie(clearing_mfa_cookie())
                .finish());
        }
        Err(e) if e.code() == ErrorCode::InvalidCredentials => {
            Problems::form("That code is not right, or was used already.")
        }
        Err(e) => match throttled(&e) {
            Some(reason) => Problems::form(reason),
            None => return Err(e),
        },
    };
    mfa_page(&req, problems, next)
}

/// The one field of "forgot password" (a user name or an address) and of "send a new link"
/// (the address).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentifierForm {
    #[serde(alias = "email")]
    identifier: String,
}

/// What differs between the two one-field pages.
struct IdentifierFlow {
    title: &'static str,
    intro: &'static str,
    form_id: &'static str,
    action: &'static str,
    label: &'static str,
    field: &'static str,
    autocomplete: &'static str,
    button: &'static str,
    reserve: MailStep,
    send: MailStep,
    what: &'static str,
    done: Flash,
}

const FORGOT: IdentifierFlow = IdentifierFlow {
    title: "Forgot your password?",
    intro: "Type your user name or e-mail address. If an account has it, we send a link to \
            its address to choose a new password.",
    form_id: "forgot-password",
    action: "/forgot-password",
    label: "User name or e-mail address",
    field: "identifier",
    autocomplete: "username",
    button: "Send the link",
    reserve: Auth::reserve_password_reset,
    send: Auth::send_password_reset,
    what: "password reset",
    done: Flash::ResetRequested,
};

const RESEND: IdentifierFlow = IdentifierFlow {
    title: "Send a new confirmation link",
    intro: "Type the e-mail address of your account. If its address is not confirmed yet, we \
            send a new link to it.",
    form_id: "resend-verification",
    action: "/resend-verification",
    label: "E-mail address",
    field: "email",
    autocomplete: "email",
    button: "Send a new link",
    reserve: Auth::reserve_verification_resend,
    send: Auth::resend_verification,
    what: "verification resend",
    done: Flash::VerificationResent,
};

fn identifier_page(
    req: &HttpRequest,
    flow: &IdentifierFlow,
    problems: Problems,
) -> Result<HttpResponse, AppError> {
    with_form_cookie(req, |token| {
        html(&IdentifierPage {
            chrome: Chrome::public(req),
            csrf_token: token,
            problems,
            title: flow.title,
            intro: flow.intro,
            form_id: flow.form_id,
            action: flow.action,
            field: flow.field,
            label: flow.label,
            autocomplete: flow.autocomplete,
            button: flow.button,
        })
    })
}

/// Asks as the API does; the throttle alone decides the answer, the mail step runs after it.
async fn identifier_submit(
    req: HttpRequest,
    flow: &IdentifierFlow,
    identifier: String,
) -> Result<HttpResponse, AppError> {
    match throttled_then_after_answer(&req, identifier, flow.reserve, flow.send, flow.what).await {
        Ok(()) => Ok(see_other_with(LOGIN, flow.done)),
        Err(e) => match throttled(&e) {
            Some(reason) => identifier_page(&req, flow, Problems::form(reason)),
            None => Err(e),
        },
    }
}

/// The "forgot password" form.
#[utoipa::path(
    get,
    path = "/forgot-password",
    tag = "pages",
    responses((status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html")),
)]
pub(crate) async fn forgot_password_form(req: HttpRequest) -> Result<HttpResponse, AppError> {
    identifier_page(&req, &FORGOT, Problems::default())
}

/// Asks for a reset link as `POST /api/v1/auth/password-reset` does: 303 to the sign-in page
/// with the same message whether or not an account has the identifier.
#[utoipa::path(
    post,
    path = "/forgot-password",
    tag = "pages",
    request_body(content = IdentifierForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Throttled: the form again with when to try again, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Accepted (whether or not an account has the identifier).", headers(("Location" = String, description = "`/login`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::super::responses::DatabaseUnavailable),
    ),
)]
pub(crate) async fn forgot_password(
    req: HttpRequest,
    form: PublicForm<IdentifierForm>,
) -> Result<HttpResponse, AppError> {
    identifier_submit(req, &FORGOT, form.0.identifier).await
}

/// The "send a new confirmation link" form.
#[utoipa::path(
    get,
    path = "/resend-verification",
    tag = "pages",
    responses((status = 200, description = "The form, HTML, with the form cookie its token is bound to.", body = String, content_type = "text/html")),
)]
pub(crate) async fn resend_verification_form(req: HttpRequest) -> Result<HttpResponse, AppError> {
    identifier_page(&req, &RESEND, Problems::default())
}

/// Asks for a new confirmation link as `POST /api/v1/auth/verify-email/resend` does: 303 to
/// the sign-in page with the same message whatever the address.
#[utoipa::path(
    post,
    path = "/resend-verification",
    tag = "pages",
    request_body(content = IdentifierForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Throttled: the form again with when to try again, HTML.", body = String, content_type = "text/html"),
        (status = 303, description = "Accepted (whatever the address).", headers(("Location" = String, description = "`/login`."))),
        (status = 400, description = "The body is not a form of this shape (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 403, description = "The `csrf_token` field is missing, repeated or not bound to this browser's form cookie (`form_token_invalid`).", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is over 64 KiB (`payload_too_large`).", body = crate::http::error::ErrorBody),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded` (`unsupported_media_type`).", body = crate::http::error::ErrorBody),
        (status = 503, response = super::super::responses::DatabaseUnavailable),
    ),
)]
pub(crate) async fn resend_verification_submit(
    req: HttpRequest,
    form: PublicForm<IdentifierForm>,
) -> Result<HttpResponse, AppError> {
    identifier_submit(req, &RESEND, form.0.identifier).await
}
