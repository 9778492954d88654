//! Security headers: every response carries them, errors of every kind included; the exact
//! set of one API response and one HTML page; HSTS only over HTTPS; no software names.

use actix_web::{HttpResponse, web};

use crate::helpers::{Backend, TestApp, cases, spawn_app, spawn_app_configured};

cases![
    every_kind_of_response_carries_the_security_headers,
    every_route_carries_the_security_headers,
    an_api_response_has_exactly_this_header_set,
    an_html_page_has_the_page_policy_and_exactly_this_header_set,
    over_https_a_page_reports_through_the_reporting_api_too,
    server_and_powered_by_headers_are_removed,
    a_handler_may_choose_its_own_cache_control_and_csp,
    hsts_is_sent_behind_a_tls_proxy_but_not_over_plain_http_or_for_localhost,
];

/// The headers every response carries whatever its status, with their values.
const COMMON: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-dns-prefetch-control", "off"),
];

const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
cross-origin-isolated=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), \
gyroscope=(), keyboard-map=(), magnetometer=(), microphone=(), midi=(), payment=(), \
picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(self), \
usb=(), web-share=(), xr-spatial-tracking=(), clipboard-read=(), clipboard-write=(), \
gamepad=(), hid=(), idle-detection=(), interest-cohort=(), serial=(), unload=()";

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const PAGE_CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'; report-uri /csp-report";

fn assert_security_headers(what: &str, response: &reqwest::Response) {
    let h = response.headers();
    for (name, value) in COMMON {
        assert_eq!(h.get(*name).map(|v| v.to_str().unwrap()), Some(*value), "{what}: {name}");
    }
    assert_eq!(h["permissions-policy"], PERMISSIONS_POLICY, "{what}");
    let html =
        h.get("content-type").is_some_and(|ct| ct.to_str().unwrap().starts_with("text/html"));
    let csp = if html { PAGE_CSP } else { API_CSP };
    assert_eq!(h["content-security-policy"], csp, "{what}");
    assert_eq!(h["cache-control"], "no-store", "{what}");
    assert!(!h.contains_key("server") && !h.contains_key("x-powered-by"), "{what}: {h:?}");
    assert!(h.contains_key("x-request-id"), "{what}");
}

/// An app with test routes for each kind of failure.
async fn app_with_failures(backend: Backend) -> TestApp {
    let settings =
        [("APP__RATE_LIMIT__AUTH_PER_MINUTE", "1"), ("APP__RATE_LIMIT__AUTH_BURST", "1")];
    spawn_app_configured(backend, &settings, |cfg| {
        cfg.route(
            "/test/echo",
            web::post().to(|body: web::Json<serde_json::Value>| async move {
                HttpResponse::Ok().json(body.into_inner())
            }),
        )
        .service(
            web::resource("/test/only-get")
                .route(web::get().to(|| async { HttpResponse::Ok().finish() })),
        )
        .route("/test/panic", web::get().to(|| async { panic_in_handler() }))
        .route("/api/v1/auth/probe", web::get().to(|| async { HttpResponse::Ok().finish() }));
    })
    .await
}

fn panic_in_handler() -> HttpResponse {
    panic!("deliberate panic for the headers test")
}

async fn every_kind_of_response_carries_the_security_headers(backend: Backend) {
    let app = app_with_failures(backend).await;
    let c = &app.client;
    let json_post = |body: String| {
        c.post(app.url("/test/echo")).header("content-type", "application/json").body(body)
    };
    let responses = [
        ("200", app.get("/healthz").await),
        ("404", app.get("/no/such/path").await),
        ("405", c.post(app.url("/test/only-get")).send().await.unwrap()),
        ("400", json_post("{".into()).send().await.unwrap()),
        ("413", json_post(format!("\"{}\"", "x".repeat(65 * 1024))).send().await.unwrap()),
        ("414", app.get(&format!("/healthz?{}", "q".repeat(9000))).await),
        ("415", c.post(app.url("/test/echo")).body("{}").send().await.unwrap()),
        ("500", app.get("/test/panic").await),
        (
            "403",
            c.post(app.url("/test/echo"))
                .header("cookie", "__Host-session=x")
                .header("sec-fetch-site", "cross-site")
                .send()
                .await
                .unwrap(),
        ),
        ("200 auth", app.get("/api/v1/auth/probe").await),
        ("429", app.get("/api/v1/auth/probe").await),
    ];
    for (what, response) in &responses {
        let status = response.status().as_u16().to_string();
        assert!(what.starts_with(&status), "{what}: got {status}");
        assert_security_headers(what, response);
    }
}

/// Every route of the table, called as a stranger would (no cookie, no body): whatever it
/// answers carries the set. Only the OpenAPI document and the static files (`/static/*`) choose
/// their own caching.
async fn every_route_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for e in server::routes::endpoints() {
        let path = e.path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let path = path.replace("{role}", "user");
        // The static files by the names the pages link them with.
        let path = if path == "/static/{file}" { stylesheet_of(&app).await } else { path };
        let method = reqwest::Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
        let response = app.client.request(method, app.url(&path)).send().await.unwrap();
        let what = format!("{} {} ({})", e.method, e.path, response.status());
        if e.path == "/api/openapi.json" || e.path.starts_with("/static/") {
            let h = response.headers();
            for (name, value) in COMMON {
                assert_eq!(h.get(*name).map(|v| v.to_str().unwrap()), Some(*value), "{what}");
            }
            assert_eq!(h["content-security-policy"], API_CSP, "{what}");
            assert!(h["cache-control"].to_str().unwrap().starts_with("public"), "{what}");
        } else {
            assert_security_headers(&what, &response);
        }
    }
}

/// The stylesheet's URL, as the home page links it.
async fn stylesheet_of(app: &TestApp) -> String {
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("href=\"/static/").unwrap() + 6;
    html[start..].split('"').next().unwrap().to_owned()
}

/// The response headers as sorted `name: value` lines, without the ones that vary (date,
/// length, the request id's value).
fn snapshot(response: &reqwest::Response) -> Vec<String> {
    let mut lines: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "content-length"))
        .map(|(name, value)| match name.as_str() {
            "x-request-id" => "x-request-id: <id>".to_owned(),
            _ => format!("{name}: {}", value.to_str().unwrap()),
        })
        .collect();
    lines.sort();
    lines
}

async fn an_api_response_has_exactly_this_header_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(
        snapshot(&response),
        [
            "cache-control: no-store".to_owned(),
            format!("content-security-policy: {API_CSP}"),
            "content-type: application/json".to_owned(),
            "cross-origin-opener-policy: same-origin".to_owned(),
            "cross-origin-resource-policy: same-origin".to_owned(),
            format!("permissions-policy: {PERMISSIONS_POLICY}"),
            "referrer-policy: no-referrer".to_owned(),
            "x-content-type-options: nosniff".to_owned(),
            "x-dns-prefetch-control: off".to_owned(),
            "x-frame-options: DENY".to_owned(),
            "x-permitted-cross-domain-policies: none".to_owned(),
            "x-request-id: <id>".to_owned(),
        ]
    );
}

async fn an_html_page_has_the_page_policy_and_exactly_this_header_set(backend: Backend) {
    let app = spawn_app_configured(backend, &[], |cfg| {
        cfg.route(
            "/test/page",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<!doctype html><title>t</title><p>page</p>")
            }),
        );
    })
    .await;
    let response = app.get("/test/page").await;
    assert_eq!(
        snapshot(&response),
        [
            "cache-control: no-store".to_owned(),
            format!("content-security-policy: {PAGE_CSP}"),
            "content-type: text/html; charset=utf-8".to_owned(),
            "cross-origin-opener-policy: same-origin".to_owned(),
            "cross-origin-resource-policy: same-origin".to_owned(),
            format!("permissions-policy: {PERMISSIONS_POLICY}"),
            "referrer-policy: no-referrer".to_owned(),
            "x-content-type-options: nosniff".to_owned(),
            "x-dns-prefetch-control: off".to_owned(),
            "x-frame-options: DENY".to_owned(),
            "x-permitted-cross-domain-policies: none".to_owned(),
            "x-request-id: <id>".to_owned(),
        ]
    );
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
}

/// Over HTTPS (here behind a TLS proxy) a page's policy also names the Reporting API endpoint
/// and the page says where it is (Chromium honours `Reporting-Endpoints` on HTTPS responses
/// only, and with `report-to` in a policy it no longer uses `report-uri`); a policy that does
/// not report to `/csp-report` is left as configured. API responses carry neither.
async fn over_https_a_page_reports_through_the_reporting_api_too(backend: Backend) {
    let page = |cfg: &mut actix_web::web::ServiceConfig| {
        cfg.route(
            "/test/page",
            web::get().to(|| async {
                HttpResponse::Ok().content_type("text/html; charset=utf-8").body("<p>page</p>")
            }),
        );
    };
    let settings = [("APP__SERVER__BEHIND_TLS_PROXY", "true")];
    let app = spawn_app_configured(backend, &settings, page).await;
    let response = app.get("/test/page").await;
    assert_eq!(
        snapshot(&response),
        [
            "cache-control: no-store".to_owned(),
            format!(
                "content-security-policy: {PAGE_CSP}; upgrade-insecure-requests; report-to csp"
            ),
            "content-type: text/html; charset=utf-8".to_owned(),
            "cross-origin-opener-policy: same-origin".to_owned(),
            "cross-origin-resource-policy: same-origin".to_owned(),
            format!("permissions-policy: {PERMISSIONS_POLICY}"),
            "referrer-policy: no-referrer".to_owned(),
            "reporting-endpoints: csp=\"/csp-report\"".to_owned(),
            "x-content-type-options: nosniff".to_owned(),
            "x-dns-prefetch-control: off".to_owned(),
            "x-frame-options: DENY".to_owned(),
            "x-permitted-cross-domain-policies: none".to_owned(),
            "x-request-id: <id>".to_owned(),
        ]
    );
    let api = app.get("/healthz").await;
    assert_eq!(api.headers()["content-security-policy"], API_CSP);
    assert!(!api.headers().contains_key("reporting-endpoints"));

    let own = "default-src 'self'; img-src 'self' data:";
    let settings = [("APP__SERVER__BEHIND_TLS_PROXY", "true"), ("APP__HEADERS__PAGE_CSP", own)];
    let app = spawn_app_configured(backend, &settings, page).await;
    let response = app.get("/test/page").await;
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, format!("{own}; upgrade-insecure-requests"));
    assert!(!response.headers().contains_key("reporting-endpoints"));
}

async fn server_and_powered_by_headers_are_removed(backend: Backend) {
    let app = spawn_app_configured(backend, &[], |cfg| {
        cfg.route(
            "/test/leaky",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .insert_header(("Server", "Apache/2.4.1 (Unix)"))
                    .insert_header(("X-Powered-By", "PHP/8.1"))
                    .insert_header(("X-AspNet-Version", "4.0.30319"))
                    .finish()
            }),
        );
    })
    .await;
    let response = app.get("/test/leaky").await;
    for name in ["server", "x-powered-by", "x-aspnet-version"] {
        assert!(!response.headers().contains_key(name), "{name} leaked");
    }
    assert_security_headers("leaky handler", &response);
}

async fn a_handler_may_choose_its_own_cache_control_and_csp(backend: Backend) {
    let app = spawn_app_configured(backend, &[], |cfg| {
        cfg.route(
            "/test/public",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .insert_header(("Cache-Control", "public, max-age=60"))
                    .insert_header((
                        "Content-Security-Policy",
                        "default-src 'none'; img-src 'self'",
                    ))
                    .body("x")
            }),
        );
    })
    .await;
    let response = app.get("/test/public").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    assert_eq!(response.headers()["content-security-policy"], "default-src 'none'; img-src 'self'");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}

async fn hsts_is_sent_behind_a_tls_proxy_but_not_over_plain_http_or_for_localhost(
    backend: Backend,
) {
    let plain = spawn_app(backend).await;
    let response = plain
        .client
        .get(plain.url("/healthz"))
        .header("host", "app.example.com")
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("strict-transport-security"), "plain HTTP");

    let settings = [("APP__SERVER__BEHIND_TLS_PROXY", "true")];
    let proxied = spawn_app_configured(backend, &settings, |_| {}).await;
    let get = |host: &'static str| {
        proxied.client.get(proxied.url("/healthz")).header("host", host).send()
    };
    let response = get("app.example.com").await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    for host in ["localhost:8443", "127.0.0.1", "dev.localhost"] {
        let response = get(host).await.unwrap();
        assert!(!response.headers().contains_key("strict-transport-security"), "{host}");
    }
    // Errors carry it too.
    let response = proxied
        .client
        .get(proxied.url("/missing"))
        .header("host", "app.example.com")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("strict-transport-security"));
}
