//! Audit trail, panics and log hygiene, as a client and an operator see them: a panicking
//! handler answers a plain 500 with the request id while the server keeps serving and the
//! panic is logged once; every log line of a request carries its id; start and stop are in an
//! intact audit chain; the database password reaches no log or audit file.
//!
//! Log lines are read from a process-wide capture in the file log's JSON format, installed by
//! [`install_log_capture`] before any case runs; cases find their own lines by a unique marker
//! or request id, so they may run in parallel.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use actix_web::dev::ServerHandle;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpResponse, rt::task::JoinHandle};
use sec_audit::{BreakKind, ChainKey, VerifyError};
use sec_config::{Settings, Sources};
use server::startup::Application;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::helpers::{Backend, Case, TestDatabase, assert_error};

pub fn cases() -> Vec<Case> {
    vec![
        Case::both(
            "a_panicking_handler_answers_500_with_the_request_id_and_the_server_keeps_serving",
            |b| {
                Box::pin(a_panicking_handler_answers_500_with_the_request_id_and_the_server_keeps_serving(b))
            },
        ),
        Case::both("every_log_line_of_a_request_carries_its_request_id", |b| {
            Box::pin(every_log_line_of_a_request_carries_its_request_id(b))
        }),
        Case::both("start_and_stop_are_recorded_in_an_intact_keyed_audit_chain", |b| {
            Box::pin(start_and_stop_are_recorded_in_an_intact_keyed_audit_chain(b))
        }),
        // Only PostgreSQL URLs carry a password.
        Case::only(Backend::Postgres, "the_database_password_reaches_no_log_or_audit_file", |b| {
            Box::pin(the_database_password_reaches_no_log_or_audit_file(b))
        }),
        Case::both("a_wrong_typed_json_value_reaches_no_log_or_audit_file", |b| {
            Box::pin(a_wrong_typed_json_value_reaches_no_log_or_audit_file(b))
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Log capture

static CAPTURE: OnceLock<sec_audit::LogCapture> = OnceLock::new();

/// Installs the test process's log subscriber and panic hook, as the binary does: JSON lines
/// (the file log's format) into memory, and everything on stderr when `TEST_LOG` is set.
///
/// The hook takes over every panic of the process, failed assertions included: the harness
/// still reports a failed case with its panic message; set `TEST_LOG=1` to see where it
/// panicked too.
pub fn install_log_capture() {
    let capture = CAPTURE.get_or_init(sec_audit::LogCapture::default).clone();
    let console = std::env::var_os("TEST_LOG")
        .is_some()
        .then(|| sec_audit::text_layer(std::io::stderr, false).with_filter(LevelFilter::DEBUG));
    let installed = tracing_subscriber::registry()
        .with(sec_audit::json_layer(capture).with_filter(LevelFilter::INFO))
        .with(console)
        .try_init();
    assert!(installed.is_ok(), "the log capture must be the first subscriber");
    sec_audit::install_panic_hook(server::http::request_id::current);
}

/// Every captured JSON line so far.
pub fn captured_lines() -> Vec<serde_json::Value> {
    CAPTURE
        .get()
        .expect("install_log_capture ran")
        .text()
        .expect("UTF-8 log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is one JSON object"))
        .collect()
}

pub fn captured_text() -> String {
    CAPTURE.get().expect("install_log_capture ran").text().unwrap()
}

// ---------------------------------------------------------------------------------------------
// A server whose log folder and run task the case keeps

struct Running {
    address: String,
    client: reqwest::Client,
    handle: ServerHandle,
    run: JoinHandle<std::io::Result<()>>,
    log_dir: tempfile::TempDir,
    _database: TestDatabase,
}

impl Running {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request sent")
    }

    /// Stops gracefully and waits until the application has finished (ServerStopped written).
    async fn stop(self) -> tempfile::TempDir {
        self.handle.stop(true).await;
        self.run.await.expect("run task").expect("server ran");
        self.log_dir
    }
}

fn settings(database_url: &str, log_dir: &Path) -> Settings {
    let vars = [
        ("APP_ENV", "test".to_owned()),
        ("APP__SERVER__BIND", "127.0.0.1:0".to_owned()),
        ("APP__SERVER__WORKERS", "1".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("APP__LOG__DIR", log_dir.display().to_string()),
    ];
    Settings::load(&Sources::new(log_dir.join("no-config"), vars)).expect("valid settings")
}

async fn spawn<F>(database: TestDatabase, database_url: &str, extra_routes: F) -> Running
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let log_dir = tempfile::tempdir().unwrap();
    let settings = settings(database_url, log_dir.path());
    let app = Application::build_with(&settings, extra_routes).await.expect("application builds");
    let address = app.url();
    let handle = app.handle();
    let run = actix_web::rt::spawn(app.run_until_stopped());
    Running { address, client: reqwest::Client::new(), handle, run, log_dir, _database: database }
}

async fn spawn_plain<F>(backend: Backend, extra_routes: F) -> Running
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let database = TestDatabase::create(backend);
    let url = database.url().to_owned();
    spawn(database, &url, extra_routes).await
}

fn audit_dir(log_dir: &Path) -> PathBuf {
    log_dir.join("audit")
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn a_panicking_handler_answers_500_with_the_request_id_and_the_server_keeps_serving(
    backend: Backend,
) {
    let message = format!("handler exploded {}", uuid::Uuid::new_v4());
    let in_handler = message.clone();
    let app = spawn_plain(backend, move |cfg| {
        let message = in_handler.clone();
        cfg.route(
            "/test/panic",
            web::get().to(move || {
                let message = message.clone();
                async move {
                    if !message.is_empty() {
                        panic!("{message}");
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        );
    })
    .await;

    // Only the code and the id: nothing of the panic reaches the client.
    let id = assert_error(app.get("/test/panic").await, 500, "internal_error").await;

    // The same single worker goes on serving.
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    }

    let logged: Vec<serde_json::Value> =
        captured_lines().into_iter().filter(|l| l.to_string().contains(&message)).collect();
    assert_eq!(logged.len(), 1, "logged once: {logged:#?}");
    let line = &logged[0];
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["panic_message"], message.as_str());
    assert_eq!(line["request_id"], id.as_str());
    assert_eq!(line["span"]["request_id"], id.as_str());
    assert!(line["location"].as_str().unwrap().contains("audit.rs"), "{line}");
    app.stop().await;
}

async fn every_log_line_of_a_request_carries_its_request_id(backend: Backend) {
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let in_handler = marker.clone();
    let app = spawn_plain(backend, move |cfg| {
        let marker = in_handler.clone();
        cfg.route(
            "/test/log",
            web::get().to(move |db: web::Data<server::db::Db>| {
                let marker = marker.clone();
                async move {
                    tracing::info!(marker = %marker, "handler at work");
                    tracing::warn!("handler warns about {marker}");
                    // Work on a database thread (db/executor.rs) logs under the request's span too.
                    let in_db = marker.clone();
                    db.run(move |_| {
                        tracing::info!("inside the database call {in_db}");
                        Ok(())
                    })
                    .await
                    .unwrap();
                    HttpResponse::Ok().finish()
                }
            }),
        );
    })
    .await;

    let id = format!("trace-{marker}");
    let response = app
        .client
        .get(format!("{}/test/log", app.address))
        .header("X-Request-Id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let lines = captured_lines();
    let of_request: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["span"]["request_id"] == id.as_str()).collect();
    let messages: Vec<&str> =
        of_request.iter().map(|l| l["message"].as_str().unwrap_or_default()).collect();
    assert!(messages.contains(&"handler at work"), "{messages:?}");
    assert!(messages.contains(&format!("handler warns about {marker}").as_str()), "{messages:?}");
    assert!(messages.contains(&"request completed"), "{messages:?}");
    let in_db = format!("inside the database call {marker}");
    assert!(messages.contains(&in_db.as_str()), "{messages:?}");
    let with_marker = lines.iter().filter(|l| l.to_string().contains(&marker)).count();
    assert_eq!(with_marker, of_request.len(), "no line of the request lacks its id");
    app.stop().await;
}

async fn start_and_stop_are_recorded_in_an_intact_keyed_audit_chain(backend: Backend) {
    let app = spawn_plain(backend, |_| {}).await;
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    let log_dir = app.stop().await;

    let key = ChainKey::load_file(&log_dir.path().join("audit.key")).expect("development key");
    let summary = sec_audit::verify(&audit_dir(log_dir.path()), Some(&key)).expect("intact");
    assert_eq!((summary.files, summary.records), (1, 2));

    let file = std::fs::read_dir(audit_dir(log_dir.path()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let events: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["event"].as_str().unwrap().to_owned(), v["actor"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        events,
        [("ServerStarted".into(), "system".into()), ("ServerStopped".into(), "system".into())]
    );

    // The chain is keyed: without the key it cannot be vouched for.
    let unkeyed = sec_audit::verify(&audit_dir(log_dir.path()), None);
    assert!(
        matches!(&unkeyed, Err(VerifyError::Broken(b)) if b.problem == BreakKind::KeyRequired),
        "{unkeyed:?}"
    );
}

async fn the_database_password_reaches_no_log_or_audit_file(backend: Backend) {
    let canary = format!("Canary{}", uuid::Uuid::new_v4().simple());
    let database = TestDatabase::create(backend);
    let mut url = reqwest::Url::parse(database.url()).unwrap();
    // The test server trusts local connections, so any password gets in: what matters is
    // where the server might write it.
    url.set_password(Some(&canary)).unwrap();
    let url = url.to_string();

    let app = spawn(database, &url, |_| {}).await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    assert_eq!(app.get("/no/such/page").await.status().as_u16(), 404);
    let log_dir = app.stop().await;

    // A start-up that fails on the database must not quote the URL either.
    let mut bad = reqwest::Url::parse(&url).unwrap();
    bad.set_path("/no_such_database_here");
    let failed_dir = tempfile::tempdir().unwrap();
    let failure = Application::build(&settings(bad.as_str(), failed_dir.path())).await;
    let shown = match failure {
        Ok(_) => panic!("a missing database fails the start-up"),
        Err(e) => format!("{e} {e:?}"),
    };
    assert!(!shown.contains(&canary), "{shown}");

    // libpq quotes the part of a URL it cannot parse: here a malformed escape in the password.
    let malformed = url.replacen(&format!(":{canary}@"), &format!(":%zz{canary}@"), 1);
    assert_ne!(malformed, url);
    let malformed_dir = tempfile::tempdir().unwrap();
    let failure = Application::build(&settings(&malformed, malformed_dir.path())).await;
    let shown = match failure {
        Ok(_) => panic!("a URL libpq cannot parse fails the start-up"),
        Err(e) => format!("{e} {e:?}"),
    };
    assert!(!shown.contains(&canary), "{shown}");
    assert!(shown.contains("[redacted]"), "the cause is named, without the value: {shown}");

    for dir in [log_dir.path(), failed_dir.path(), malformed_dir.path()] {
        let leaks = sec_audit::find_leaks(dir, &[&canary]).unwrap();
        assert!(leaks.is_empty(), "{leaks:?}");
    }
    assert!(!captured_text().contains(&canary), "the log stream holds the password");
}

async fn a_wrong_typed_json_value_reaches_no_log_or_audit_file(backend: Backend) {
    // A password typed as a number: serde's message would quote it. Digits only, so that no
    // escaping can disguise it.
    let canary = format!("9{}", uuid::Uuid::new_v4().as_u128() % 10u128.pow(17) + 10u128.pow(17));
    let app = spawn_plain(backend, |_| {}).await;
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body(format!(r#"{{"identifier":"someone","password":{canary}}}"#))
        .send()
        .await
        .unwrap();
    let request_id = assert_error(response, 400, "invalid_json").await;
    let log_dir = app.stop().await;

    let leaks = sec_audit::find_leaks(log_dir.path(), &[&canary]).unwrap();
    assert!(leaks.is_empty(), "{leaks:?}");
    assert!(!captured_text().contains(&canary), "the log stream holds the value");
    // What was wrong is still logged: the expected type, and where.
    let causes: Vec<String> = captured_lines()
        .into_iter()
        .filter(|l| l["span"]["request_id"] == request_id.as_str())
        .filter_map(|l| l["cause"].as_str().map(str::to_owned))
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("invalid type, expected a string at line 1 column")),
        "{causes:?}"
    );
}
