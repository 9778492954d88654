//! The CORS layer (`cors.*`): off by default; a listed origin may read answers and is answered
//! its preflight; any other origin gets no `Access-Control-*` header at all, and a refused
//! preflight says nothing of the list.
//!
//! CORS does not touch storage, so these cases run on SQLite only.

use reqwest::header::{HeaderMap, ORIGIN, VARY};
use reqwest::{Method, Response};

use crate::helpers::{Backend, Case, TestApp, spawn_app, spawn_app_configured};

pub fn cases() -> Vec<Case> {
    vec![
        Case::only(Backend::Sqlite, "cors_off_sends_no_access_control_header", |b| {
            Box::pin(cors_off_sends_no_access_control_header(b))
        }),
        Case::only(Backend::Sqlite, "cors_a_listed_origin_may_read_and_is_preflighted", |b| {
            Box::pin(cors_a_listed_origin_may_read_and_is_preflighted(b))
        }),
        Case::only(Backend::Sqlite, "cors_an_unlisted_origin_gets_no_access_control_header", |b| {
            Box::pin(cors_an_unlisted_origin_gets_no_access_control_header(b))
        }),
        Case::only(Backend::Sqlite, "cors_a_refused_preflight_reveals_nothing", |b| {
            Box::pin(cors_a_refused_preflight_reveals_nothing(b))
        }),
        Case::only(Backend::Sqlite, "cors_a_wildcard_allows_any_origin_without_credentials", |b| {
            Box::pin(cors_a_wildcard_allows_any_origin_without_credentials(b))
        }),
    ]
}

const LISTED: &str = "https://app.example";
const OTHER_LISTED: &str = "https://admin.example:8443";

/// Look-alikes of the listed origins that must not match: another scheme, port, sub- or
/// super-domain, a suffix, a path, letter case of a different host, and the opaque `null`.
const UNLISTED: [&str; 9] = [
    "https://evil.example",
    "http://app.example",
    "https://app.example:444",
    "https://x.app.example",
    "https://app.example.evil.example",
    "https://eviapp.example",
    "https://admin.example",
    "null",
    "https://app.exampl",
];

async fn with_list(backend: Backend) -> TestApp {
    let origins = format!("{LISTED},{OTHER_LISTED}");
    let vars = [
        ("APP__CORS__ALLOWED_ORIGINS", origins.as_str()),
        ("APP__CORS__ALLOW_CREDENTIALS", "true"),
        ("APP__CORS__MAX_AGE_SECS", "300"),
    ];
    spawn_app_configured(backend, &vars, |_| {}).await
}

fn access_control(headers: &HeaderMap) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect()
}

fn header(response: &Response, name: &str) -> String {
    let value = response.headers().get(name);
    value.unwrap_or_else(|| panic!("no {name}")).to_str().unwrap().to_owned()
}

fn varies_by_origin(response: &Response) -> bool {
    response
        .headers()
        .get_all(VARY)
        .iter()
        .any(|v| v.to_str().unwrap().split(',').any(|n| n.trim().eq_ignore_ascii_case("origin")))
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_ascii_lowercase()).collect()
}

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/v1/me/password"))
        .header(ORIGIN, origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

async fn cors_off_sends_no_access_control_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/healthz")).header(ORIGIN, LISTED).send().await;
    let response = response.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(access_control(response.headers()), Vec::<String>::new());
    // A preflight is an ordinary OPTIONS request then: the route has no OPTIONS.
    let response = preflight(&app, LISTED, "PUT", "content-type").await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(access_control(response.headers()), Vec::<String>::new());
}

async fn cors_a_listed_origin_may_read_and_is_preflighted(backend: Backend) {
    let app = with_list(backend).await;
    for origin in [LISTED, OTHER_LISTED] {
        let response = preflight(&app, origin, "PUT", "content-type, x-request-id").await;
        assert!(response.status().is_success(), "{origin}: {}", response.status());
        assert_eq!(header(&response, "access-control-allow-origin"), origin);
        assert_eq!(header(&response, "access-control-allow-credentials"), "true");
        assert_eq!(header(&response, "access-control-max-age"), "300");
        let methods = list(&header(&response, "access-control-allow-methods"));
        for m in ["get", "head", "post", "put", "patch", "delete"] {
            assert!(methods.contains(&m.to_owned()), "{methods:?}");
        }
        let headers = list(&header(&response, "access-control-allow-headers"));
        for h in ["authorization", "content-type", "x-request-id"] {
            assert!(headers.contains(&h.to_owned()), "{headers:?}");
        }
        assert!(varies_by_origin(&response), "{origin}: preflight without Vary: Origin");

        let response = app.client.get(app.url("/healthz")).header(ORIGIN, origin).send().await;
        let response = response.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(header(&response, "access-control-allow-origin"), origin);
        assert_eq!(header(&response, "access-control-allow-credentials"), "true");
        let exposed = list(&header(&response, "access-control-expose-headers"));
        assert!(exposed.contains(&"x-request-id".to_owned()), "{exposed:?}");
        assert!(exposed.contains(&"retry-after".to_owned()), "{exposed:?}");
        assert!(varies_by_origin(&response), "{origin}: answer without Vary: Origin");

        // Error answers carry the headers too, so the page can read the code.
        let response = app.client.get(app.url("/no/such/path")).header(ORIGIN, origin).send();
        let response = response.await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        assert_eq!(header(&response, "access-control-allow-origin"), origin);
    }
}

/// An origin off the list, or no origin at all, is served as if CORS were off: not a single
/// `Access-Control-*` header (no `Allow-Credentials`, no `Expose-Headers` either), only
/// `Vary: Origin` so that a cache does not hand it a listed origin's answer.
async fn cors_an_unlisted_origin_gets_no_access_control_header(backend: Backend) {
    let app = with_list(backend).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(access_control(response.headers()), Vec::<String>::new(), "without Origin");
    assert!(varies_by_origin(&response), "without Origin: no Vary: Origin");
    for origin in UNLISTED {
        for path in ["/healthz", "/no/such/path"] {
            let response = app.client.get(app.url(path)).header(ORIGIN, origin).send().await;
            let response = response.unwrap();
            assert_eq!(access_control(response.headers()), Vec::<String>::new(), "{origin}");
            assert!(varies_by_origin(&response), "{origin} {path}: no Vary: Origin");
        }
    }
}

/// A preflight from an unlisted origin, or from a listed one asking for a method or header
/// that is not allowed, is refused with the JSON 400 `bad_request` and no `Access-Control-*`
/// header: nothing in it names a listed origin, method or header.
async fn cors_a_refused_preflight_reveals_nothing(backend: Backend) {
    let app = with_list(backend).await;
    let mut refusals = Vec::new();
    for origin in UNLISTED {
        refusals.push((origin, "PUT", "content-type"));
    }
    refusals.push((LISTED, "TRACE", "content-type"));
    refusals.push((LISTED, "PUT", "x-secret-header"));
    refusals.push((LISTED, "PUT", "cookie"));
    for (origin, method, headers) in refusals {
        let what = format!("{origin} {method} {headers}");
        let response = preflight(&app, origin, method, headers).await;
        assert_eq!(response.status().as_u16(), 400, "{what}");
        assert_eq!(access_control(response.headers()), Vec::<String>::new(), "{what}");
        let all_headers = format!("{:?}", response.headers()).to_ascii_lowercase();
        let body = response.text().await.unwrap();
        for secret in ["app.example", "admin.example", "patch", "x-request-id", "authorization"] {
            assert!(!body.to_ascii_lowercase().contains(secret), "{what}: {body}");
            if secret.contains('.') {
                assert!(!all_headers.contains(secret), "{what}: {all_headers}");
            }
        }
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "bad_request", "{what}");
    }
}

async fn cors_a_wildcard_allows_any_origin_without_credentials(backend: Backend) {
    let vars = [("APP__CORS__ALLOWED_ORIGINS", "*")];
    let app = spawn_app_configured(backend, &vars, |_| {}).await;
    for origin in ["https://any.example", "null"] {
        let response = preflight(&app, origin, "POST", "content-type").await;
        assert!(response.status().is_success(), "{origin}: {}", response.status());
        assert_eq!(header(&response, "access-control-allow-origin"), "*");
        assert!(response.headers().get("access-control-allow-credentials").is_none());
        let response = app.client.get(app.url("/healthz")).header(ORIGIN, origin).send().await;
        let response = response.unwrap();
        assert_eq!(header(&response, "access-control-allow-origin"), "*");
        assert!(response.headers().get("access-control-allow-credentials").is_none());
    }
}
