//! Settings of the HTTP layer: request limits and timeouts, security headers, CSRF, CORS, rate
//! limits and TLS. Raw values from the merged layers are validated here into typed sections;
//! [`super::validate`] calls [`validate`] and reports every problem with its key.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sec_core::Origin;
use serde::Deserialize;

use super::{Settings, StringList, in_range};
use crate::problem::Problem;

/// Default `headers.page_csp`: everything from the page's own origin only, no inline script or
/// style, no plugins, no `<base>` rewriting, forms post only to this origin, no framing; and
/// violations reported to the server's own `/csp-report`, so a page that breaks its policy is
/// seen in the log (over HTTPS the server adds `report-to` for browsers that have left
/// `report-uri` behind).
pub const DEFAULT_PAGE_CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
                                    form-action 'self'; frame-ancestors 'none'; \
                                    report-uri /csp-report";

/// Two years, the HSTS max-age the OWASP Secure Headers Project recommends.
pub const DEFAULT_HSTS_MAX_AGE_SECS: u64 = 63_072_000;

// ---------------------------------------------------------------------------------------------
// Typed sections

/// Connection and request-size limits of the HTTP listener (`limits.*`).
#[derive(Debug, Clone)]
pub struct LimitsSettings {
    max_url_bytes: usize,
    client_request_timeout: Duration,
    client_disconnect_timeout: Duration,
    keep_alive: Option<Duration>,
    max_connections: usize,
    max_connection_rate: usize,
    body_read_timeout: Duration,
    max_connections_per_address: usize,
}

impl LimitsSettings {
    /// Longest request target (path and query) accepted, in bytes (`limits.max_url_bytes`,
    /// default 8192); longer ones get 414.
    pub fn max_url_bytes(&self) -> usize {
        self.max_url_bytes
    }

    /// Time a client has to send the complete head of its first request on a connection
    /// (`limits.client_request_timeout_ms`, default 5000): slow-loris defence, answered 408.
    pub fn client_request_timeout(&self) -> Duration {
        self.client_request_timeout
    }

    /// Time a closing connection has to shut down before it is dropped
    /// (`limits.client_disconnect_timeout_ms`, default 1000).
    pub fn client_disconnect_timeout(&self) -> Duration {
        self.client_disconnect_timeout
    }

    /// How long an idle keep-alive connection stays open (`limits.keep_alive_secs`, default 5);
    /// `None` when keep-alive is off (0).
    pub fn keep_alive(&self) -> Option<Duration> {
        self.keep_alive
    }

    /// Most concurrent connections per worker (`limits.max_connections`, default 25000).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Most concurrent TLS handshakes per worker (`limits.max_connection_rate`, default 256).
    pub fn max_connection_rate(&self) -> usize {
        self.max_connection_rate
    }

    /// Time a client has to send a request's whole body, counted from the end of its head
    /// (`limits.body_read_timeout_ms`, default 10000): slow-body defence, answered 408 and the
    /// connection closed.
    pub fn body_read_timeout(&self) -> Duration {
        self.body_read_timeout
    }

    /// Most open connections from one client address, all workers together
    /// (`limits.max_connections_per_address`, default 256; IPv6 by /64). The address is the
    /// TCP peer; connections from `server.trusted_proxies` are not counted (the proxy carries
    /// every client: it must limit connections per client itself).
    pub fn max_connections_per_address(&self) -> usize {
        self.max_connections_per_address
    }
}

/// Security response headers (`headers.*`).
#[derive(Debug, Clone)]
pub struct HeadersSettings {
    enabled: bool,
    hsts_max_age_secs: u64,
    hsts_include_subdomains: bool,
    hsts_preload: bool,
    page_csp: String,
}

impl HeadersSettings {
    /// Whether the security headers are added at all (`headers.enabled`, default true).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// HSTS `max-age` in seconds (`headers.hsts_max_age_secs`, default two years).
    pub fn hsts_max_age_secs(&self) -> u64 {
        self.hsts_max_age_secs
    }

    /// HSTS `includeSubDomains` (`headers.hsts_include_subdomains`, default true).
    pub fn hsts_include_subdomains(&self) -> bool {
        self.hsts_include_subdomains
    }

    /// HSTS `preload` (`headers.hsts_preload`, default false).
    pub fn hsts_preload(&self) -> bool {
        self.hsts_preload
    }

    /// The Content-Security-Policy of HTML responses (`headers.page_csp`).
    pub fn page_csp(&self) -> &str {
        &self.page_csp
    }
}

/// Cross-site request forgery defence (`csrf.*`).
#[derive(Debug, Clone, Default)]
pub struct CsrfSettings {
    allowed_origins: Vec<Origin>,
}

impl CsrfSettings {
    /// Other origins (besides the server's own) that may send cookie-authenticated
    /// state-changing requests, e.g. a front end on a sibling subdomain
    /// (`csrf.allowed_origins`, default none).
    pub fn allowed_origins(&self) -> &[Origin] {
        &self.allowed_origins
    }
}

/// Which origins CORS lets read responses (`cors.allowed_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsOrigins {
    /// CORS off (the default): browsers let no other origin read responses.
    Disabled,
    /// `*`: any origin may read responses, never with credentials.
    Any,
    /// Exactly these origins.
    List(Vec<Origin>),
}

/// Cross-origin resource sharing (`cors.*`).
#[derive(Debug, Clone)]
pub struct CorsSettings {
    origins: CorsOrigins,
    allow_credentials: bool,
    max_age_secs: u32,
}

impl CorsSettings {
    /// The allowed origins.
    pub fn origins(&self) -> &CorsOrigins {
        &self.origins
    }

    /// Whether cross-origin requests may carry cookies (`cors.allow_credentials`, default
    /// false). Refused together with `*` (SEC-C020).
    pub fn allow_credentials(&self) -> bool {
        self.allow_credentials
    }

    /// How long browsers may cache a preflight answer (`cors.max_age_secs`, default 600).
    pub fn max_age_secs(&self) -> u32 {
        self.max_age_secs
    }
}

/// Per-IP request rate limits (`rate_limit.*`), per replica.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    enabled: bool,
    per_second: NonZeroU32,
    burst: NonZeroU32,
    auth_per_minute: NonZeroU32,
    auth_burst: NonZeroU32,
    csp_report_per_second: NonZeroU32,
    csp_report_burst: NonZeroU32,
}

impl RateLimitSettings {
    /// Whether the limits apply (`rate_limit.enabled`, default true).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Sustained requests per second per client IP, any route (`rate_limit.per_second`,
    /// default 100).
    pub fn per_second(&self) -> NonZeroU32 {
        self.per_second
    }

    /// Requests per client IP that may arrive at once above the sustained rate
    /// (`rate_limit.burst`, default 200).
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// Sustained requests per minute per client IP to `/api/v1/auth/*`
    /// (`rate_limit.auth_per_minute`, default 10).
    pub fn auth_per_minute(&self) -> NonZeroU32 {
        self.auth_per_minute
    }

    /// Burst per client IP to `/api/v1/auth/*` (`rate_limit.auth_burst`, default 5).
    pub fn auth_burst(&self) -> NonZeroU32 {
        self.auth_burst
    }

    /// Sustained CSP violation reports per second per client IP to `/csp-report`
    /// (`rate_limit.csp_report_per_second`, default 2).
    pub fn csp_report_per_second(&self) -> NonZeroU32 {
        self.csp_report_per_second
    }

    /// Burst per client IP to `/csp-report` (`rate_limit.csp_report_burst`, default 20): a page
    /// load that breaks its policy several times at once is reported whole.
    pub fn csp_report_burst(&self) -> NonZeroU32 {
        self.csp_report_burst
    }
}

/// Certificate and key served by the listener itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl TlsFiles {
    /// PEM certificate chain, leaf first (`tls.cert_file`).
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// PEM private key (`tls.key_file`): PKCS#8, PKCS#1 or SEC1.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }
}

/// HTTPS served by the server itself (`tls.*`).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    files: Option<TlsFiles>,
    redirect_http_bind: Option<SocketAddr>,
}

impl TlsSettings {
    /// The certificate and key, when the server speaks HTTPS itself; `None` for plain HTTP.
    pub fn files(&self) -> Option<&TlsFiles> {
        self.files.as_ref()
    }

    /// True when the server speaks HTTPS itself.
    pub fn enabled(&self) -> bool {
        self.files.is_some()
    }

    /// An extra plain-HTTP listener that answers every request with a 308 redirect to HTTPS
    /// (`tls.redirect_http_bind`, default none).
    pub fn redirect_http_bind(&self) -> Option<SocketAddr> {
        self.redirect_http_bind
    }
}

/// The HTTP-layer sections of [`Settings`].
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    limits: LimitsSettings,
    headers: HeadersSettings,
    csrf: CsrfSettings,
    cors: CorsSettings,
    rate_limit: RateLimitSettings,
    tls: TlsSettings,
}

impl Settings {
    /// Connection and request-size limits.
    pub fn limits(&self) -> &LimitsSettings {
        &self.http.limits
    }

    /// Security response headers.
    pub fn headers(&self) -> &HeadersSettings {
        &self.http.headers
    }

    /// CSRF defence.
    pub fn csrf(&self) -> &CsrfSettings {
        &self.http.csrf
    }

    /// CORS.
    pub fn cors(&self) -> &CorsSettings {
        &self.http.cors
    }

    /// Per-IP rate limits.
    pub fn rate_limit(&self) -> &RateLimitSettings {
        &self.http.rate_limit
    }

    /// HTTPS served by the server itself.
    pub fn tls(&self) -> &TlsSettings {
        &self.http.tls
    }
}

// ---------------------------------------------------------------------------------------------
// Raw values

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    max_url_bytes: Option<usize>,
    client_request_timeout_ms: Option<u64>,
    client_disconnect_timeout_ms: Option<u64>,
    keep_alive_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connection_rate: Option<usize>,
    body_read_timeout_ms: Option<u64>,
    max_connections_per_address: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHeaders {
    enabled: Option<bool>,
    hsts_max_age_secs: Option<u64>,
    hsts_include_subdomains: Option<bool>,
    hsts_preload: Option<bool>,
    page_csp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCsrf {
    allowed_origins: Option<StringList>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCors {
    allowed_origins: Option<StringList>,
    allow_credentials: Option<bool>,
    max_age_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRateLimit {
    enabled: Option<bool>,
    per_second: Option<u32>,
    burst: Option<u32>,
    auth_per_minute: Option<u32>,
    auth_burst: Option<u32>,
    csp_report_per_second: Option<u32>,
    csp_report_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    redirect_http_bind: Option<String>,
}

/// The raw HTTP-layer sections, as merged from the layers.
#[derive(Debug, Default)]
pub(crate) struct RawHttp {
    pub(crate) limits: RawLimits,
    pub(crate) headers: RawHeaders,
    pub(crate) csrf: RawCsrf,
    pub(crate) cors: RawCors,
    pub(crate) rate_limit: RawRateLimit,
    pub(crate) tls: RawTls,
}

// ---------------------------------------------------------------------------------------------
// Validation

fn origins(key: &str, raw: Option<&StringList>, problems: &mut Vec<Problem>) -> Vec<Origin> {
    let mut out = Vec::new();
    for item in raw.into_iter().flat_map(StringList::items) {
        match Origin::parse(item) {
            Ok(o) if !out.contains(&o) => out.push(o),
            Ok(_) => {}
            Err(e) => problems.push(Problem::new(
                key,
                format!("{item:?} is not an origin: {e}; e.g. https://app.example.com"),
            )),
        }
    }
    out
}

fn nonzero(
    key: &str,
    value: Option<u32>,
    default: u32,
    max: u32,
    problems: &mut Vec<Problem>,
) -> NonZeroU32 {
    let v = in_range(key, value, default, 1, max, problems);
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

fn optional_path(key: &str, raw: Option<String>, problems: &mut Vec<Problem>) -> Option<PathBuf> {
    match raw {
        Some(p) if p.trim().is_empty() => {
            problems.push(Problem::new(key, "must not be empty when set"));
            None
        }
        other => other.map(PathBuf::from),
    }
}

/// Validates the HTTP-layer sections; `bind` is `server.bind`, which the redirect listener
/// must not share.
pub(crate) fn validate(
    raw: RawHttp,
    bind: Option<SocketAddr>,
    problems: &mut Vec<Problem>,
) -> HttpSettings {
    let RawHttp { limits, headers, csrf, cors, rate_limit, tls } = raw;

    let keep_alive_secs =
        in_range("limits.keep_alive_secs", limits.keep_alive_secs, 5, 0, 3600, problems);
    let limits = LimitsSettings {
        max_url_bytes: in_range(
            "limits.max_url_bytes",
            limits.max_url_bytes,
            8192,
            256,
            65_536,
            problems,
        ),
        client_request_timeout: Duration::from_millis(in_range(
            "limits.client_request_timeout_ms",
            limits.client_request_timeout_ms,
            5000,
            100,
            300_000,
            problems,
        )),
        client_disconnect_timeout: Duration::from_millis(in_range(
            "limits.client_disconnect_timeout_ms",
            limits.client_disconnect_timeout_ms,
            1000,
            0,
            60_000,
            problems,
        )),
        keep_alive: (keep_alive_secs > 0).then(|| Duration::from_secs(keep_alive_secs)),
        max_connections: in_range(
            "limits.max_connections",
            limits.max_connections,
            25_000,
            1,
            1_000_000,
            problems,
        ),
        max_connection_rate: in_range(
            "limits.max_connection_rate",
            limits.max_connection_rate,
            256,
            1,
            65_536,
            problems,
        ),
        body_read_timeout: Duration::from_millis(in_range(
            "limits.body_read_timeout_ms",
            limits.body_read_timeout_ms,
            10_000,
            100,
            300_000,
            problems,
        )),
        max_connections_per_address: in_range(
            "limits.max_connections_per_address",
            limits.max_connections_per_address,
            256,
            1,
            1_000_000,
            problems,
        ),
    };

    let page_csp = headers.page_csp.unwrap_or_else(|| DEFAULT_PAGE_CSP.to_owned());
    check_page_csp(&page_csp, problems);
    let headers = HeadersSettings {
        enabled: headers.enabled.unwrap_or(true),
        hsts_max_age_secs: in_range(
            "headers.hsts_max_age_secs",
            headers.hsts_max_age_secs,
            DEFAULT_HSTS_MAX_AGE_SECS,
            0,
            // Five years: longer would outlive most certificates' domains' plans.
            157_680_000,
            problems,
        ),
        hsts_include_subdomains: headers.hsts_include_subdomains.unwrap_or(true),
        hsts_preload: headers.hsts_preload.unwrap_or(false),
        page_csp,
    };
    if headers.hsts_preload
        && (!headers.hsts_include_subdomains || headers.hsts_max_age_secs < 31_536_000)
    {
        problems.push(Problem::new(
            "headers.hsts_preload",
            "the preload list requires includeSubDomains and a max-age of at least one year",
        ));
    }

    let csrf = CsrfSettings {
        allowed_origins: origins("csrf.allowed_origins", csrf.allowed_origins.as_ref(), problems),
    };

    let cors_items: Vec<&str> =
        cors.allowed_origins.as_ref().map(|l| l.items().collect()).unwrap_or_default();
    let cors_origins = if cors_items.is_empty() {
        CorsOrigins::Disabled
    } else if cors_items.contains(&"*") {
        if cors_items.len() > 1 {
            problems.push(Problem::new(
                "cors.allowed_origins",
                "\"*\" allows every origin and must be the only entry",
            ));
        }
        CorsOrigins::Any
    } else {
        CorsOrigins::List(origins("cors.allowed_origins", cors.allowed_origins.as_ref(), problems))
    };
    let cors = CorsSettings {
        origins: cors_origins,
        allow_credentials: cors.allow_credentials.unwrap_or(false),
        max_age_secs: in_range("cors.max_age_secs", cors.max_age_secs, 600, 0, 86_400, problems),
    };

    let rate_limit = RateLimitSettings {
        enabled: rate_limit.enabled.unwrap_or(true),
        per_second: nonzero(
            "rate_limit.per_second",
            rate_limit.per_second,
            100,
            1_000_000,
            problems,
        ),
        burst: nonzero("rate_limit.burst", rate_limit.burst, 200, 1_000_000, problems),
        auth_per_minute: nonzero(
            "rate_limit.auth_per_minute",
            rate_limit.auth_per_minute,
            10,
            100_000,
            problems,
        ),
        auth_burst: nonzero("rate_limit.auth_burst", rate_limit.auth_burst, 5, 100_000, problems),
        csp_report_per_second: nonzero(
            "rate_limit.csp_report_per_second",
            rate_limit.csp_report_per_second,
            2,
            100_000,
            problems,
        ),
        csp_report_burst: nonzero(
            "rate_limit.csp_report_burst",
            rate_limit.csp_report_burst,
            20,
            100_000,
            problems,
        ),
    };

    let cert_file = optional_path("tls.cert_file", tls.cert_file, problems);
    let key_file = optional_path("tls.key_file", tls.key_file, problems);
    let files = match (cert_file, key_file) {
        (Some(cert_file), Some(key_file)) => Some(TlsFiles { cert_file, key_file }),
        (None, None) => None,
        (Some(_), None) => {
            problems.push(Problem::new("tls.key_file", "must be set together with tls.cert_file"));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new("tls.cert_file", "must be set together with tls.key_file"));
            None
        }
    };
    let redirect_http_bind = tls.redirect_http_bind.as_deref().map(str::trim).and_then(|text| {
        let addr = text.parse::<SocketAddr>().map_err(|_| {
            problems.push(Problem::new(
                "tls.redirect_http_bind",
                format!("{text:?} is not an IP address and port, e.g. 0.0.0.0:80"),
            ));
        });
        addr.ok()
    });
    if let Some(addr) = redirect_http_bind {
        if files.is_none() {
            problems.push(Problem::new(
                "tls.redirect_http_bind",
                "redirects to HTTPS need HTTPS: set tls.cert_file and tls.key_file too",
            ));
        }
        if Some(addr) == bind && addr.port() != 0 {
            problems.push(Problem::new("tls.redirect_http_bind", "must differ from server.bind"));
        }
    }
    let tls = TlsSettings { files, redirect_http_bind };

    HttpSettings { limits, headers, csrf, cors, rate_limit, tls }
}

/// A page policy is sent as a header, so it must be one line of visible ASCII; and the point of
/// the default is that no inline script runs, so the keywords that undo it are refused.
fn check_page_csp(csp: &str, problems: &mut Vec<Problem>) {
    if csp.trim().is_empty() || !csp.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        problems.push(Problem::new(
            "headers.page_csp",
            "must be a non-empty Content-Security-Policy on one line of printable ASCII",
        ));
    }
    let lower = csp.to_ascii_lowercase();
    for keyword in ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"] {
        if lower.contains(keyword) {
            problems.push(Problem::new(
                "headers.page_csp",
                format!(
                    "{keyword} re-enables the script injection the policy exists to stop; use \
                     external files, or nonces or hashes"
                ),
            ));
        }
    }
}
