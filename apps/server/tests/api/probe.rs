//! `server probe`, the container health check: the real binary, run in an empty folder with
//! only the settings variables a container would give it, against a server of this process.
//! Exit 0 only for a 200 from `/readyz`; exit 1 for nothing listening, no answer, another
//! status (a lost database, a redirect), or a TLS certificate the settings do not trust. Every
//! run also checks that the probe wrote nothing (no development key, log, audit file or
//! database in its working folder).

use std::net::TcpListener;
use std::path::Path;

use sec_config::DevCertificate;

use crate::helpers::{Backend, Case, TestDatabase, cases, spawn_app, spawn_app_configured};

mod on_both {
    use super::*;
    cases![
        probe_exits_0_when_the_server_is_ready_and_writes_nothing,
        probe_exits_1_when_nothing_listens,
        probe_exits_1_on_settings_it_cannot_use,
        probe_exits_1_when_no_answer_comes_within_the_timeout,
        probe_exits_1_on_an_answer_other_than_200,
        probe_speaks_https_and_trusts_only_the_configured_certificate,
        probe_checks_the_certificate_against_the_public_origin_or_server_name,
    ];
}

pub fn cases() -> Vec<Case> {
    let mut all = on_both::cases();
    // Losing the database under a running server is done with PostgreSQL's ALLOW_CONNECTIONS
    // (as in health.rs); an embedded SQLite file has no connection to lose.
    all.push(Case::only(Backend::Postgres, "probe_exits_1_while_the_database_is_lost", |b| {
        Box::pin(probe_exits_1_while_the_database_is_lost(b))
    }));
    all
}

/// What a run of `server probe` did.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `server probe ARGS` in a new empty folder with no environment but `vars` (development
/// settings unless they say otherwise), and asserts that the folder is still empty afterwards.
async fn probe(vars: &[(&str, &str)], args: &[&str]) -> Outcome {
    let vars: Vec<(String, String)> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    actix_web::rt::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(dir.path())
            .env_clear()
            .envs(vars)
            .arg("probe")
            .args(args)
            .output()
            .unwrap();
        let outcome = Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let written: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(written.is_empty(), "the probe wrote {written:?}\n{outcome}");
        outcome
    })
    .await
    .unwrap()
}

fn bind(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn assert_ready(outcome: &Outcome, url: &str) {
    assert_eq!(outcome.code, Some(0), "{outcome}");
    assert_eq!(outcome.stdout.trim(), format!("{url} answered 200: ready"), "{outcome}");
}

/// Exit status 1 with one line on stderr that contains `why`.
fn assert_not_ready(outcome: &Outcome, why: &str) {
    assert_eq!(outcome.code, Some(1), "{outcome}");
    assert_eq!(outcome.stderr.lines().count(), 1, "one line: {outcome}");
    assert!(outcome.stderr.starts_with("server probe: "), "{outcome}");
    assert!(outcome.stderr.contains(why), "expected {why:?}: {outcome}");
    assert!(outcome.stdout.is_empty(), "{outcome}");
}

/// A port on which nothing listens (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn probe_exits_0_when_the_server_is_ready_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let outcome = probe(&[("APP__SERVER__BIND", &bind(app.port))], &[]).await;
    assert_ready(&outcome, &format!("http://127.0.0.1:{}/readyz", app.port));
    // A server bound to every interface is probed on loopback.
    let outcome = probe(&[("APP__SERVER__BIND", &format!("0.0.0.0:{}", app.port))], &[]).await;
    assert_ready(&outcome, &format!("http://127.0.0.1:{}/readyz", app.port));
    // The same in production, on the settings a container gives both commands.
    let dir = tempfile::tempdir().unwrap();
    let key = write_owner_only(dir.path(), "master.key", &fernet_key());
    let mfa = write_owner_only(dir.path(), "mfa.keys", &fernet_key());
    let production = [
        ("APP_ENV", "production"),
        ("APP__SERVER__BIND", &format!("0.0.0.0:{}", app.port)),
        ("APP__SERVER__BEHIND_TLS_PROXY", "true"),
        ("DATABASE_URL", "postgres://app@db.invalid:5432/app"),
        ("APP_MASTER_KEY_FILE", &key),
        ("APP__AUTH__MFA_KEYS_FILE", &mfa),
        ("APP__LOG__DIR", "/nonexistent/log"),
        ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
        ("APP__MAIL__TRANSPORT", "smtp"),
        ("APP__MAIL__SMTP_HOST", "smtp.example.com"),
        ("APP__MAIL__FROM", "no-reply@example.com"),
    ];
    let outcome = probe(&production, &[]).await;
    assert_ready(&outcome, &format!("http://127.0.0.1:{}/readyz", app.port));
}

fn fernet_key() -> String {
    let key = sec_config::MasterKey::generate().unwrap();
    secrecy::ExposeSecret::expose_secret(key.encoded()).to_owned()
}

/// Writes `contents` to `dir/name` readable by its owner only; the path.
fn write_owner_only(dir: &Path, name: &str, contents: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    path.display().to_string()
}

async fn probe_exits_1_when_nothing_listens(_backend: Backend) {
    let port = free_port();
    let outcome = probe(&[("APP__SERVER__BIND", &bind(port))], &[]).await;
    assert_not_ready(&outcome, &format!("cannot connect to 127.0.0.1:{port}"));
}

async fn probe_exits_1_on_settings_it_cannot_use(_backend: Backend) {
    // Settings the server would refuse: the probe says so instead of guessing an address.
    let outcome = probe(&[("APP__SERVER__BIND", "not-an-address")], &[]).await;
    assert_not_ready(&outcome, "cannot load the settings: ");
    assert!(outcome.stderr.contains("server.bind"), "{outcome}");
    // A random port cannot be probed.
    let outcome = probe(&[("APP__SERVER__BIND", "127.0.0.1:0")], &[]).await;
    assert_not_ready(&outcome, "port 0");
}

async fn probe_exits_1_when_no_answer_comes_within_the_timeout(_backend: Backend) {
    // Bound and listening, never accepting: the kernel completes the connection, and no
    // answer ever comes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let outcome = probe(&[("APP__SERVER__BIND", &bind(port))], &["--timeout", "1"]).await;
    assert_not_ready(&outcome, "no answer within 1 s");
    drop(silent);
}

async fn probe_exits_1_on_an_answer_other_than_200(backend: Backend) {
    // The redirect listener of an HTTPS server answers every path with a 308.
    let (app, _cert, _dir) =
        https_app(backend, &[("APP__TLS__REDIRECT_HTTP_BIND", "127.0.0.1:0")]).await;
    let port = app.redirect_port.unwrap();
    let outcome = probe(&[("APP__SERVER__BIND", &bind(port))], &[]).await;
    assert_not_ready(
        &outcome,
        &format!("http://127.0.0.1:{port}/readyz answered 308 Permanent Redirect"),
    );
}

async fn probe_exits_1_while_the_database_is_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let vars = [("APP__SERVER__BIND", bind(app.port))];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(probe(&vars, &[]).await.code, Some(0));

    let db: &TestDatabase = &app.database;
    let name = db.pg_name().to_owned();
    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    db.admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    for _ in 0..2 {
        // Twice, as in health.rs: the killed pooled connection, then the refused new one.
        let outcome = probe(&vars, &[]).await;
        assert_not_ready(&outcome, "/readyz answered 503 Service Unavailable");
    }

    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    assert_eq!(probe(&vars, &[]).await.code, Some(0));
}

/// A server on HTTPS with a development certificate (localhost, 127.0.0.1, ::1), and the
/// folder holding it.
async fn https_app(
    backend: Backend,
    extra: &[(&str, &str)],
) -> (crate::helpers::TestApp, DevCertificate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cert = DevCertificate::create(&dir.path().join("tls"), false).unwrap();
    let (cert_file, key_file) = tls_files(&cert);
    let mut vars =
        vec![("APP__TLS__CERT_FILE", cert_file.as_str()), ("APP__TLS__KEY_FILE", &key_file)];
    vars.extend_from_slice(extra);
    let app = spawn_app_configured(backend, &vars, |_| {}).await;
    (app, cert, dir)
}

fn tls_files(cert: &DevCertificate) -> (String, String) {
    (cert.cert_file().display().to_string(), cert.key_file().display().to_string())
}

async fn probe_speaks_https_and_trusts_only_the_configured_certificate(backend: Backend) {
    let (app, cert, _dir) = https_app(backend, &[]).await;
    let server_bind = bind(app.port);
    let (cert_file, key_file) = tls_files(&cert);
    let outcome = probe(
        &[
            ("APP__SERVER__BIND", &server_bind),
            ("APP__TLS__CERT_FILE", &cert_file),
            ("APP__TLS__KEY_FILE", &key_file),
        ],
        &[],
    )
    .await;
    assert_ready(&outcome, &format!("https://127.0.0.1:{}/readyz", app.port));

    // Another certificate for the same names, which the server does not present: the probe
    // refuses the server's, so verification is really on.
    let other_dir = tempfile::tempdir().unwrap();
    let other = DevCertificate::create(other_dir.path(), false).unwrap();
    let (other_cert, other_key) = tls_files(&other);
    let outcome = probe(
        &[
            ("APP__SERVER__BIND", &server_bind),
            ("APP__TLS__CERT_FILE", &other_cert),
            ("APP__TLS__KEY_FILE", &other_key),
        ],
        &[],
    )
    .await;
    assert_not_ready(&outcome, &format!("TLS handshake with 127.0.0.1:{} failed", app.port));
    // (Same subject, another key: the signature does not verify.)
    assert!(outcome.stderr.contains("invalid peer certificate"), "{outcome}");

    // Settings without TLS against the HTTPS port: no HTTP answer, so not ready.
    let outcome = probe(&[("APP__SERVER__BIND", &server_bind)], &[]).await;
    assert_not_ready(&outcome, &format!("http://127.0.0.1:{}/readyz", app.port));
}

async fn probe_checks_the_certificate_against_the_public_origin_or_server_name(backend: Backend) {
    let (app, cert, _dir) = https_app(backend, &[]).await;
    let (cert_file, key_file) = tls_files(&cert);
    let server_bind = bind(app.port);
    let vars = [
        ("APP__SERVER__BIND", server_bind.as_str()),
        ("APP__TLS__CERT_FILE", &cert_file),
        ("APP__TLS__KEY_FILE", &key_file),
        // The development certificate is not valid for this name.
        ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
    ];
    let outcome = probe(&vars, &[]).await;
    assert_not_ready(&outcome, "certificate not valid for name \"app.example.com\"");
    let outcome = probe(&vars, &["--server-name", "localhost"]).await;
    assert_ready(&outcome, &format!("https://127.0.0.1:{}/readyz", app.port));
}
