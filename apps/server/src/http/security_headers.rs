//! Security response headers: the one place that decides what every response carries.
//!
//! The middleware is the outermost layer, so it sees every response the application makes:
//! handlers' answers, the JSON errors of the inner middleware (404, 405, 413, 414, 429, the
//! CSRF 403, a caught panic's 500) and actix's own extractor errors. It adds each header below
//! unless the handler set that header itself (a page that needs a nonce-based CSP, a public
//! asset that may be cached, sets its own), and always removes headers that advertise the
//! software (`Server`, `X-Powered-By`, …).
//!
//! | header | value | why |
//! | --- | --- | --- |
//! | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` for anything that is not HTML; `headers.page_csp` (self only, no inline script, violations reported to `/csp-report`) for `text/html`, over HTTPS with `upgrade-insecure-requests` and `report-to csp` | a JSON answer rendered as a document runs nothing; pages load only their own files, and a page that breaks its policy is seen in the log |
//! | `Reporting-Endpoints` | `csp="/csp-report"` | on `text/html` over HTTPS, while the page policy reports to `/csp-report`: where the policy's `report-to csp` sends reports |
//! | `Strict-Transport-Security` | `max-age=63072000; includeSubDomains` | over TLS, or behind `server.behind_tls_proxy`; never for IP addresses or `localhost` (a developer's other local sites would be forced to HTTPS for two years) |
//! | `X-Content-Type-Options` | `nosniff` | no MIME sniffing of JSON into script or HTML |
//! | `X-Frame-Options` | `DENY` | clickjacking, for browsers without CSP `frame-ancestors` |
//! | `Referrer-Policy` | `no-referrer` | URLs (tokens in query strings) never leak to other sites |
//! | `Permissions-Policy` | the OWASP Secure Headers deny list | no camera, microphone, geolocation, … |
//! | `Cross-Origin-Opener-Policy` | `same-origin` | other sites' windows get no handle on ours (XS-Leaks) |
//! | `Cross-Origin-Resource-Policy` | `same-origin` | other sites cannot embed our responses (Spectre-style reads) |
//! | `X-Permitted-Cross-Domain-Policies` | `none` | no Flash/PDF cross-domain policy files |
//! | `X-DNS-Prefetch-Control` | `off` | (OWASP list) no DNS look-ups of links before a click |
//! | `Cache-Control` | `no-store` | nothing a response says (sessions, account data) stays in a shared or browser cache unless its handler allows it |
//!
//! CSP violation reports: the page policy's `report-uri /csp-report` is what Firefox and Safari
//! use, and Chromium too, but only as long as the policy has no `report-to`: with one, Chromium
//! sends its reports through the Reporting API to the endpoint `Reporting-Endpoints` names, and
//! it honours that header on HTTPS responses only (Chromium 156, headless, checked by hand: over
//! plain HTTP, even on `localhost`, a policy with `report-to` made it send no report at all).
//! So `report-to csp` and the header are added over HTTPS only, like
//! `upgrade-insecure-requests`, and only when the policy reports here and names no `report-to`
//! of its own; the endpoint's URL is relative, which Chromium resolves against the page's URL
//! (so it follows `server.public_origin` and any proxy without being told).
//!
//! Not sent: `Cross-Origin-Embedder-Policy` (it enables cross-origin isolation for features the
//! app does not use, and would break a fork's first cross-origin image), `X-XSS-Protection`
//! (obsolete; OWASP says omit), `Clear-Site-Data` (belongs on the logout response only).
//!
//! Responses written by actix-http below the application (a 400 for an unparsable request
//! line, 431 for a head over 96 headers or 128 KiB, 408 for a request head that took too long)
//! never reach any middleware: they have no body and no headers beyond the status line.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use sec_config::{DEFAULT_PAGE_CSP, Settings};

/// CSP for everything that is not an HTML page: nothing may load, nothing may frame it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Where browsers send CSP violation reports: the default page policy's `report-uri`, the
/// endpoint of `Reporting-Endpoints`, and the route (`routes::csp_report`) with its rate limit.
pub const CSP_REPORT_PATH: &str = "/csp-report";

/// The Reporting API endpoint name the page policy's `report-to` gives.
pub const CSP_REPORT_GROUP: &str = "csp";

/// The `Permissions-Policy` of the OWASP Secure Headers Project (`ci/headers_add.json`, updated
/// 2026-07-19): every listed feature denied, except synchronous XHR from the page itself.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
cross-origin-isolated=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), \
gyroscope=(), keyboard-map=(), magnetometer=(), microphone=(), midi=(), payment=(), \
picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(self), \
usb=(), web-share=(), xr-spatial-tracking=(), clipboard-read=(), clipboard-write=(), \
gamepad=(), hid=(), idle-detection=(), interest-cohort=(), serial=(), unload=()";

/// Headers that name the server software or its version (from the OWASP Secure Headers
/// Project's removal list, the ones a handler or library could plausibly add): removed from
/// every response.
const REMOVED: &[&str] = &[
    "server",
    "x-powered-by",
    "powered-by",
    "x-server-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "x-php-version",
];

/// The headers to add, built once from the settings.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    enabled: bool,
    /// Every response is HTTPS to the browser even when this hop is plain HTTP.
    behind_tls_proxy: bool,
    hsts: HeaderValue,
    page_csp: HeaderValue,
    /// The page policy plus `upgrade-insecure-requests` (and `report-to` when
    /// `reporting_endpoints` is set), for pages served over HTTPS.
    page_csp_https: HeaderValue,
    /// `Reporting-Endpoints` for pages served over HTTPS, when the page policy reports to
    /// [`CSP_REPORT_PATH`].
    reporting_endpoints: Option<HeaderValue>,
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// The header set the settings ask for (`headers.*`, `server.behind_tls_proxy`).
    pub fn from_settings(settings: &Settings) -> Self {
        let h = settings.headers();
        let mut hsts = format!("max-age={}", h.hsts_max_age_secs());
        if h.hsts_include_subdomains() {
            hsts.push_str("; includeSubDomains");
        }
        if h.hsts_preload() {
            hsts.push_str("; preload");
        }
        // sec-config accepts only one line of printable ASCII for the page policy, so these
        // conversions cannot fail; the fallbacks keep the strict defaults all the same.
        let value = |text: String, fallback: &'static str| {
            HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(fallback))
        };
        let fixed = [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("permissions-policy", PERMISSIONS_POLICY),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
            ("x-permitted-cross-domain-policies", "none"),
            ("x-dns-prefetch-control", "off"),
            ("cache-control", "no-store"),
        ]
        .into_iter()
        .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
        .collect();
        let reports_here = reports_here(h.page_csp());
        let mut page_csp_https = format!("{}; upgrade-insecure-requests", h.page_csp());
        if reports_here {
            page_csp_https.push_str(&format!("; report-to {CSP_REPORT_GROUP}"));
        }
        Self {
            enabled: h.enabled(),
            behind_tls_proxy: settings.server().behind_tls_proxy(),
            hsts: value(hsts, "max-age=63072000; includeSubDomains"),
            page_csp: value(h.page_csp().to_owned(), DEFAULT_PAGE_CSP),
            page_csp_https: value(page_csp_https, DEFAULT_PAGE_CSP),
            reporting_endpoints: reports_here.then(|| {
                // A token and a path of constants: always a valid header value.
                value(format!("{CSP_REPORT_GROUP}=\"{CSP_REPORT_PATH}\""), "")
            }),
            fixed,
        }
    }

    /// Adds the headers to one response. `https` says whether the browser reached us over
    /// HTTPS; `host` is the request's `Host` header.
    fn apply(&self, headers: &mut HeaderMap, https: bool, host: Option<&str>) {
        for name in REMOVED {
            headers.remove(*name);
        }
        if !self.enabled {
            return;
        }
        let is_page = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"));
        let csp = match (is_page, https) {
            (false, _) => HeaderValue::from_static(API_CSP),
            (true, false) => self.page_csp.clone(),
            (true, true) => self.page_csp_https.clone(),
        };
        set_if_absent(headers, header::CONTENT_SECURITY_POLICY, csp);
        if is_page
            && https
            && let Some(endpoints) = &self.reporting_endpoints
        {
            set_if_absent(headers, REPORTING_ENDPOINTS, endpoints.clone());
        }
        if https && host.is_some_and(hsts_applies_to) {
            set_if_absent(headers, header::STRICT_TRANSPORT_SECURITY, self.hsts.clone());
        }
        for (name, value) in &self.fixed {
            set_if_absent(headers, name.clone(), value.clone());
        }
    }
}

const REPORTING_ENDPOINTS: HeaderName = HeaderName::from_static("reporting-endpoints");

/// Whether a page policy sends its reports here (a `report-uri` directive naming
/// [`CSP_REPORT_PATH`]) and leaves the Reporting API to the server (no `report-to` of its own):
/// then the server adds `report-to` with its endpoint over HTTPS.
fn reports_here(policy: &str) -> bool {
    let mut here = false;
    for directive in policy.split(';') {
        let mut words = directive.split_ascii_whitespace();
        match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("report-to") => return false,
            Some("report-uri") => here |= words.any(|uri| uri == CSP_REPORT_PATH),
            _ => {}
        }
    }
    here
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}

/// Browsers ignore HSTS for IP addresses (RFC 6797 §8.1), and HSTS for `localhost` would
/// follow a developer to every other local project for the max-age; production names get it.
fn hsts_applies_to(host: &str) -> bool {
    if host.starts_with('[') {
        return false;
    }
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !(name.is_empty()
        || name.parse::<std::net::Ipv4Addr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost"))
}

/// Middleware: runs the rest of the chain and adds the headers to its response. Mount it
/// outermost, so nothing leaves without them.
///
/// When an inner layer returns an error instead of a response, the response is built later,
/// by actix, from that error; so the error is wrapped in one whose response gets the headers
/// too. (Building the response here would need a second handle on the request, which actix
/// forbids while routing still needs to change it.)
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let policy = req.app_data::<web::Data<SecurityHeaders>>().cloned();
    let https = req.app_config().secure() || policy.as_ref().is_some_and(|p| p.behind_tls_proxy);
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let apply = move |headers: &mut HeaderMap| match &policy {
        Some(policy) => policy.apply(headers, https, host.as_deref()),
        // Only a misassembled app lacks the policy: strip the software names at least.
        None => {
            for name in REMOVED {
                headers.remove(*name);
            }
        }
    };
    match next.call(req).await {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            apply(res.headers_mut());
            Ok(res)
        }
        Err(inner) => Err(WithHeaders { inner, apply: Box::new(apply) }.into()),
    }
}

/// An error from the inner layers whose response gets the security headers.
struct WithHeaders {
    inner: actix_web::Error,
    apply: Box<dyn Fn(&mut HeaderMap)>,
}

impl std::fmt::Debug for WithHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithHeaders").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl std::fmt::Display for WithHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

impl ResponseError for WithHeaders {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.inner.error_response();
        (self.apply)(res.headers_mut());
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_is_for_names_not_for_ip_addresses_or_localhost() {
        for yes in ["app.example.com", "app.example.com:8443", "Example.COM."] {
            assert!(hsts_applies_to(yes), "{yes}");
        }
        for no in [
            "127.0.0.1",
            "127.0.0.1:8443",
            "[::1]:8443",
            "localhost",
            "LOCALHOST:8443",
            "api.localhost",
            "",
        ] {
            assert!(!hsts_applies_to(no), "{no}");
        }
    }

    #[test]
    fn the_default_page_policy_reports_here() {
        assert!(reports_here(DEFAULT_PAGE_CSP), "{DEFAULT_PAGE_CSP}");
        assert!(DEFAULT_PAGE_CSP.ends_with(&format!("; report-uri {CSP_REPORT_PATH}")));
    }

    #[test]
    fn report_to_is_added_only_for_a_policy_that_reports_here_and_has_none() {
        assert!(reports_here("default-src 'self';REPORT-URI  https://r.example/x /csp-report"));
        for policy in [
            "default-src 'self'",
            "default-src 'self'; report-uri https://r.example/csp-report",
            "default-src 'self'; report-uri /csp-report; report-to elsewhere",
            "report-to elsewhere; report-uri /csp-report",
            "default-src 'self' /csp-report",
        ] {
            assert!(!reports_here(policy), "{policy}");
        }
    }

    #[test]
    fn the_permissions_policy_is_the_owasp_list() {
        // The OWASP value, copied from vectors/owasp/secure_headers_add.json.
        let owasp = "accelerometer=(), autoplay=(), camera=(), cross-origin-isolated=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), keyboard-map=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(self), usb=(), web-share=(), xr-spatial-tracking=(), clipboard-read=(), clipboard-write=(), gamepad=(), hid=(), idle-detection=(), interest-cohort=(), serial=(), unload=()";
        assert_eq!(PERMISSIONS_POLICY, owasp);
    }
}
