//! The server-rendered pages, and the forms they post: the home page, sign-up, sign-in with
//! its second-factor step, the account and its second factor, administration of accounts, and
//! the pages of the mailed links and of "forgot password".
//!
//! Pages are askama templates (`apps/server/templates/`), compiled into the binary and
//! HTML-escaped by default: a value from the database or the request (a user agent, a user
//! name, what was typed into a form) is always text in the page, never markup. They carry no
//! inline script or style and load nothing from elsewhere (one stylesheet and one script, both
//! static files of this build, [`super::assets`]), so the page policy of `security_headers`
//! (`default-src 'self'`, no `'unsafe-inline'`) holds without exceptions.
//!
//! **The same rules as the API.** Every form calls the `sec-auth` function its JSON twin calls,
//! and its route has its twin's access rule (the route walk compares them): same throttling,
//! same generic failures, same audit events. A form of a signed-in user is a
//! [`crate::auth::VerifiedForm`] (the session's form token in `csrf_token`); a form used
//! without a session (sign-up, sign-in, its second-factor step, "forgot password", the mailed
//! links) is a [`crate::auth::PublicForm`], whose token is bound to a short-lived cookie
//! against login CSRF. With the Fetch Metadata / `Origin` check of [`crate::http::csrf`],
//! that is two independent defences for every form.
//!
//! **Post/redirect/get.** A form that succeeds answers 303 See Other to a page, with a flash
//! message ([`Flash`]) when there is something to say, so reloading never posts it again. A
//! form refused for what was typed is shown again, 200, with the reason next to the field and
//! the input kept (never a password). The two answers that show a secret once (a new TOTP
//! secret, recovery codes) are the 200 answer of their POST itself: the secret is never
//! stored for a later GET.
//!
//! **Errors and step-up** for a browser's navigation are pages too ([`errors`]): no session
//! leads to the sign-in page, an action that needs a fresher proof to the confirmation page,
//! and both come back to the page the user was on ([`Next`]).

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod errors;
pub(crate) mod links;
pub(crate) mod mfa;
pub(crate) mod sign_in;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use sec_auth::SecondFactor;
use sec_core::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{FORM_TOKEN_FIELD, public_form_token};
use crate::http::cookies::{self, FLASH_COOKIE};
use crate::http::error::{AppError, FieldError};

/// Where the account page is.
pub(crate) const ACCOUNT: &str = "/account";
/// The sign-in page.
pub(crate) const LOGIN: &str = "/login";
/// The page that asks for a fresher proof before an action that needs one.
pub(crate) const CONFIRM: &str = "/account/confirm";

/// The pages a sign-in or a confirmation may return to: `?next=` is one of these or ignored,
/// so it can never send the browser to another site or to an arbitrary path.
const RETURN_PAGES: &[&str] = &["/account", "/account/mfa", "/admin/users"];

/// A page to return to after signing in or confirming: one of [`RETURN_PAGES`], the account
/// page otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Next(&'static str);

impl Next {
    /// `raw` when it is one of the pages a browser may be returned to; the account page for
    /// anything else (another site, `//host`, a path with a query, an API route).
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(raw.and_then(|r| RETURN_PAGES.iter().copied().find(|p| *p == r)).unwrap_or(ACCOUNT))
    }

    /// The page that `path` belongs to, to return to once the user has done what it needed
    /// (the form `/account/mfa/totp` belongs to `/account/mfa`).
    pub(crate) fn page_of(path: &str) -> Self {
        let page = RETURN_PAGES
            .iter()
            .copied()
            .filter(|p| path == *p || path.starts_with(&format!("{p}/")))
            .max_by_key(|p| p.len());
        Self(page.unwrap_or(ACCOUNT))
    }

    /// The path.
    pub(crate) fn path(self) -> &'static str {
        self.0
    }

    /// `page?next=…` (the path percent-encoded; the pages are plain ASCII paths).
    pub(crate) fn on(self, page: &str) -> String {
        if self.0 == ACCOUNT {
            page.to_owned()
        } else {
            format!("{page}?next={}", self.0.replace('/', "%2F"))
        }
    }
}

/// `?next=` of the sign-in and confirmation pages.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

impl NextQuery {
    pub(crate) fn next(&self) -> Next {
        Next::parse(self.next.as_deref())
    }
}

/// A message for the page after a redirect. The cookie carries only its name, and the page
/// shows the server's own text for it: a forged or altered cookie shows nothing, so no one can
/// make a page of this site say what they want. (The cookie is `__Host-`: no other site, no
/// subdomain and no plain-HTTP answer can set it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flash {
    SignedUp,
    ResetRequested,
    VerificationResent,
    SignInExpired,
    PasswordChanged,
    EmailChangeRequested,
    SessionEnded,
    OtherSessionsEnded,
    Confirmed,
    MfaOff,
    UserDisabled,
    UserEnabled,
    RoleGranted,
    RoleRevoked,
}

impl Flash {
    const ALL: [Flash; 14] = [
        Self::SignedUp,
        Self::ResetRequested,
        Self::VerificationResent,
        Self::SignInExpired,
        Self::PasswordChanged,
        Self::EmailChangeRequested,
        Self::SessionEnded,
        Self::OtherSessionsEnded,
        Self::Confirmed,
        Self::MfaOff,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::RoleGranted,
        Self::RoleRevoked,
    ];

    /// The cookie value.
    fn name(self) -> &'static str {
        match self {
            Self::SignedUp => "signed_up",
            Self::ResetRequested => "reset_requested",
            Self::VerificationResent => "verification_resent",
            Self::SignInExpired => "sign_in_expired",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::SessionEnded => "session_ended",
            Self::OtherSessionsEnded => "other_sessions_ended",
            Self::Confirmed => "confirmed",
            Self::MfaOff => "mfa_off",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::RoleGranted => "role_granted",
            Self::RoleRevoked => "role_revoked",
        }
    }

    /// What the page says.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::SignedUp => {
                "Thank you. We sent a message to the address you gave: follow its link to \
                 confirm the address. Then sign in here."
            }
            Self::ResetRequested => {
                "If an account has that name or address, a link to choose a new password is \
                 on its way to its e-mail address."
            }
            Self::VerificationResent => {
                "If an account with an unconfirmed address has that address, a new link is on \
                 its way."
            }
            Self::SignInExpired => "The sign-in took too long. Please start again.",
            Self::PasswordChanged => "Your password is changed, and your other sessions ended.",
            Self::EmailChangeRequested => {
                "We sent a link to the new address. Your account keeps the old one until you \
                 follow it."
            }
            Self::SessionEnded => "The session has ended.",
            Self::OtherSessionsEnded => "Every other session has ended.",
            Self::Confirmed => "Thank you. You can go on.",
            Self::MfaOff => {
                "Two-factor authentication is off, and your other sessions ended. Your \
                 recovery codes no longer work."
            }
            Self::UserDisabled => "The account is disabled, and its sessions ended.",
            Self::UserEnabled => "The account is enabled.",
            Self::RoleGranted => "The role is granted.",
            Self::RoleRevoked => "The role is revoked.",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == value)
    }

    /// The cookie that carries it to the next page: a minute long, sent only by this site.
    fn cookie(self) -> Cookie<'static> {
        flash_cookie(self.name(), 60)
    }
}

fn flash_cookie(value: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(FLASH_COOKIE, value.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

/// What the frame of every page shows: the stylesheet, the navigation, the flash message.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    /// The stylesheet's URL (its name carries a hash of its content).
    pub(crate) stylesheet: &'static str,
    /// The site icon's URL (likewise).
    pub(crate) icon: &'static str,
    /// The flash message, when the browser brought one.
    pub(crate) flash: Option<&'static str>,
    /// The navigation for a signed-in user (else for a visitor).
    pub(crate) signed_in: bool,
    /// Whether the navigation links the administration page.
    pub(crate) admin: bool,
    /// Whether the browser brought a flash cookie, which the answer deletes.
    had_flash: bool,
}

impl Chrome {
    /// The frame for a visitor.
    pub(crate) fn public(req: &HttpRequest) -> Self {
        let raw = cookies::find(req.headers(), FLASH_COOKIE);
        Self {
            stylesheet: super::assets::stylesheet_url(),
            icon: super::assets::icon_url(),
            flash: raw.value().and_then(Flash::parse).map(Flash::message),
            signed_in: false,
            admin: false,
            had_flash: raw.is_present(),
        }
    }

    /// The frame for a signed-in user; `admin` when they may read the list of accounts.
    pub(crate) fn signed_in(req: &HttpRequest, admin: bool) -> Self {
        Self { signed_in: true, admin, ..Self::public(req) }
    }
}

/// A page whose template has a [`Chrome`].
pub(crate) trait Page: Template {
    fn chrome(&self) -> &Chrome;
}

/// Implements [`Page`] for page structs with a `chrome` field.
macro_rules! pages {
    ($($page:ty),* $(,)?) => {$(
        impl crate::routes::pages::Page for $page {
            fn chrome(&self) -> &crate::routes::pages::Chrome {
                &self.chrome
            }
        }
    )*};
}
pub(crate) use pages;

/// 200 `text/html; charset=utf-8` with the rendered page; the flash cookie it showed is
/// deleted.
pub(crate) fn html(page: &impl Page) -> Result<HttpResponse, AppError> {
    render(HttpResponse::Ok(), page)
}

/// `response` with the rendered page as its body.
pub(crate) fn render(
    mut response: HttpResponseBuilder,
    page: &impl Page,
) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(AppError::internal)?;
    if page.chrome().had_flash {
        response.cookie(flash_cookie("", 0));
    }
    Ok(response.insert_header(ContentType::html()).body(body))
}

/// Renders a page with public forms: the form token goes into the page, the form cookie it is
/// bound to into the answer.
pub(crate) fn with_form_cookie(
    req: &HttpRequest,
    page: impl FnOnce(&str) -> Result<HttpResponse, AppError>,
) -> Result<HttpResponse, AppError> {
    let (token, cookie) = public_form_token(req)?;
    let mut response = page(&token)?;
    response.add_cookie(&cookie).map_err(AppError::internal)?;
    Ok(response)
}

/// 303 See Other to `location`.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    see_other_builder(location).finish()
}

/// 303 See Other to `location`, to be finished by the caller (cookies to add).
pub(crate) fn see_other_builder(location: &str) -> HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_owned()));
    response
}

/// 303 See Other to `location`, which shows `flash`.
pub(crate) fn see_other_with(location: &str, flash: Flash) -> HttpResponse {
    see_other_builder(location).cookie(flash.cookie()).finish()
}

/// The fields of a form that carries nothing but its token: [`crate::auth::VerifiedForm`]
/// checks the token and gives the handler the other fields, here none.
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
            .description(Some("A form of a page: only its form token."))
            .property(
                FORM_TOKEN_FIELD,
                ObjectBuilder::new().schema_type(Type::String).description(Some(
                    "The form token of the session (or, without one, of the form cookie), \
                     from the page's hidden field.",
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

/// Why a form was shown again: per field, and for the form as a whole.
#[derive(Debug, Default, Clone)]
pub(crate) struct Problems {
    fields: Vec<(String, String)>,
    /// A reason that belongs to no one field.
    pub(crate) form: Option<String>,
}

impl Problems {
    /// The reasons of a validation failure, field by field (the rules' own messages).
    pub(crate) fn from_fields(fields: &[FieldError]) -> Self {
        Self {
            fields: fields.iter().map(|f| (f.field.clone(), f.reason.clone())).collect(),
            form: None,
        }
    }

    /// One reason for the whole form.
    pub(crate) fn form(reason: impl Into<String>) -> Self {
        Self { fields: Vec::new(), form: Some(reason.into()) }
    }

    /// The reasons for `field`, joined (empty when none).
    pub(crate) fn of(&self, field: &str) -> String {
        self.fields
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether `field` has a reason.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|(f, _)| f == field)
    }
}

/// The form reason for a refusal that a page shows next to its form rather than as an error
/// page: a throttled attempt says when to try again. `None` for anything else.
pub(crate) fn throttled(e: &AppError) -> Option<String> {
    (e.code() == crate::http::error::ErrorCode::TooManyRequests).then(|| {
        let secs = e.retry_after().unwrap_or(1);
        format!("Too many attempts. Please wait {secs} seconds and try again.")
    })
}

/// The second factor typed into a page's one code field: six digits are a TOTP code, anything
/// else a recovery code (spaces around it ignored). The API takes the two in separate fields;
/// one field is what a person expects.
pub(crate) fn second_factor(typed: &SecretString) -> SecondFactor {
    let text = typed.expose_secret().trim();
    if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Totp(SecretString::from(text.to_owned()))
    } else {
        SecondFactor::RecoveryCode(SecretString::from(text.to_owned()))
    }
}
