//! Per-IP request rate limits: a general bucket for every request, a stricter one for
//! `/api/v1/auth/*` and the page forms that do what those endpoints do ([`AUTH_FORM_PATHS`]),
//! and a small one for the CSP violation reports of `/csp-report` (which anyone may send, and
//! each of which is a log line), answered with 429 `too_many_requests` and `Retry-After`.
//!
//! This is the cheap first line, in memory and **per replica**: with N replicas a client gets
//! up to N times the limit, and the limits reset when a replica restarts. The ingress in front
//! (nginx `limit_req`, an ingress-controller annotation, a cloud WAF rule) should enforce the
//! global figure; login attempts are also throttled per account in the database by the auth
//! code, which holds across replicas.
//!
//! The key is the request's [`ClientAddr`], resolved once per request by
//! [`crate::http::client_ip::middleware`] (the peer, or the forwarding header of a trusted proxy),
//! with IPv6 clients keyed by their /64.
//!
//! Two interchangeable implementations, chosen at build time:
//! - the default: the quotas and responses on the MIT-licensed governor crate directly, in a
//!   small middleware of our own;
//! - opt-in feature `actix-governor`: the actix-governor middleware with our key extractor and
//!   429 body. actix-governor is **GPL-3.0-or-later** (README, "Licenses").
//!
//! Both use governor's GCRA with the same quotas, and both pass the same API tests. They differ
//! in what a refusal costs: actix-governor 0.10 creates a clock (CPUID instructions) for every
//! refusal, which made a flood of refused requests cost more CPU than the same flood answered;
//! the direct implementation refuses at the cost of an answer (docs/performance.md).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, ResponseError};
use governor::Quota;
use sec_config::Settings;

use crate::http::client_ip::{ClientAddr, rate_limit_key};
use crate::http::error::AppError;
use crate::http::security_headers::CSP_REPORT_PATH;

#[cfg(feature = "actix-governor")]
mod with_actix_governor;
#[cfg(feature = "actix-governor")]
pub use with_actix_governor::Limiter;

#[cfg(not(feature = "actix-governor"))]
mod with_governor;
#[cfg(not(feature = "actix-governor"))]
pub use with_governor::{Limiter, middleware};

/// Requests to this path, or below it, also count against the authentication bucket.
pub const AUTH_PATH_PREFIX: &str = "/api/v1/auth";

/// How often buckets of clients that have gone quiet are dropped, so that the memory the
/// limiter holds follows the number of recent clients, not of all clients ever seen.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// The rate limiter could not be built from the settings.
#[derive(Debug, thiserror::Error)]
#[error("the rate-limit settings give an empty quota")]
pub struct EmptyQuota;

/// The forms of the pages (`routes::pages`) that do what an endpoint of `/api/v1/auth/*` does
/// (sign-up, sign-in and its second factor, re-authentication, signing out, "forgot password",
/// "send a new link", and the mailed links' forms): a POST to one of them counts against the
/// authentication bucket too, so a page is never the way around its twin's limit. The route
/// walk fails when a public form of the route table is missing here.
pub const AUTH_FORM_PATHS: &[&str] = &[
    "/signup",
    "/login",
    "/login/mfa",
    "/forgot-password",
    "/resend-verification",
    "/account/confirm",
    "/account/sign-out",
    "/account/verify-email",
    "/account/reset-password",
];

/// True for `/api/v1/auth` and every path below it. `path` must be the path the router
/// matches (actix's re-quoted `match_info().as_str()`, where `%61uth` is already `auth`), so
/// that no spelling reaches an auth route without counting.
pub fn is_auth_path(path: &str) -> bool {
    path.strip_prefix(AUTH_PATH_PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// True for a request that counts against the authentication bucket: any request to
/// [`is_auth_path`], and a POST to one of [`AUTH_FORM_PATHS`] (showing the form is free).
pub fn is_auth_request(method: &actix_web::http::Method, path: &str) -> bool {
    is_auth_path(path)
        || (method == actix_web::http::Method::POST && AUTH_FORM_PATHS.contains(&path))
}

/// True for `/csp-report` exactly, as the router matches it (see [`is_auth_path`]): the one
/// path whose requests also count against the CSP report bucket.
pub fn is_csp_report_path(path: &str) -> bool {
    path == CSP_REPORT_PATH
}

/// The quotas of the three buckets, from `rate_limit.*`.
struct Quotas {
    /// Every request.
    general: Quota,
    /// Requests to `/api/v1/auth/*`, on top of the general one.
    auth: Quota,
    /// Requests to `/csp-report`, on top of the general one.
    csp_report: Quota,
}

/// The quotas `rate_limit.*` sets.
fn quotas(settings: &Settings) -> Quotas {
    let r = settings.rate_limit();
    Quotas {
        general: Quota::per_second(r.per_second()).allow_burst(r.burst()),
        auth: Quota::per_minute(r.auth_per_minute()).allow_burst(r.auth_burst()),
        csp_report: Quota::per_second(r.csp_report_per_second()).allow_burst(r.csp_report_burst()),
    }
}

/// The bucket key of a request: its client address, IPv6 by /64. A request without one (not
/// over TCP) shares one bucket with all such requests.
fn key_of(req: &ServiceRequest) -> IpAddr {
    ClientAddr::of(req.request()).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), rate_limit_key)
}

/// The 429 answer: the standard error body, `Retry-After` in whole seconds (at least 1).
fn too_many_requests(wait: Duration) -> HttpResponse {
    AppError::too_many_requests(wait).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_report_bucket_covers_its_one_path() {
        assert!(is_csp_report_path("/csp-report"));
        for no in ["/csp-report/", "/csp-reports", "/CSP-REPORT", "/api/csp-report", ""] {
            assert!(!is_csp_report_path(no), "{no}");
        }
    }

    #[test]
    fn the_auth_bucket_covers_the_prefix_and_below_only() {
        for yes in ["/api/v1/auth", "/api/v1/auth/", "/api/v1/auth/login", "/api/v1/auth/a/b"] {
            assert!(is_auth_path(yes), "{yes}");
        }
        for no in ["/api/v1/authx", "/api/v1/aut", "/api/v1", "/healthz", "/API/v1/auth", ""] {
            assert!(!is_auth_path(no), "{no}");
        }
    }
}
