//! HTTPS served by the server itself: TLS 1.3 and 1.2 clients get through, a TLS 1.1 client is
//! refused; the redirect listener answers only 308s to HTTPS; the URL says https.
//!
//! The clients are synchronous (rustls and OpenSSL over std sockets) and run on the blocking
//! pool, so that the test chooses the exact protocol versions.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sec_config::DevCertificate;

use crate::helpers::{Backend, TestApp, cases, spawn_app_configured};

cases![
    tls_13_and_tls_12_clients_get_healthz_with_hsts,
    a_tls_11_client_is_refused,
    the_redirect_listener_answers_only_308_to_https,
    the_redirect_listener_never_sends_clients_to_a_host_they_named,
];

/// A development certificate (what `server dev-cert` writes) and an app serving it.
async fn tls_app(backend: Backend, redirect: bool) -> (TestApp, DevCertificate, tempfile::TempDir) {
    tls_app_with(backend, redirect, &[]).await
}

/// [`tls_app`] with extra settings.
async fn tls_app_with(
    backend: Backend,
    redirect: bool,
    extra: &[(&str, &str)],
) -> (TestApp, DevCertificate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cert = DevCertificate::create(&dir.path().join("tls"), false).unwrap();
    let (cert_file, key_file) =
        (cert.cert_file().display().to_string(), cert.key_file().display().to_string());
    let mut settings =
        vec![("APP__TLS__CERT_FILE", cert_file.as_str()), ("APP__TLS__KEY_FILE", &key_file)];
    if redirect {
        settings.push(("APP__TLS__REDIRECT_HTTP_BIND", "127.0.0.1:0"));
    }
    settings.extend_from_slice(extra);
    let app = spawn_app_configured(backend, &settings, |_| {}).await;
    (app, cert, dir)
}

/// GET `/healthz` over TLS with only `version` enabled, trusting `cert_file`; returns the
/// negotiated version and the raw response.
fn get_over_rustls(
    port: u16,
    cert_file: &Path,
    version: &'static rustls::SupportedProtocolVersion,
) -> (Option<rustls::ProtocolVersion>, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // The Host is a real name so that the answer carries HSTS (never sent for localhost).
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    // rustls reports the peer closing without close_notify as an error after the data; the
    // response has been read by then.
    let _ = tls.read_to_end(&mut response);
    (tls.conn.protocol_version(), String::from_utf8_lossy(&response).into_owned())
}

async fn tls_13_and_tls_12_clients_get_healthz_with_hsts(backend: Backend) {
    let (app, cert, _dir) = tls_app(backend, false).await;
    assert!(app.address.starts_with("https://"), "{}", app.address);
    for (version, want) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let (port, file) = (app.port, cert.cert_file().to_path_buf());
        let (negotiated, response) =
            actix_web::rt::task::spawn_blocking(move || get_over_rustls(port, &file, version))
                .await
                .unwrap();
        assert_eq!(negotiated, Some(want));
        assert!(response.starts_with("HTTP/1.1 200"), "{want:?}: {response}");
        assert!(response.contains("{\"status\":\"ok\"}"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains("strict-transport-security: max-age=63072000; includesubdomains"),
            "{response}"
        );
    }
}

/// Handshakes with OpenSSL allowing TLS 1.0 up to `max`; the error text when it fails.
fn openssl_handshake(port: u16, max: openssl::ssl::SslVersion) -> Result<(), String> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    builder.set_min_proto_version(Some(SslVersion::TLS1)).map_err(|e| e.to_string())?;
    builder.set_max_proto_version(Some(max)).map_err(|e| e.to_string())?;
    // OpenSSL 3 disables TLS 1.0/1.1 at its default security level; level 0 makes this client
    // really offer them, so that the refusal has to come from the server.
    builder.set_cipher_list("DEFAULT:@SECLEVEL=0").map_err(|e| e.to_string())?;
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    connector.connect("localhost", sock).map(|_| ()).map_err(|e| format!("{e:?}"))
}

async fn a_tls_11_client_is_refused(backend: Backend) {
    let (app, _cert, _dir) = tls_app(backend, false).await;
    let port = app.port;
    let refused = actix_web::rt::task::spawn_blocking(move || {
        openssl_handshake(port, openssl::ssl::SslVersion::TLS1_1)
    })
    .await
    .unwrap();
    let err = refused.expect_err("a TLS 1.1 handshake must fail");
    // The refusal is an alert the server sent (rustls answers a client that offers nothing
    // newer than TLS 1.1 with a handshake_failure alert), not a client-side problem.
    assert!(err.contains("SSL alert number"), "{err}");
    // The same client allowed TLS 1.2 gets through: the refusal is about the version.
    let control = actix_web::rt::task::spawn_blocking(move || {
        openssl_handshake(port, openssl::ssl::SslVersion::TLS1_2)
    })
    .await
    .unwrap();
    assert_eq!(control, Ok(()));
}

async fn the_redirect_listener_answers_only_308_to_https(backend: Backend) {
    let (app, _cert, _dir) = tls_app(backend, true).await;
    let redirect_port = app.redirect_port.expect("redirect listener");
    let plain = |path: &str| format!("http://127.0.0.1:{redirect_port}{path}");
    let response = app.client.get(plain("/healthz?x=1")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/healthz?x=1", app.port).as_str()
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(!response.headers().contains_key("strict-transport-security"), "not over HTTP");
    // Every method and path, existing or not: only redirects.
    for (method, path) in [("POST", "/anything"), ("DELETE", "/readyz")] {
        let response =
            app.client.request(method.parse().unwrap(), plain(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 308, "{method} {path}");
        assert_eq!(
            response.headers()["location"],
            format!("https://127.0.0.1:{}{path}", app.port).as_str()
        );
    }
}

/// The `Host` header of a plain-HTTP request is the attacker's to choose (and a cache or a
/// proxy in between may keep the answer): reflecting it into `Location` is an open redirect.
async fn the_redirect_listener_never_sends_clients_to_a_host_they_named(backend: Backend) {
    let (app, _cert, _dir) = tls_app(backend, true).await;
    let redirect_port = app.redirect_port.expect("redirect listener");
    let url = format!("http://127.0.0.1:{redirect_port}/login?next=1");
    for hostile in
        ["evil.example", "evil.example:443", "localhost.evil.example", "127.0.0.1.nip.io"]
    {
        let response = app.client.get(&url).header("host", hostile).send().await.unwrap();
        assert!(!response.headers().contains_key("location"), "{hostile}: {response:?}");
        assert_eq!(response.status().as_u16(), 400, "{hostile}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{hostile}: {body}");
    }
    // A loopback name is this machine: a developer typing http://localhost still gets there.
    let response = app.client.get(&url).header("host", "localhost").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://localhost:{}/login?next=1", app.port).as_str()
    );

    // With public_origin, every request goes there, whatever Host it names.
    let (app, _cert, _dir) =
        tls_app_with(backend, true, &[("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com")])
            .await;
    let redirect_port = app.redirect_port.expect("redirect listener");
    let url = format!("http://127.0.0.1:{redirect_port}/login?next=1");
    for host in ["evil.example", "localhost", "app.example.com"] {
        let response = app.client.get(&url).header("host", host).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 308, "{host}");
        assert_eq!(response.headers()["location"], "https://app.example.com/login?next=1");
    }
}
