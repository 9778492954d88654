//! `POST /csp-report`, the CSP violation reports browsers send: both formats are read and each
//! violation is logged once, with nothing of a URL's query, no control character and bounded
//! values; bodies over 8 KiB, other media types and malformed JSON are refused; past its own
//! rate limit the endpoint answers 429 and logs nothing; and a report from one of our pages,
//! sent with the session cookie and the headers Chromium sends, passes the CSRF check.
//!
//! Log lines are read from the process-wide capture (`crate::audit`), found by the request id
//! each request sets.

use reqwest::Response;
use serde_json::{Value, json};

use crate::accounts::signed_in;
use crate::helpers::{
    Backend, TestApp, assert_error, bare_client, cases, spawn_app, spawn_app_configured,
};

cases![
    csp_report_a_report_uri_report_is_logged_once_without_query_or_control_characters,
    csp_report_a_reporting_api_upload_logs_its_violations_and_skips_other_types,
    csp_report_at_most_twenty_reports_of_an_upload_are_looked_at,
    csp_report_a_body_over_8_kib_is_refused_with_413,
    csp_report_another_media_type_is_refused_with_415,
    csp_report_malformed_json_is_refused_with_400,
    csp_report_past_its_budget_is_429_and_nothing_is_logged,
    csp_report_reports_of_our_own_pages_pass_with_the_session_cookie_as_chromium_sends_them,
];

const REPORT_URI: &str = "application/csp-report";
const REPORTING_API: &str = "application/reports+json";

/// A request id of its own for each request, to find its log lines by.
fn request_id() -> String {
    format!("csp-{}", uuid::Uuid::new_v4().simple())
}

/// Posts `body` as `content_type` with the request id `id`.
async fn post(app: &TestApp, content_type: &str, body: String, id: &str) -> Response {
    app.client
        .post(app.url("/csp-report"))
        .header("content-type", content_type)
        .header("x-request-id", id)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The `csp violation` lines logged for the request `id`.
fn violations(id: &str) -> Vec<Value> {
    crate::audit::captured_lines()
        .into_iter()
        .filter(|l| l["span"]["request_id"] == id && l["message"] == "csp violation")
        .collect()
}

/// Asserts a 204 with no body.
async fn assert_accepted(response: Response) {
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.unwrap().is_empty());
}

/// A `report-uri` report as Chromium 156 sends it, of a page at `document`.
fn report_uri_report(document: &str, directive: &str, blocked: &str) -> Value {
    json!({ "csp-report": {
        "document-uri": document,
        "referrer": "",
        "violated-directive": directive,
        "effective-directive": directive,
        "original-policy": "default-src 'self'; report-uri /csp-report",
        "disposition": "enforce",
        "blocked-uri": blocked,
        "line-number": 12,
        "column-number": 49,
        "source-file": document,
        "status-code": 200,
        "script-sample": "",
    }})
}

/// One report of a Reporting API upload as Chromium 156 sends it.
fn reporting_api_report(document: &str, directive: &str, blocked: &str) -> Value {
    json!({
        "age": 1,
        "type": "csp-violation",
        "url": document,
        "user_agent": "Mozilla/5.0 HeadlessChrome/156.0.0.0",
        "body": {
            "blockedURL": blocked,
            "columnNumber": 49,
            "disposition": "enforce",
            "documentURL": document,
            "effectiveDirective": directive,
            "lineNumber": 3,
            "originalPolicy": "default-src 'self'; report-to csp",
            "referrer": "",
            "sample": "",
            "sourceFile": document,
            "statusCode": 200,
        },
    })
}

fn assert_plain(line: &Value) {
    for (name, value) in line.as_object().unwrap() {
        if let Some(text) = value.as_str() {
            assert!(!text.chars().any(sec_audit::needs_escape), "{name}: {text:?}");
            assert!(text.chars().count() <= 200, "{name}: {} characters", text.chars().count());
        }
    }
}

async fn csp_report_a_report_uri_report_is_logged_once_without_query_or_control_characters(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let canary = format!("canary{}", uuid::Uuid::new_v4().simple());
    let page = format!("{}/account/reset-password?token={canary}#f={canary}", app.address);
    let forged = "script-src-elem\n2026-01-01T00:00:00Z  INFO server: forged\u{1b}[31m\u{202e}x";
    let blocked = format!("https://user:{canary}@CDN.example:8443/lib.js?key={canary}");
    let id = request_id();
    let body = report_uri_report(&page, forged, &blocked).to_string();
    assert_accepted(post(&app, REPORT_URI, body, &id).await).await;

    let lines = violations(&id);
    assert_eq!(lines.len(), 1, "logged once: {lines:#?}");
    let line = &lines[0];
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["target"], "csp");
    assert_eq!(line["document"], "/account/reset-password");
    assert_eq!(line["directive"], "script-src-elem2026-01-01T00:00:00Z  INFO server: forged[31mx");
    assert_eq!(line["blocked"], "https://cdn.example:8443");
    assert_eq!(line["source"], format!("{}/account/reset-password", app.address).as_str());
    assert_eq!(line["line"], 12);
    assert_eq!(line["disposition"], "enforce");
    assert_plain(line);
    assert!(!crate::audit::captured_text().contains(&canary), "the token reached the log");
}

/// Of an upload, the `csp-violation` reports with a body are logged; other types (and a
/// violation without a body) are skipped.
async fn csp_report_a_reporting_api_upload_logs_its_violations_and_skips_other_types(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let page = format!("{}/account?session=s3cret", app.address);
    let long = format!("script-src-elem{}", "x".repeat(400));
    let upload = json!([
        { "type": "deprecation", "url": page, "body": { "id": "x", "message": "m", "lineNumber": null } },
        reporting_api_report(&page, &long, "eval"),
        { "type": "intervention", "body": { "id": "y" } },
        { "type": "csp-violation", "age": 2 },
        reporting_api_report(&page, "img-src", "data"),
    ]);
    let id = request_id();
    assert_accepted(post(&app, REPORTING_API, upload.to_string(), &id).await).await;

    let lines = violations(&id);
    assert_eq!(lines.len(), 2, "the two violations, once each: {lines:#?}");
    for line in &lines {
        assert_eq!(line["target"], "csp");
        assert_eq!(line["document"], "/account");
        assert_eq!(line["line"], 3);
        assert_plain(line);
    }
    let directive = lines[0]["directive"].as_str().unwrap();
    assert_eq!(directive.chars().count(), 200, "cut at 200 characters");
    assert!(directive.starts_with("script-src-elem"));
    assert_eq!(lines[0]["blocked"], "eval");
    assert_eq!(lines[1]["directive"], "img-src");
    assert_eq!(lines[1]["blocked"], "data");
}

async fn csp_report_at_most_twenty_reports_of_an_upload_are_looked_at(backend: Backend) {
    let app = spawn_app(backend).await;
    // 30 small ones, well within 8 KiB.
    let one = json!({ "type": "csp-violation", "body": { "effectiveDirective": "img-src" } });
    let upload = Value::Array(vec![one; 30]).to_string();
    assert!(upload.len() < 8 * 1024, "{} bytes", upload.len());
    let id = request_id();
    assert_accepted(post(&app, REPORTING_API, upload, &id).await).await;
    assert_eq!(violations(&id).len(), 20);
}

/// A `report-uri` body of exactly `len` bytes.
fn report_of_len(len: usize) -> String {
    let empty = json!({ "csp-report": { "script-sample": "" } }).to_string();
    let body = json!({ "csp-report": { "script-sample": "x".repeat(len - empty.len()) } });
    let body = body.to_string();
    assert_eq!(body.len(), len);
    body
}

async fn csp_report_a_body_over_8_kib_is_refused_with_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = request_id();
    assert_accepted(post(&app, REPORT_URI, report_of_len(8 * 1024), &id).await).await;
    assert_eq!(violations(&id).len(), 1, "exactly 8 KiB is read");

    let id = request_id();
    let response = post(&app, REPORT_URI, report_of_len(8 * 1024 + 1), &id).await;
    assert_error(response, 413, "payload_too_large").await;
    let reports = Value::Array(vec![reporting_api_report("/p", "img-src", "inline"); 40]);
    let response = post(&app, REPORTING_API, reports.to_string(), &id).await;
    assert_error(response, 413, "payload_too_large").await;
    assert!(violations(&id).is_empty());
}

async fn csp_report_another_media_type_is_refused_with_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = report_uri_report("/p", "img-src", "inline").to_string();
    let id = request_id();
    for content_type in ["application/json", "text/plain", "application/x-www-form-urlencoded"] {
        let response = post(&app, content_type, body.clone(), &id).await;
        assert_error(response, 415, "unsupported_media_type").await;
    }
    let response = app
        .client
        .post(app.url("/csp-report"))
        .header("x-request-id", &id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
    assert!(violations(&id).is_empty());
}

async fn csp_report_malformed_json_is_refused_with_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = request_id();
    let refused = [
        (REPORT_URI, "{\"csp-report\": {\"document-uri\": "),
        (REPORT_URI, "{\"csp-report\": 5}"),
        (REPORT_URI, "[]"),
        (REPORTING_API, "[{\"type\": \"csp-violation\", \"body\": "),
        (REPORTING_API, "{\"type\": \"csp-violation\", \"body\": {}}"),
        (REPORTING_API, "[{\"body\": {}}]"),
        (REPORTING_API, "[{\"type\": \"csp-violation\", \"body\": {\"lineNumber\": \"12\"}}]"),
    ];
    for (content_type, body) in refused {
        let response = post(&app, content_type, body.to_owned(), &id).await;
        assert_error(response, 400, "invalid_json").await;
    }
    assert!(violations(&id).is_empty());
}

async fn csp_report_past_its_budget_is_429_and_nothing_is_logged(backend: Backend) {
    let settings = [
        ("APP__RATE_LIMIT__CSP_REPORT_PER_SECOND", "1"),
        ("APP__RATE_LIMIT__CSP_REPORT_BURST", "3"),
    ];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let body = report_uri_report("/p", "img-src", "inline").to_string();
    let mut accepted = Vec::new();
    let mut limited = None;
    // Bounded: at one refill a second, 20 quick reports cannot all fit in a bucket of 3.
    for _ in 0..20 {
        let id = request_id();
        let response = post(&app, REPORT_URI, body.clone(), &id).await;
        if response.status().as_u16() == 429 {
            limited = Some((id, response));
            break;
        }
        assert_accepted(response).await;
        accepted.push(id);
    }
    assert!(accepted.len() >= 3, "the burst is read");
    let (id, response) = limited.unwrap_or_else(|| panic!("no 429 in {} reports", accepted.len()));
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry_after, 1);
    assert_error(response, 429, "too_many_requests").await;
    assert!(violations(&id).is_empty(), "a refused report is not logged");
    for id in &accepted {
        assert_eq!(violations(id).len(), 1, "each report read is logged");
    }
    // The bucket is the reports' own: other routes still answer.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

async fn csp_report_reports_of_our_own_pages_pass_with_the_session_cookie_as_chromium_sends_them(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "reporter").await;
    let cookie = format!("__Host-session={token}");
    let page = format!("{}/account", app.address);
    let send = |content_type: &str, body: String, id: &str, headers: &[(&str, &str)]| {
        let mut request = bare_client()
            .post(app.url("/csp-report"))
            .header("content-type", content_type)
            .header("x-request-id", id)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    // `report-uri`: Chromium sends the cookie with Fetch Metadata and Origin (and no Referer
    // under our `Referrer-Policy: no-referrer`).
    let id = request_id();
    let body = report_uri_report(&page, "script-src-elem", "inline").to_string();
    let headers = [
        ("cookie", cookie.as_str()),
        ("origin", app.address.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-dest", "report"),
    ];
    let response = send(REPORT_URI, body, &id, &headers).await.unwrap();
    assert!(response.headers().get("set-cookie").is_none(), "no cookie is read or set");
    assert_accepted(response).await;
    assert_eq!(violations(&id).len(), 1);

    // The Reporting API: the cookie and Origin, no Fetch Metadata.
    let id = request_id();
    let upload = json!([reporting_api_report(&page, "img-src", "https://cdn.example/a.png")]);
    let headers = [("cookie", cookie.as_str()), ("origin", app.address.as_str())];
    let response = send(REPORTING_API, upload.to_string(), &id, &headers).await.unwrap();
    assert!(response.headers().get("set-cookie").is_none(), "no cookie is read or set");
    assert_accepted(response).await;
    assert_eq!(violations(&id).len(), 1);

    // Another site's page: the browser does not attach the SameSite=Lax cookie, and the report
    // is read like any other...
    let id = request_id();
    let body = report_uri_report("https://elsewhere.example/", "img-src", "inline").to_string();
    let headers = [("origin", "https://elsewhere.example"), ("sec-fetch-site", "cross-site")];
    assert_accepted(send(REPORT_URI, body.clone(), &id, &headers).await.unwrap()).await;
    assert_eq!(violations(&id).len(), 1);
    // ...and one that came with the cookie from another site is refused, as every cross-site
    // state change with it is: the endpoint has no exemption from the CSRF check.
    let id = request_id();
    let headers = [
        ("cookie", cookie.as_str()),
        ("origin", "https://elsewhere.example"),
        ("sec-fetch-site", "cross-site"),
    ];
    let response = send(REPORT_URI, body, &id, &headers).await.unwrap();
    assert_error(response, 403, "cross_site_request").await;
    assert!(violations(&id).is_empty());
}
