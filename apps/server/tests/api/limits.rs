//! Request limits: oversized and hostile bodies, long URLs, too many headers and a slow-loris
//! client each get a 4xx (or a closed connection), never a 500 or a stuck worker.

use std::time::Duration;

use std::io::{ErrorKind, Read, Write};

use actix_web::{HttpResponse, web};

use crate::helpers::{Backend, TestApp, assert_error, cases, spawn_app, spawn_app_configured};

cases![
    a_65_kib_json_or_form_body_is_refused_with_413,
    deeply_nested_json_is_a_400_not_a_crash,
    invalid_utf8_and_wrong_content_types_are_4xx_with_a_code,
    a_url_over_8_kib_is_refused_with_414,
    a_request_head_with_too_many_headers_is_refused_by_actix,
    a_slow_request_head_is_cut_off_by_the_client_request_timeout,
    a_slow_request_body_is_cut_off_with_408_and_the_connection_closed,
    connections_over_the_per_address_cap_are_closed_while_another_address_is_served,
];

#[derive(serde::Deserialize)]
struct Form {
    #[allow(dead_code, reason = "only parsed")]
    text: String,
}

async fn app_with_bodies(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_configured(backend, settings, |cfg| {
        cfg.route(
            "/test/echo",
            web::post().to(|body: web::Json<serde_json::Value>| async move {
                HttpResponse::Ok().json(body.into_inner())
            }),
        )
        .route(
            "/test/form",
            web::post().to(|_: web::Form<Form>| async { HttpResponse::Ok().finish() }),
        );
    })
    .await
}

async fn post(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn a_65_kib_json_or_form_body_is_refused_with_413(backend: Backend) {
    let app = app_with_bodies(backend, &[]).await;
    let json = format!("{{\"a\":\"{}\"}}", "x".repeat(65 * 1024)).into_bytes();
    assert_error(
        post(&app, "/test/echo", "application/json", json).await,
        413,
        "payload_too_large",
    )
    .await;
    let form = format!("text={}", "x".repeat(65 * 1024)).into_bytes();
    let response = post(&app, "/test/form", "application/x-www-form-urlencoded", form).await;
    assert_error(response, 413, "payload_too_large").await;
    let response =
        post(&app, "/test/form", "application/x-www-form-urlencoded", b"text=ok".to_vec()).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn deeply_nested_json_is_a_400_not_a_crash(backend: Backend) {
    let app = app_with_bodies(backend, &[]).await;
    // serde_json stops at 128 levels; 60 000 levels fit in the 64 KiB cap.
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let response = post(&app, "/test/echo", "application/json", nested(30_000)).await;
    assert_error(response, 400, "invalid_json").await;
    let response =
        post(&app, "/test/echo", "application/json", "[".repeat(60_000).into_bytes()).await;
    assert_error(response, 400, "invalid_json").await;
    // 100 000 levels are over the body cap before any parsing.
    let response = post(&app, "/test/echo", "application/json", nested(100_000)).await;
    assert_error(response, 413, "payload_too_large").await;
    // Just under the recursion limit is fine, and the worker is still serving.
    let response = post(&app, "/test/echo", "application/json", nested(100)).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

async fn invalid_utf8_and_wrong_content_types_are_4xx_with_a_code(backend: Backend) {
    let app = app_with_bodies(backend, &[]).await;
    let response =
        post(&app, "/test/echo", "application/json", b"{\"a\": \"\xff\xfe\"}".to_vec()).await;
    assert_error(response, 400, "invalid_json").await;
    let response = post(&app, "/test/echo", "application/json", b"\xef\xbb\xbf{}".to_vec()).await;
    assert_error(response, 400, "invalid_json").await;
    let response = post(&app, "/test/echo", "text/plain", b"{}".to_vec()).await;
    assert_error(response, 415, "unsupported_media_type").await;
    let response = post(&app, "/test/form", "application/json", b"{}".to_vec()).await;
    assert_error(response, 415, "unsupported_media_type").await;
    // Form bodies are decoded as the WHATWG URL standard says: invalid UTF-8 becomes U+FFFD.
    // Not an error, and above all not a 500.
    let response =
        post(&app, "/test/form", "application/x-www-form-urlencoded", b"text=%ff%fe\xff".to_vec())
            .await;
    assert_eq!(response.status().as_u16(), 200);
    let response =
        post(&app, "/test/form", "application/x-www-form-urlencoded", b"nope".to_vec()).await;
    assert_error(response, 400, "bad_request").await;
}

async fn a_url_over_8_kib_is_refused_with_414(backend: Backend) {
    let app = spawn_app(backend).await;
    // "/healthz?" is 9 bytes.
    let at_limit = format!("/healthz?{}", "q".repeat(8192 - 9));
    assert_eq!(app.get(&at_limit).await.status().as_u16(), 200);
    let over = format!("/healthz?{}", "q".repeat(8192 - 8));
    assert_error(app.get(&over).await, 414, "uri_too_long").await;
    let long_path = format!("/{}", "p".repeat(20_000));
    assert_error(app.get(&long_path).await, 414, "uri_too_long").await;
}

async fn a_request_head_with_too_many_headers_is_refused_by_actix(backend: Backend) {
    let app = spawn_app(backend).await;
    // actix-http parses at most 96 headers; the answer comes from below the application, so
    // it is a bare 431 and the connection is closed.
    let mut request = app.client.get(app.url("/healthz"));
    for i in 0..100 {
        request = request.header(format!("x-filler-{i}"), "1");
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 431);
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

async fn a_slow_request_head_is_cut_off_by_the_client_request_timeout(backend: Backend) {
    let settings = [("APP__LIMITS__CLIENT_REQUEST_TIMEOUT_MS", "500")];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let port = app.port;
    let answer = actix_web::rt::task::spawn_blocking(move || slow_loris(port)).await.unwrap();
    let answer = answer.expect("the server closed the slow connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer:?}");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

/// A slow-loris client: a request line, then one header every 100 ms, never the blank line
/// that ends the head. The pauses are the attack, not synchronisation; it is bounded (300
/// headers, 30 s) and stops when the server closes the connection. Returns what the server
/// sent before closing, or the read error (a 60 s read timeout: the server never closed).
fn slow_loris(port: u16) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let trickle = std::thread::spawn(move || {
        if writer.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").is_err() {
            return;
        }
        for i in 0..300 {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = trickle.join();
    read.map(|_| String::from_utf8_lossy(&answer).into_owned())
}

async fn a_slow_request_body_is_cut_off_with_408_and_the_connection_closed(backend: Backend) {
    let settings = [("APP__LIMITS__BODY_READ_TIMEOUT_MS", "500")];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let port = app.port;
    let answer = actix_web::rt::task::spawn_blocking(move || slow_body(port)).await.unwrap();
    let answer = answer.expect("the server answered and closed the slow connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer:?}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(body).expect("the JSON error body");
    assert_eq!(body["error"], "request_timeout", "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

/// A slow-body client: a complete head announcing 4 KiB of JSON, then one byte every 100 ms.
/// The pauses are the attack, not synchronisation; it is bounded (300 bytes, 30 s) and stops
/// when the server closes the connection. Returns what the server sent before closing, or the
/// read error (a 60 s read timeout: the server never closed).
fn slow_body(port: u16) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let trickle = std::thread::spawn(move || {
        let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n\
                    Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n{";
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        for _ in 0..300 {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(b" ").is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = trickle.join();
    read.map(|_| String::from_utf8_lossy(&answer).into_owned())
}

async fn connections_over_the_per_address_cap_are_closed_while_another_address_is_served(
    backend: Backend,
) {
    let settings = [
        ("APP__LIMITS__MAX_CONNECTIONS_PER_ADDRESS", "2"),
        // The held connections must stay open for the whole case.
        ("APP__LIMITS__KEEP_ALIVE_SECS", "600"),
    ];
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    let port = app.port;
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        // Two connections from 127.0.0.1, each proven open by an answered request.
        let held: Vec<_> = (0..2)
            .map(|_| {
                let (stream, answer) = healthz_on_new_connection("127.0.0.1", port);
                assert!(answer.starts_with("HTTP/1.1 200"), "within the cap: {answer:?}");
                stream
            })
            .collect();
        // A third from the same address is closed without an answer...
        let (_, refused) = healthz_on_new_connection("127.0.0.1", port);
        // ...while another address is served.
        let (_, other) = healthz_on_new_connection("127.0.0.2", port);
        drop(held);
        (refused, other)
    })
    .await
    .unwrap();
    let (refused, other) = outcome;
    assert_eq!(refused, "", "over the cap: closed before any answer");
    assert!(other.starts_with("HTTP/1.1 200"), "another address: {other:?}");
}

/// Opens a connection from `local_ip`, sends `GET /healthz` (keep-alive) and reads until the
/// answer's end (`Content-Length`) or the connection's: returns the open stream and what was
/// read ("" when the server closed or reset the connection without answering).
fn healthz_on_new_connection(local_ip: &str, port: u16) -> (std::net::TcpStream, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{local_ip}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let server: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&server.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The write may fail on a connection the server has already shut down.
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server neither answered nor closed the connection")
            }
            // Reset: closed without an answer.
            Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if length.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    (stream, String::from_utf8_lossy(&answer).into_owned())
}
