//! Every error leaves as `{"error": code, "request_id": id}` with a matching `X-Request-Id`
//! header, whichever component produced it; request ids from clients are kept only when safe.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use server::routes::endpoints;

use crate::helpers::{Backend, TestApp, assert_error, cases, spawn_app, spawn_app_with};

cases![
    an_unknown_path_is_a_json_404_with_the_request_id,
    a_wrong_method_is_a_json_405_with_allow_on_every_path,
    a_safe_incoming_request_id_is_kept,
    an_unsafe_incoming_request_id_is_replaced,
    every_request_gets_its_own_id,
    malformed_json_is_a_400_without_parser_details,
    a_body_over_64_kib_is_refused_with_413,
    a_non_json_content_type_is_refused_with_415,
];

/// An app with `POST /test/echo` taking a JSON body, to exercise the body extractors.
async fn app_with_echo(backend: Backend) -> TestApp {
    spawn_app_with(backend, |cfg| {
        cfg.route(
            "/test/echo",
            web::post().to(|body: web::Json<serde_json::Value>| async move {
                HttpResponse::Ok().json(body.into_inner())
            }),
        );
    })
    .await
}

async fn an_unknown_path_is_a_json_404_with_the_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_error(app.get("/no/such/path").await, 404, "not_found").await;
}

/// Every path of the route table answers a method it does not have with 405
/// `method_not_allowed` and an `Allow` header naming exactly the methods it has
/// (RFC 9110 §15.5.6).
async fn a_wrong_method_is_a_json_405_with_allow_on_every_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let table = endpoints();
    let mut paths: Vec<&str> = table.iter().map(|e| e.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];
    for path in paths {
        let has: BTreeSet<&str> =
            table.iter().filter(|e| e.path == path).map(|e| e.method.as_str()).collect();
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let concrete = concrete.replace("{role}", "user");
        for method in methods.iter().filter(|m| !has.contains(*m)) {
            let what = format!("{method} {path}");
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = app.client.request(m, app.url(&concrete)).send().await.unwrap();
            let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            let allow = allow.unwrap_or_else(|| panic!("{what}: 405 without Allow"));
            let listed: BTreeSet<&str> = allow.split(',').map(str::trim).collect();
            assert_eq!(listed, has, "{what}: Allow: {allow}");
            if *method == "HEAD" {
                assert_eq!(response.status().as_u16(), 405, "{what}");
            } else {
                assert_error(response, 405, "method_not_allowed").await;
            }
        }
    }
}

async fn a_safe_incoming_request_id_is_kept(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = "lb-7f3a.9_c";
    let response =
        app.client.get(app.url("/missing")).header("X-Request-Id", id).send().await.unwrap();
    assert_eq!(assert_error(response, 404, "not_found").await, id);
}

async fn an_unsafe_incoming_request_id_is_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "a".repeat(65);
    for hostile in ["a b", "<script>alert(1)</script>", "x\"},{\"admin\":true", too_long.as_str()] {
        let response = app
            .client
            .get(app.url("/missing"))
            .header("X-Request-Id", hostile)
            .send()
            .await
            .unwrap();
        let id = assert_error(response, 404, "not_found").await;
        assert_ne!(id, hostile);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "replacement {id:?} is a fresh UUID");
    }
}

async fn every_request_gets_its_own_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let response = app.get("/healthz").await;
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(seen.insert(id), "request ids must not repeat");
    }
}

async fn malformed_json_is_a_400_without_parser_details(backend: Backend) {
    let app = app_with_echo(backend).await;
    let response = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "application/json")
        .body("{\"a\": tru")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_json").await;
}

async fn a_body_over_64_kib_is_refused_with_413(backend: Backend) {
    let app = app_with_echo(backend).await;
    let at_limit = format!("\"{}\"", "x".repeat(64 * 1024 - 2));
    let response = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "application/json")
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "exactly 64 KiB is accepted");

    let over = format!("\"{}\"", "x".repeat(64 * 1024));
    let response = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "application/json")
        .body(over)
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "payload_too_large").await;
}

async fn a_non_json_content_type_is_refused_with_415(backend: Backend) {
    let app = app_with_echo(backend).await;
    let response = app
        .client
        .post(app.url("/test/echo"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
}
