//! The audit chain's head outside the files: the server records it in the database as it
//! writes and at shutdown; a restart on a folder that lost its newest lines or was deleted
//! finds out (outside production it records the finding and carries on; production refuses,
//! which the end-to-end tests check with the binary); a database down at start-up postpones
//! the comparison and keeps the server not ready until it is made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::rt::task::JoinHandle;
use sec_audit::{ChainHead, ChainKey, Continuity};
use server::audit::continuity::trail_name;
use server::db::Db;
use server::startup::Application;

use crate::accounts::{audit_files_in, audit_records_in};
use crate::helpers::{Backend, Case, TestDatabase, client, test_settings, test_settings_with};

pub fn cases() -> Vec<Case> {
    vec![
        Case::both("the_head_is_recorded_while_the_server_writes_and_at_shutdown", |b| {
            Box::pin(the_head_is_recorded_while_the_server_writes_and_at_shutdown(b))
        }),
        Case::both("a_cut_tail_is_found_at_restart_and_recorded_in_the_trail", |b| {
            Box::pin(a_cut_tail_is_found_at_restart_and_recorded_in_the_trail(b))
        }),
        // Cutting the database off at start-up is done with PostgreSQL's ALLOW_CONNECTIONS.
        Case::only(
            Backend::Postgres,
            "a_deleted_folder_is_found_once_a_database_down_at_start_up_returns",
            |b| Box::pin(a_deleted_folder_is_found_once_a_database_down_at_start_up_returns(b)),
        ),
    ]
}

struct Running {
    address: String,
    handle: ServerHandle,
    run: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(database: &TestDatabase, log_dir: &Path) -> Self {
        Self::start_with(database, log_dir, &[]).await
    }

    async fn start_with(database: &TestDatabase, log_dir: &Path, vars: &[(&str, &str)]) -> Self {
        let settings = test_settings_with(database, log_dir.to_path_buf(), vars);
        let app = Application::build(&settings).await.expect("application builds");
        let address = app.url();
        let handle = app.handle();
        let run = actix_web::rt::spawn(app.run_until_stopped());
        Self { address, handle, run }
    }

    async fn status(&self, path: &str) -> u16 {
        client().get(format!("{}{path}", self.address)).send().await.unwrap().status().as_u16()
    }

    /// A failed login: one more audit line.
    async fn failed_login(&self) {
        let response = client()
            .post(format!("{}/api/v1/auth/login", self.address))
            .json(&serde_json::json!({ "identifier": "nobody", "password": "not the one" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        self.run.await.expect("run task").expect("server ran");
    }
}

fn audit_dir(log_dir: &Path) -> PathBuf {
    log_dir.join("audit")
}

fn key(log_dir: &Path) -> ChainKey {
    ChainKey::load_file(&log_dir.join("audit.key")).expect("development key")
}

/// The head recorded for the trail in `log_dir`.
fn recorded(db: &Db, database: &TestDatabase, log_dir: &Path) -> Option<ChainHead> {
    let name = trail_name(&test_settings(database, log_dir.to_path_buf()));
    db.run_blocking(|c| server::db::audit_heads::recorded(c, &name)).unwrap()
}

/// The folder's last line, as `verify` finds it (the chain must be intact).
fn folder_head(log_dir: &Path) -> ChainHead {
    let summary = sec_audit::verify(&audit_dir(log_dir), Some(&key(log_dir))).expect("intact");
    ChainHead { seq: summary.head_seq, hash: summary.head_hash }
}

/// Every record of the folder, as JSON, in chain order.
fn records(log_dir: &Path) -> Vec<serde_json::Value> {
    audit_records_in(&audit_dir(log_dir))
}

/// Waits (polling, bounded) until `done` holds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if done().await {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

/// Removes the last line of the newest audit file.
fn cut_last_line(log_dir: &Path) {
    let files = audit_files_in(&audit_dir(log_dir));
    let newest = files.last().unwrap();
    let text = std::fs::read_to_string(newest).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept: String = lines[..lines.len() - 1].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(newest, kept).unwrap();
}

async fn the_head_is_recorded_while_the_server_writes_and_at_shutdown(backend: Backend) {
    let database = TestDatabase::create(backend);
    let log_dir = tempfile::tempdir().unwrap();
    let app = Running::start(&database, log_dir.path()).await;
    let db = Db::new(test_settings(&database, log_dir.path().to_path_buf()).database()).unwrap();
    // Genesis and ServerStarted are lines 1 and 2.
    assert_eq!(app.status("/readyz").await, 200);
    eventually("line 2 recorded", async || {
        recorded(&db, &database, log_dir.path()).is_some_and(|h| h.seq == 2)
    })
    .await;
    // A failed login is line 3: recorded while the server runs, not only at shutdown.
    app.failed_login().await;
    eventually("line 3 recorded", async || {
        recorded(&db, &database, log_dir.path()).is_some_and(|h| h.seq == 3)
    })
    .await;
    app.failed_login().await;
    app.stop().await;
    // After ServerStopped (line 5), the recorded head is exactly the folder's last line.
    let head = folder_head(log_dir.path());
    assert_eq!(head.seq, 5);
    assert_eq!(recorded(&db, &database, log_dir.path()), Some(head));
}

async fn a_cut_tail_is_found_at_restart_and_recorded_in_the_trail(backend: Backend) {
    let database = TestDatabase::create(backend);
    let log_dir = tempfile::tempdir().unwrap();
    let first = Running::start(&database, log_dir.path()).await;
    first.failed_login().await;
    first.stop().await;
    let db = Db::new(test_settings(&database, log_dir.path().to_path_buf()).database()).unwrap();
    let before = recorded(&db, &database, log_dir.path()).expect("a head was recorded");
    assert_eq!(before.seq, 4, "genesis, ServerStarted, LoginFailed, ServerStopped");

    // The tail cut at a line boundary: the chain still verifies on its own...
    cut_last_line(log_dir.path());
    assert_eq!(folder_head(log_dir.path()).seq, 3);
    // ...but not against the recorded head.
    assert_eq!(
        sec_audit::check_continuity(
            &audit_dir(log_dir.path()),
            Some(&key(log_dir.path())),
            &before
        )
        .unwrap(),
        Continuity::Missing { last_seq: Some(3) }
    );

    // Outside production the restart carries on, and says so in the trail.
    let second = Running::start(&database, log_dir.path()).await;
    assert_eq!(second.status("/readyz").await, 200);
    second.stop().await;
    let gaps: Vec<serde_json::Value> = records(log_dir.path())
        .into_iter()
        .filter(|r| r["event"] == "AuditTrailDiscontinuity")
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(
        gaps[0]["detail"],
        serde_json::json!({
            "finding": "missing", "recorded_seq": 4, "found_seq": 3, "resolution": "continued"
        })
    );
    assert_eq!(gaps[0]["actor"], "system");
    // The folder's chain is the recorded one from then on.
    let after = recorded(&db, &database, log_dir.path()).unwrap();
    assert_eq!(after, folder_head(log_dir.path()));
    assert_eq!(
        sec_audit::check_continuity(&audit_dir(log_dir.path()), Some(&key(log_dir.path())), &after)
            .unwrap(),
        Continuity::Continuous
    );
}

async fn a_deleted_folder_is_found_once_a_database_down_at_start_up_returns(backend: Backend) {
    let database = TestDatabase::create(backend);
    let log_dir = tempfile::tempdir().unwrap();
    let first = Running::start(&database, log_dir.path()).await;
    first.stop().await;
    let db = Db::new(test_settings(&database, log_dir.path().to_path_buf()).database()).unwrap();
    let before = recorded(&db, &database, log_dir.path()).expect("a head was recorded");
    drop(db);
    // The key is outside the audit folder; the folder goes.
    std::fs::remove_dir_all(audit_dir(log_dir.path())).unwrap();

    let name = database.pg_name().to_owned();
    database.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    database.admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    // Migrations are applied: the second start needs none, and starts with the database down.
    let second = Running::start_with(
        &database,
        log_dir.path(),
        &[("APP__DATABASE__MIGRATE_ON_START", "false")],
    )
    .await;
    assert_eq!(second.status("/readyz").await, 503);
    database.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    // The database is back; the comparison is made, the gap recorded, and only then ready.
    eventually("ready", async || second.status("/readyz").await == 200).await;
    let gaps: Vec<serde_json::Value> = records(log_dir.path())
        .into_iter()
        .filter(|r| r["event"] == "AuditTrailDiscontinuity")
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["detail"]["finding"], "missing");
    assert_eq!(gaps[0]["detail"]["recorded_seq"], before.seq);
    assert_eq!(gaps[0]["detail"]["resolution"], "continued");
    second.stop().await;
}
