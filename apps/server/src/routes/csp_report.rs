//! `POST /csp-report`: the Content-Security-Policy violation reports browsers send on their
//! own, logged so that a page that breaks its policy (an inline script, a file from another
//! origin, an injection attempt) is seen in production and in the browser tests.
//!
//! Browsers send two formats, told apart by the media type:
//!
//! - `application/csp-report`, for the policy's `report-uri` (Firefox, Safari, and Chromium
//!   while the policy has no `report-to`): `{"csp-report": {"document-uri": ..., ...}}`;
//! - `application/reports+json`, for `report-to` through the Reporting API (Chromium over
//!   HTTPS, `http::security_headers`): an array of reports, of which the `csp-violation` ones
//!   carry the violation in `body` (`documentURL`, `effectiveDirective`, `blockedURL`, ...).
//!
//! Anyone may send anything here, so every report is read as hostile input and the log line
//! carries little of it: the document's path (no query or fragment, where links may carry
//! tokens), the directive, the blocked resource reduced to its origin or keyword, the source
//! file without its query, the line, and the disposition; each value without control
//! characters (no forged log lines, no terminal escapes) and at most [`MAX_FIELD_CHARS`]
//! characters. The body is at most [`MAX_BODY_BYTES`] (413 beyond), at most [`MAX_REPORTS`]
//! reports of it are looked at, and each client address has a small bucket of its own
//! (`rate_limit.csp_report_*`, 429 past it, nothing logged), so the endpoint cannot be made to
//! fill the log.
//!
//! The endpoint needs no cookie and reads none; the CSRF check applies to it as to every
//! route, and reports from our own pages pass it. Chromium 156 (checked by hand with headless
//! Chromium) sends the session cookie with both formats when the page is ours: with
//! `Sec-Fetch-Site: same-origin` and `Origin` on a `report-uri` report, with `Origin` and no
//! `Sec-Fetch-Site` on a Reporting API upload; both are same-origin provenance. Another site's
//! page cannot make a browser send our `SameSite=Lax` session cookie with a report, so its
//! reports arrive without one and are read like any other; one that did carry the cookie from
//! another site would be refused (403), as every cross-site state change with it is.

use actix_web::dev::{JsonBody, Payload};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, RefBuilder, Schema, Type};

use crate::http::body_error::json_rejection;
use crate::http::error::{AppError, ErrorBody, ErrorCode};

/// Largest report body read (8 KiB): a browser's report is well under 2 KiB, and a Reporting
/// API upload holds a few.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// Reports of one Reporting API upload that are looked at; the rest are ignored.
const MAX_REPORTS: usize = 20;

/// Longest value logged, in characters; a longer one is cut.
const MAX_FIELD_CHARS: usize = 200;

/// The log target of violations: `log.level = info,csp=off` silences them.
const LOG_TARGET: &str = "csp";

/// The media type of `report-uri` reports.
const REPORT_URI_TYPE: &str = "application/csp-report";
/// The media type of Reporting API uploads.
const REPORTING_API_TYPE: &str = "application/reports+json";

/// A `report-uri` report (`application/csp-report`).
#[derive(Deserialize, ToSchema)]
pub(crate) struct ReportUriBody {
    #[serde(rename = "csp-report")]
    csp_report: ReportUriViolation,
}

/// The violation of a `report-uri` report. Other members browsers send (`original-policy`,
/// `referrer`, `script-sample`, `status-code`, ...) are not read.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ReportUriViolation {
    /// The URL of the page; only its path is logged.
    document_uri: Option<String>,
    /// The directive that was violated (CSP Level 3 browsers send `effective-directive`).
    violated_directive: Option<String>,
    /// The directive whose policy was applied, e.g. `script-src-elem`.
    effective_directive: Option<String>,
    /// What was blocked: a URL (only its origin is logged) or a keyword such as `inline` or
    /// `eval`.
    blocked_uri: Option<String>,
    /// The file (page or script) where the violation happened; logged without its query.
    source_file: Option<String>,
    /// The line in `source-file`.
    line_number: Option<u64>,
    /// `enforce` (blocked) or `report` (a report-only policy).
    disposition: Option<String>,
}

/// One report of a Reporting API upload (`application/reports+json` is an array of them).
/// Only those whose `type` is `csp-violation` are read, and of them only `body`; other types
/// (deprecation, intervention, ...) are ignored.
#[derive(Deserialize)]
#[serde(tag = "type")]
pub(crate) enum Report {
    /// A CSP violation.
    #[serde(rename = "csp-violation")]
    CspViolation {
        /// The violation; without one there is nothing to log.
        body: Option<ReportingApiViolation>,
    },
    /// A report of another type.
    #[serde(other)]
    Other,
}

// The document states the report as it is sent: a `type` string, and for `csp-violation` a
// `body` (the derive would describe the enum the handler receives).
impl utoipa::PartialSchema for Report {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One report of a Reporting API upload. Only `csp-violation` reports are read, \
                 and of them only `body`; reports of other types are ignored.",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The report type, e.g. `csp-violation`.")),
            )
            .required("type")
            .property(
                "body",
                RefBuilder::new()
                    .ref_location_from_schema_name("ReportingApiViolation")
                    .description(Some(
                        "For `csp-violation`, the violation; not read for other types.",
                    )),
            )
            .into()
    }
}

impl ToSchema for Report {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            ReportingApiViolation::name().into_owned(),
            <ReportingApiViolation as utoipa::PartialSchema>::schema(),
        ));
        <ReportingApiViolation as ToSchema>::schemas(schemas);
    }
}

/// The `body` of a `csp-violation` report. Other members browsers send (`originalPolicy`,
/// `referrer`, `sample`, `statusCode`, `columnNumber`) are not read.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportingApiViolation {
    /// The URL of the page; only its path is logged.
    #[serde(rename = "documentURL")]
    document_url: Option<String>,
    /// The directive whose policy was applied, e.g. `script-src-elem`.
    effective_directive: Option<String>,
    /// What was blocked: a URL (only its origin is logged) or a keyword such as `inline` or
    /// `eval`.
    #[serde(rename = "blockedURL")]
    blocked_url: Option<String>,
    /// The file (page or script) where the violation happened; logged without its query.
    source_file: Option<String>,
    /// The line in `sourceFile`.
    line_number: Option<u64>,
    /// `enforce` (blocked) or `report` (a report-only policy).
    disposition: Option<String>,
}

/// One violation, whichever format it came in.
struct Violation<'a> {
    document: Option<&'a str>,
    directive: Option<&'a str>,
    blocked: Option<&'a str>,
    source: Option<&'a str>,
    line: Option<u64>,
    disposition: Option<&'a str>,
}

impl<'a> From<&'a ReportUriViolation> for Violation<'a> {
    fn from(v: &'a ReportUriViolation) -> Self {
        Self {
            document: v.document_uri.as_deref(),
            directive: v.effective_directive.as_deref().or(v.violated_directive.as_deref()),
            blocked: v.blocked_uri.as_deref(),
            source: v.source_file.as_deref(),
            line: v.line_number,
            disposition: v.disposition.as_deref(),
        }
    }
}

impl<'a> From<&'a ReportingApiViolation> for Violation<'a> {
    fn from(v: &'a ReportingApiViolation) -> Self {
        Self {
            document: v.document_url.as_deref(),
            directive: v.effective_directive.as_deref(),
            blocked: v.blocked_url.as_deref(),
            source: v.source_file.as_deref(),
            line: v.line_number,
            disposition: v.disposition.as_deref(),
        }
    }
}

impl Violation<'_> {
    /// The one log line of the violation; a value the report lacks is left out.
    fn log(&self) {
        let document = self.document.map(|d| loggable(path_of(d)));
        let directive = self.directive.map(loggable);
        let blocked = self.blocked.map(|b| loggable(&blocked(b)));
        let source = self.source.map(|s| loggable(&source_of(s)));
        let disposition = self.disposition.map(loggable);
        tracing::warn!(
            target: LOG_TARGET,
            document = document.as_deref(),
            directive = directive.as_deref(),
            blocked = blocked.as_deref(),
            source = source.as_deref(),
            line = self.line,
            disposition = disposition.as_deref(),
            "csp violation"
        );
    }
}

/// Receives the CSP violation reports of browsers: 204, each violation logged once.
#[utoipa::path(
    post,
    path = "/csp-report",
    tag = "reports",
    request_body(
        description = "A `report-uri` report, or a Reporting API upload (of whose reports only \
                       `csp-violation` ones are read, at most 20). At most 8 KiB.",
        content(
            (ReportUriBody = "application/csp-report"),
            (Vec<Report> = "application/reports+json"),
        ),
    ),
    responses(
        (status = 204, description = "Read: each violation logged once."),
        (status = 400, description = "The body is not JSON of its format (`invalid_json`).", body = ErrorBody),
        (status = 408, description = "The body did not arrive within `limits.body_read_timeout_ms` (`request_timeout`); the connection is closed.", body = ErrorBody),
        (status = 413, description = "The body is over 8 KiB (`payload_too_large`).", body = ErrorBody),
        (status = 415, description = "The body is neither `application/csp-report` nor `application/reports+json` (`unsupported_media_type`).", body = ErrorBody),
    ),
)]
pub(crate) async fn csp_report(
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let mut payload = payload.into_inner();
    match format_of(&req)? {
        Format::ReportUri => {
            let report: ReportUriBody = read(&req, &mut payload).await?;
            Violation::from(&report.csp_report).log();
        }
        Format::ReportingApi => {
            let reports: Vec<Report> = read(&req, &mut payload).await?;
            for report in reports.iter().take(MAX_REPORTS) {
                if let Report::CspViolation { body: Some(body) } = report {
                    Violation::from(body).log();
                }
            }
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The two report formats.
enum Format {
    /// `application/csp-report`.
    ReportUri,
    /// `application/reports+json`.
    ReportingApi,
}

/// The format the request's media type names; 415 for any other (or none).
fn format_of(req: &HttpRequest) -> Result<Format, AppError> {
    let mime = req.mime_type().ok().flatten();
    match mime.as_ref().map(|m| m.essence_str()) {
        Some(REPORT_URI_TYPE) => Ok(Format::ReportUri),
        Some(REPORTING_API_TYPE) => Ok(Format::ReportingApi),
        _ => Err(AppError::with_cause(
            ErrorCode::UnsupportedMediaType,
            "a CSP report is application/csp-report or application/reports+json",
        )),
    }
}

/// Reads the body as JSON of `T`, at most [`MAX_BODY_BYTES`] of it (through the body read
/// deadline of `http::limits`, like every body), answering as every JSON body does when it
/// cannot ([`json_rejection`]). The media type was checked by [`format_of`].
async fn read<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<T, AppError> {
    JsonBody::new(req, payload, None, false)
        .limit(MAX_BODY_BYTES)
        .await
        .map_err(|e| json_rejection(&e))
}

/// `text` as a log value: without control characters, line separators and bidirectional
/// overrides (`sec_audit::needs_escape`), and at most [`MAX_FIELD_CHARS`] characters.
fn loggable(text: &str) -> String {
    text.chars().filter(|c| !sec_audit::needs_escape(*c)).take(MAX_FIELD_CHARS).collect()
}

/// `url` without its query and fragment.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The scheme and the rest of an absolute URL with an authority (`scheme://rest`).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    is_scheme(scheme).then_some((scheme, rest))
}

/// RFC 3986 §3.1: a letter, then letters, digits, `+`, `-` and `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The scheme and host (`scheme://host[:port]`) of `scheme://rest`, without a user name or
/// password.
fn origin(scheme: &str, rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

/// The path of a page's URL: no scheme, host, query or fragment.
fn path_of(url: &str) -> &str {
    let url = without_query(url);
    match split_scheme(url) {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => url,
    }
}

/// A source file: its origin and path, without query, fragment, user name or password.
fn source_of(url: &str) -> String {
    let url = without_query(url);
    match split_scheme(url) {
        Some((scheme, rest)) => {
            let path = rest.find('/').map_or("", |at| &rest[at..]);
            format!("{}{path}", origin(scheme, rest))
        }
        None => url.to_owned(),
    }
}

/// What was blocked, as logged: a URL's origin (`https://cdn.example`), the scheme alone of a
/// URL without a host (`data`, `blob`), a keyword as sent (`inline`, `eval`, `wasm-eval`), and
/// `other` for anything else, which no browser sends.
fn blocked(text: &str) -> String {
    if let Some((scheme, rest)) = split_scheme(text) {
        return origin(scheme, rest);
    }
    match text.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => scheme.to_ascii_lowercase(),
        _ if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            text.to_owned()
        }
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "a failed unwrap or panic is a failed test"
    )]

    use super::*;

    #[test]
    fn a_page_is_logged_by_its_path_alone() {
        for (url, path) in [
            (
                "https://app.example/account/reset-password?token=s3cret#frag",
                "/account/reset-password",
            ),
            ("https://user:pw@app.example:8443/a/b#t=1", "/a/b"),
            ("http://127.0.0.1:8080?x=1", "/"),
            ("HTTPS://app.example", "/"),
            ("/relative/page?q=1", "/relative/page"),
            ("about:blank", "about:blank"),
        ] {
            assert_eq!(path_of(url), path, "{url}");
        }
    }

    #[test]
    fn a_blocked_resource_is_logged_by_its_origin_or_keyword() {
        for (text, shown) in [
            ("https://cdn.example:8443/lib.js?key=s3cret", "https://cdn.example:8443"),
            ("wss://User:Pw@Socket.Example/feed", "wss://socket.example"),
            ("data:text/html;base64,PHNjcmlwdD4=", "data"),
            ("blob:https://app.example/0b5e", "blob"),
            ("inline", "inline"),
            ("wasm-eval", "wasm-eval"),
            ("", "other"),
            ("/a/path?token=s3cret", "other"),
            ("two words", "other"),
        ] {
            assert_eq!(blocked(text), shown, "{text:?}");
        }
    }

    #[test]
    fn a_source_file_loses_its_query_and_credentials() {
        assert_eq!(
            source_of("https://u:p@App.Example/static/a.js?v=1#x"),
            "https://app.example/static/a.js"
        );
        assert_eq!(source_of("https://app.example"), "https://app.example");
        assert_eq!(source_of("page.html?token=1"), "page.html");
    }

    #[test]
    fn a_logged_value_has_no_control_character_and_a_bounded_length() {
        let forged =
            "script-src\n2026-01-01T00:00:00Z  INFO forged line\u{1b}[31m\u{202e}\u{2028}x";
        let shown = loggable(forged);
        assert!(!shown.chars().any(|c| c.is_control() || sec_audit::needs_escape(c)), "{shown}");
        assert_eq!(shown, "script-src2026-01-01T00:00:00Z  INFO forged line[31mx");
        assert_eq!(loggable(&"é".repeat(500)).chars().count(), MAX_FIELD_CHARS);
    }

    #[test]
    fn both_formats_parse_and_other_report_types_are_skipped() {
        let uri: ReportUriBody = serde_json::from_str(
            r#"{"csp-report":{"document-uri":"https://a.example/p","violated-directive":"img-src",
                "blocked-uri":"inline","line-number":3,"status-code":200}}"#,
        )
        .unwrap();
        let v = Violation::from(&uri.csp_report);
        assert_eq!((v.directive, v.blocked, v.line), (Some("img-src"), Some("inline"), Some(3)));
        let reports: Vec<Report> = serde_json::from_str(
            r#"[{"type":"deprecation","body":{"id":"x","lineNumber":null}},
                {"type":"csp-violation","age":1,"url":"u","body":{"documentURL":"https://a.example/",
                 "effectiveDirective":"script-src-elem","blockedURL":"eval","lineNumber":1}}]"#,
        )
        .unwrap();
        assert!(matches!(reports[0], Report::Other));
        let Report::CspViolation { body: Some(body) } = &reports[1] else {
            panic!("{}", "no body")
        };
        assert_eq!(Violation::from(body).directive, Some("script-src-elem"));
        assert!(serde_json::from_str::<Vec<Report>>(r#"[{"body":{}}]"#).is_err(), "no type");
    }
}
