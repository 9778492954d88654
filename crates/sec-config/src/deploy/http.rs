//! Deploy rules of the HTTP layer: the TLS key and certificate, CORS, the proxy chain, and the
//! defences a deployment can switch off.

use std::time::{Duration, SystemTime};

use super::{Issue, issue};
use crate::settings::{CorsOrigins, Settings};
use crate::tls::{CertificateFacts, file_mode};

/// A certificate expiring sooner than this is reported (SEC-C018), leaving two weeks to renew.
pub const CERT_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// Smallest RSA key accepted in production (SEC-C019): NIST SP 800-131A, 112-bit security.
pub const MIN_RSA_BITS: usize = 2048;

pub(super) fn tls_key_file_mode(s: &Settings) -> Vec<Issue> {
    let Some(files) = s.tls().files() else { return Vec::new() };
    let path = files.key_file();
    match file_mode(path) {
        Some(mode) if !crate::atomic::is_owner_only(mode) => vec![issue(
            "tls.key_file",
            format!(
                "the TLS private key {} has mode {mode:04o}: the group or others can read it \
                 and impersonate the server",
                path.display()
            ),
            format!(
                "chmod 600 {} (Kubernetes: defaultMode 0400 on the secret volume)",
                path.display()
            ),
        )],
        _ => Vec::new(),
    }
}

pub(super) fn tls_certificate_expired(s: &Settings) -> Vec<Issue> {
    let Some(files) = s.tls().files() else { return Vec::new() };
    match CertificateFacts::read(files.cert_file()) {
        Err(e) => vec![issue(
            "tls.cert_file",
            e.to_string(),
            "point tls.cert_file at the PEM certificate chain, leaf first",
        )],
        Ok(facts) if facts.remaining(SystemTime::now()).is_none() => vec![issue(
            "tls.cert_file",
            format!(
                "the certificate {} has expired; clients refuse the connection",
                files.cert_file().display()
            ),
            "renew the certificate (ACME / cert-manager renew automatically)",
        )],
        Ok(_) => Vec::new(),
    }
}

pub(super) fn tls_certificate_expiring(s: &Settings) -> Vec<Issue> {
    let Some(files) = s.tls().files() else { return Vec::new() };
    let Ok(facts) = CertificateFacts::read(files.cert_file()) else { return Vec::new() };
    match facts.remaining(SystemTime::now()) {
        Some(left) if left < CERT_EXPIRY_WARNING => vec![issue(
            "tls.cert_file",
            format!(
                "the certificate {} expires in {} day(s)",
                files.cert_file().display(),
                left.as_secs() / 86_400
            ),
            "renew it now, and automate renewal (ACME / cert-manager)",
        )],
        _ => Vec::new(),
    }
}

pub(super) fn tls_weak_rsa_key(s: &Settings) -> Vec<Issue> {
    let Some(files) = s.tls().files() else { return Vec::new() };
    let Ok(facts) = CertificateFacts::read(files.cert_file()) else { return Vec::new() };
    match facts.rsa_bits() {
        Some(bits) if bits < MIN_RSA_BITS => vec![issue(
            "tls.cert_file",
            format!("the certificate's RSA key has {bits} bits, fewer than {MIN_RSA_BITS}"),
            "issue a new certificate for an ECDSA P-256 key or an RSA key of 2048 bits or more",
        )],
        _ => Vec::new(),
    }
}

pub(super) fn cors_wildcard_with_credentials(s: &Settings) -> Vec<Issue> {
    let cors = s.cors();
    if cors.origins() != &CorsOrigins::Any || !cors.allow_credentials() {
        return Vec::new();
    }
    vec![issue(
        "cors.allow_credentials",
        "cors.allowed_origins is \"*\" and credentials are allowed: any web site could make \
         requests with the user's cookies and read the answers",
        "list the exact origins in cors.allowed_origins, or set cors.allow_credentials = false",
    )]
}

pub(super) fn proxy_without_trusted_proxies(s: &Settings) -> Vec<Issue> {
    let server = s.server();
    if !server.behind_tls_proxy() || !server.trusted_proxies().is_empty() {
        return Vec::new();
    }
    vec![issue(
        "server.trusted_proxies",
        "behind a proxy but no proxy is trusted: every request seems to come from the proxy's \
         address, so the per-IP rate limits throttle all clients together",
        "set server.trusted_proxies to the proxy's addresses or network (e.g. 10.0.0.0/8)",
    )]
}

pub(super) fn rate_limits_off(s: &Settings) -> Vec<Issue> {
    if s.rate_limit().enabled() {
        return Vec::new();
    }
    vec![issue(
        "rate_limit.enabled",
        "per-IP rate limits are off: nothing slows a flood or a password-guessing run before \
         it reaches the handlers",
        "set rate_limit.enabled = true (and keep a limit at the ingress as well)",
    )]
}

pub(super) fn security_headers_off(s: &Settings) -> Vec<Issue> {
    if s.headers().enabled() {
        return Vec::new();
    }
    vec![issue(
        "headers.enabled",
        "security headers (CSP, HSTS, nosniff, framing) are off",
        "set headers.enabled = true, unless the proxy in front adds the same set",
    )]
}

pub(super) fn redirect_without_public_origin(s: &Settings) -> Vec<Issue> {
    if s.tls().redirect_http_bind().is_none()
        || s.server().public_origin().is_some_and(sec_core::Origin::is_https)
    {
        return Vec::new();
    }
    vec![issue(
        "server.public_origin",
        "tls.redirect_http_bind is on but server.public_origin is not an https origin: the \
         redirect listener cannot know where to send clients (it never trusts the request's \
         Host), so it redirects loopback names only and answers 400 to everyone else",
        "set server.public_origin to the https origin clients use, e.g. https://app.example.com",
    )]
}
