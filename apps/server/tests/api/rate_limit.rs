//! Per-IP rate limits: 429 with `Retry-After` and the JSON error body; forwarding headers move a
//! client to another bucket only when the peer is a trusted proxy.
//!
//! The same cases run against both implementations: the default build (governor directly) and
//! `--features actix-governor` (the opt-in middleware); CI runs this module both ways,
//! selecting it by the `rate_limit_` prefix every case name here carries.
//!
//! The authentication bucket (per minute) is used where a test needs an exact count: nothing
//! refills it during a test. The general bucket refills every second, so its test only asserts
//! that a quick run of requests meets a 429, not when.

use actix_web::{HttpResponse, web};

use crate::helpers::{Backend, TestApp, assert_error, cases, spawn_app_configured};

cases![
    rate_limit_a_burst_over_the_auth_bucket_gets_429_with_retry_after_and_the_error_body,
    rate_limit_an_encoded_spelling_of_an_auth_path_counts_against_the_auth_bucket,
    rate_limit_the_general_bucket_applies_to_every_route,
    rate_limit_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_bucket,
    rate_limit_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket,
    rate_limit_csp_reports_have_a_bucket_of_their_own,
    rate_limit_can_be_switched_off,
];

const PROBE: &str = "/api/v1/auth/probe";

/// An app with an auth route and an auth bucket of `burst` requests that refills one a minute.
async fn app(backend: Backend, burst: u32, extra: &[(&str, &str)]) -> TestApp {
    let burst = burst.to_string();
    let mut settings =
        vec![("APP__RATE_LIMIT__AUTH_PER_MINUTE", "1"), ("APP__RATE_LIMIT__AUTH_BURST", &burst)];
    settings.extend_from_slice(extra);
    spawn_app_configured(backend, &settings, |cfg| {
        cfg.route(PROBE, web::get().to(|| async { HttpResponse::Ok().body("probe") }));
    })
    .await
}

async fn probe(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(PROBE));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

async fn assert_limited(response: reqwest::Response, max_wait_secs: u64) {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=max_wait_secs).contains(&retry_after), "Retry-After: {retry_after}");
    assert_error(response, 429, "too_many_requests").await;
}

async fn rate_limit_a_burst_over_the_auth_bucket_gets_429_with_retry_after_and_the_error_body(
    backend: Backend,
) {
    let app = app(backend, 3, &[]).await;
    for _ in 0..3 {
        assert_eq!(probe(&app, None).await.status().as_u16(), 200);
    }
    assert_limited(probe(&app, None).await, 60).await;
    // Other routes use the general bucket only, which is far from empty.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

async fn rate_limit_an_encoded_spelling_of_an_auth_path_counts_against_the_auth_bucket(
    backend: Backend,
) {
    let app = app(backend, 1, &[]).await;
    assert_eq!(probe(&app, None).await.status().as_u16(), 200);
    // `%61` is `a`: the router serves this as the auth route, so it must count as one.
    let response = app.get("/api/v1/%61uth/probe").await;
    assert_limited(response, 60).await;
}

async fn rate_limit_the_general_bucket_applies_to_every_route(backend: Backend) {
    let settings = [("APP__RATE_LIMIT__PER_SECOND", "1"), ("APP__RATE_LIMIT__BURST", "3")];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    // Bounded: 40 requests, stopping at the first 429; at one refill a second, 40 quick
    // requests cannot all fit in a bucket of 3.
    for _ in 0..40 {
        let response = app.get("/no/such/path").await;
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    assert_eq!(statuses[..3], [404, 404, 404], "the burst is served");
    let response = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert_limited(response, 1).await;
}

async fn rate_limit_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_bucket(
    backend: Backend,
) {
    // No trusted proxies (the default): the peer, 127.0.0.1, is the client.
    let app = app(backend, 2, &[]).await;
    assert_eq!(probe(&app, Some("203.0.113.1")).await.status().as_u16(), 200);
    assert_eq!(probe(&app, Some("203.0.113.2")).await.status().as_u16(), 200);
    assert_limited(probe(&app, Some("203.0.113.3")).await, 60).await;
    assert_limited(probe(&app, Some("198.51.100.9, 10.0.0.1")).await, 60).await;
}

async fn rate_limit_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
    backend: Backend,
) {
    let app = app(backend, 2, &[("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    assert_eq!(probe(&app, Some("203.0.113.1")).await.status().as_u16(), 200);
    assert_eq!(probe(&app, Some("203.0.113.1")).await.status().as_u16(), 200);
    assert_limited(probe(&app, Some("203.0.113.1")).await, 60).await;
    // Another client behind the same proxy is not affected.
    assert_eq!(probe(&app, Some("203.0.113.2")).await.status().as_u16(), 200);
    // The client cannot escape by writing its own entry first: the proxy appended the real
    // address on the right, and that is the one counted.
    assert_limited(probe(&app, Some("192.0.2.77, 203.0.113.1")).await, 60).await;
    // Without the header, the proxy itself is the client: its own bucket.
    assert_eq!(probe(&app, None).await.status().as_u16(), 200);
}

/// `/csp-report` has its own small bucket on top of the general one; past it, 429. (What is
/// logged then, nothing, is in `csp_report.rs`.)
async fn rate_limit_csp_reports_have_a_bucket_of_their_own(backend: Backend) {
    let settings = [
        ("APP__RATE_LIMIT__CSP_REPORT_PER_SECOND", "1"),
        ("APP__RATE_LIMIT__CSP_REPORT_BURST", "2"),
    ];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let report = || {
        app.client
            .post(app.url("/csp-report"))
            .header("content-type", "application/csp-report")
            .body(r#"{"csp-report": {"effective-directive": "img-src"}}"#)
            .send()
    };
    let mut statuses = Vec::new();
    let mut limited = None;
    // Bounded, as for the general bucket: 20 quick reports cannot all fit in a bucket of 2.
    for _ in 0..20 {
        let response = report().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    assert_eq!(statuses[..2], [204, 204], "the burst is served");
    assert_limited(limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}")), 1).await;
    // Other routes draw on the general bucket only.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

async fn rate_limit_can_be_switched_off(backend: Backend) {
    let app = app(backend, 1, &[("APP__RATE_LIMIT__ENABLED", "false")]).await;
    for _ in 0..4 {
        assert_eq!(probe(&app, None).await.status().as_u16(), 200);
    }
}
