//! Cross-site request forgery defence for cookie-authenticated requests.
//!
//! A browser attaches the session cookie to a request another site makes it send; the server
//! must refuse such a request when it changes state. This middleware checks every request
//! whose method is not safe (anything but GET, HEAD, OPTIONS and TRACE) and that carries a
//! cookie that authenticates ([`AMBIENT_COOKIES`]: the session cookie, the cookie of a
//! login waiting for its second factor, and the cookie the sign-in and sign-up forms are bound
//! to), in this order:
//!
//! 1. `Sec-Fetch-Site` (sent by every current browser): `same-origin` and `none` (typed URL,
//!    bookmark) pass; `cross-site` is refused; `same-site` passes only when `Origin` is in
//!    `csrf.allowed_origins` (a sibling subdomain is another origin, and may be less trusted);
//!    any other value is refused.
//! 2. Without it, `Origin` must be the server's own origin or in `csrf.allowed_origins`
//!    (`null` never is).
//! 3. Without `Origin`, the origin of `Referer` must be.
//! 4. With none of the three, the request is refused: every current browser sends `Origin` on
//!    a cross-origin or POST request, so a cookie-carrying state change without provenance is
//!    not from a page of ours. Scripts and other non-browser clients authenticate with a
//!    bearer token instead of the cookie and are not checked at all: a bearer token is never
//!    attached by a browser on its own.
//!
//! The server's own origin is `server.public_origin` when set. When it is not, it is the
//! origin the request names: its `Host` header with `https` when the request arrived over TLS
//! (or `server.behind_tls_proxy` is set) and `http` otherwise. That is safe against CSRF, since
//! a forging page cannot change the `Host` its victim's browser sends; set `public_origin` when
//! a proxy rewrites `Host`, or every cookie-authenticated change will be refused.
//!
//! Refusals are 403 `cross_site_request`, logged with the reason. Cookie-authenticated CORS
//! requests from another site are refused too, whatever `cors.*` allows: CORS decides who may
//! read responses, not who may change state with the user's cookie.
//!
//! HTML forms carry a second, independent defence: a synchronizer token tied to the session.
//! Every form of a server-rendered page (`routes::pages`) has a hidden `csrf_token` field
//! holding the session's form token (`sec_auth::SessionToken::form_token`, an HMAC keyed with
//! the session token), and its handler takes a [`crate::auth::VerifiedForm`], which refuses a
//! form without that exact token with 403 `form_token_invalid`. This middleware runs first, so
//! a cross-site form is refused here even if it somehow had the token; the token covers what
//! provenance headers cannot (a browser or proxy that strips them all, an allowed origin that
//! turns hostile), and it is checked in the handler, not here, because only the handler knows
//! the request is a form of ours.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web;
use sec_config::{Origin, Settings};

use crate::http::cookies;
use crate::http::cookies::{FORM_COOKIE, MFA_COOKIE, SESSION_COOKIE};
use crate::http::error::{AppError, ErrorCode};

/// The cookies a browser sends on its own that make a request authenticated: a request carrying
/// any of them is checked.
pub const AMBIENT_COOKIES: &[&str] = &[SESSION_COOKIE, MFA_COOKIE, FORM_COOKIE];

/// Which origins may send cookie-authenticated state changes.
#[derive(Debug, Clone)]
pub struct CsrfPolicy {
    public_origin: Option<Origin>,
    allowed: Vec<Origin>,
    behind_tls_proxy: bool,
}

impl CsrfPolicy {
    /// From `server.public_origin`, `csrf.allowed_origins` and `server.behind_tls_proxy`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            public_origin: settings.server().public_origin().cloned(),
            allowed: settings.csrf().allowed_origins().to_vec(),
            behind_tls_proxy: settings.server().behind_tls_proxy(),
        }
    }

    /// `Err(reason)` when the request must be refused. `tls` says whether it arrived over
    /// TLS.
    fn check(&self, method: &Method, headers: &HeaderMap, tls: bool) -> Result<(), &'static str> {
        if is_safe(method) || !has_ambient_cookie(headers) {
            return Ok(());
        }
        let origin = single(headers, &header::ORIGIN);
        match single(headers, &SEC_FETCH_SITE) {
            Some("same-origin" | "none") => return Ok(()),
            Some("same-site") => {
                return match origin.map(Origin::parse) {
                    Some(Ok(o)) if self.allowed.contains(&o) => Ok(()),
                    _ => {
                        Err("Sec-Fetch-Site: same-site from an origin not in csrf.allowed_origins")
                    }
                };
            }
            Some("cross-site") => return Err("Sec-Fetch-Site: cross-site"),
            Some(_) => return Err("unknown or repeated Sec-Fetch-Site"),
            None => {}
        }
        let claimed = match (origin, single(headers, &header::REFERER)) {
            (Some(origin), _) => Origin::parse(origin).map_err(|_| "Origin is not an origin")?,
            (None, Some(referer)) => {
                Origin::of_url(referer).map_err(|_| "Referer has no usable origin")?
            }
            (None, None) => return Err("no Sec-Fetch-Site, Origin or Referer"),
        };
        if self.allowed.contains(&claimed) || self.is_own(&claimed, headers, tls) {
            Ok(())
        } else {
            Err("Origin or Referer is another origin")
        }
    }

    fn is_own(&self, claimed: &Origin, headers: &HeaderMap, tls: bool) -> bool {
        match &self.public_origin {
            Some(own) => own == claimed,
            None => single(headers, &header::HOST)
                .and_then(|host| Origin::from_host(tls || self.behind_tls_proxy, host).ok())
                .is_some_and(|own| &own == claimed),
        }
    }
}

const SEC_FETCH_SITE: header::HeaderName = header::HeaderName::from_static("sec-fetch-site");

/// GET, HEAD, OPTIONS and TRACE: the methods this check (and the OpenAPI document's
/// `cross_site_request` answers) leave alone.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The value of a header that must appear once; `None` when absent, and `Some("")` (which
/// nothing accepts) when repeated or not visible ASCII, so ambiguity is refused.
fn single<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return Some("");
    }
    Some(first.to_str().unwrap_or("").trim())
}

/// Whether the request carries a cookie named in [`AMBIENT_COOKIES`] (whatever its value), as
/// the one reader that authentication also uses ([`crate::http::cookies`]) sees it: exact names.
fn has_ambient_cookie(headers: &HeaderMap) -> bool {
    AMBIENT_COOKIES.iter().any(|name| cookies::find(headers, name).is_present())
}

/// Middleware: 403 `cross_site_request` for a cross-site state change carrying an
/// authenticating cookie; register the [`CsrfPolicy`] as `web::Data<CsrfPolicy>`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let tls = req.app_config().secure();
    let verdict = req
        .app_data::<web::Data<CsrfPolicy>>()
        .map_or(Ok(()), |p| p.check(req.method(), req.headers(), tls));
    match verdict {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Err(reason) => {
            Ok(req.error_response(AppError::with_cause(ErrorCode::CrossSiteRequest, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn policy(public: Option<&str>, allowed: &[&str]) -> CsrfPolicy {
        CsrfPolicy {
            public_origin: public.map(|o| Origin::parse(o).unwrap()),
            allowed: allowed.iter().map(|o| Origin::parse(o).unwrap()).collect(),
            behind_tls_proxy: false,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const COOKIE: (&str, &str) = ("cookie", "theme=dark; __Host-session=abc");

    #[test]
    fn only_unsafe_methods_with_the_session_cookie_are_checked() {
        let p = policy(None, &[]);
        let cross = ("sec-fetch-site", "cross-site");
        assert!(p.check(&Method::GET, &headers(&[COOKIE, cross]), false).is_ok());
        assert!(p.check(&Method::POST, &headers(&[cross]), false).is_ok(), "no cookie");
        let bearer = ("authorization", "Bearer t");
        assert!(p.check(&Method::DELETE, &headers(&[bearer, cross]), false).is_ok());
        let other = ("cookie", "__Host-sessionx=1; x__Host-session=2");
        assert!(p.check(&Method::POST, &headers(&[other, cross]), false).is_ok());
        let mfa = ("cookie", "__Host-mfa=pending");
        assert!(p.check(&Method::POST, &headers(&[mfa, cross]), false).is_err());
        for m in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert!(p.check(&m, &headers(&[COOKIE, cross]), false).is_err(), "{m}");
        }
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let p = policy(None, &["https://www.example.com"]);
        let check = |pairs: &[(&'static str, &str)]| {
            let mut all = vec![COOKIE, ("host", "app.example.com")];
            all.extend_from_slice(pairs);
            p.check(&Method::POST, &headers(&all), true)
        };
        assert!(check(&[("sec-fetch-site", "same-origin")]).is_ok());
        assert!(check(&[("sec-fetch-site", "none")]).is_ok());
        assert!(
            check(&[("sec-fetch-site", "cross-site"), ("origin", "https://app.example.com")])
                .is_err()
        );
        assert!(
            check(&[("sec-fetch-site", "same-site"), ("origin", "https://www.example.com")])
                .is_ok()
        );
        assert!(
            check(&[("sec-fetch-site", "same-site"), ("origin", "https://evil.example.com")])
                .is_err()
        );
        assert!(check(&[("sec-fetch-site", "same-site")]).is_err());
        assert!(check(&[("sec-fetch-site", "bogus")]).is_err());
        assert!(
            check(&[("sec-fetch-site", "same-origin"), ("sec-fetch-site", "same-origin")]).is_err()
        );
    }

    #[test]
    fn without_fetch_metadata_origin_then_referer_must_be_ours() {
        let p = policy(None, &[]);
        let check = |tls: bool, pairs: &[(&'static str, &str)]| {
            let mut all = vec![COOKIE, ("host", "app.example.com:8443")];
            all.extend_from_slice(pairs);
            p.check(&Method::POST, &headers(&all), tls)
        };
        assert!(check(true, &[("origin", "https://app.example.com:8443")]).is_ok());
        assert!(check(false, &[("origin", "https://app.example.com:8443")]).is_err(), "scheme");
        assert!(check(true, &[("origin", "https://evil.com")]).is_err());
        assert!(check(true, &[("origin", "null")]).is_err());
        assert!(check(true, &[("referer", "https://app.example.com:8443/page?x=1")]).is_ok());
        assert!(check(true, &[("referer", "https://evil.com/app.example.com:8443")]).is_err());
        // Origin wins over Referer.
        let both = [("origin", "https://evil.com"), ("referer", "https://app.example.com:8443/")];
        assert!(check(true, &both).is_err());
        assert_eq!(check(true, &[]), Err("no Sec-Fetch-Site, Origin or Referer"));
    }

    #[test]
    fn a_configured_public_origin_replaces_the_host_header() {
        let p = policy(Some("https://app.example.com"), &["https://admin.example.com"]);
        let check = |pairs: &[(&'static str, &str)]| {
            let mut all = vec![COOKIE, ("host", "internal-svc:8080")];
            all.extend_from_slice(pairs);
            p.check(&Method::POST, &headers(&all), false)
        };
        assert!(check(&[("origin", "https://app.example.com")]).is_ok());
        assert!(check(&[("origin", "https://admin.example.com")]).is_ok());
        assert!(check(&[("origin", "http://internal-svc:8080")]).is_err());
    }
}
