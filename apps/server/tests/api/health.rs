//! Liveness and readiness probes, including readiness through a database outage.

use crate::helpers::{Backend, Case, TestDatabase, assert_error, cases, json, spawn_app};

mod on_both {
    use super::*;
    cases![healthz_answers_ok_and_is_not_cached, readyz_answers_ready_when_the_database_answers];
}

pub fn cases() -> Vec<Case> {
    let mut all = on_both::cases();
    // Cutting one database off while its server keeps running is done with PostgreSQL's
    // ALLOW_CONNECTIONS; an embedded SQLite file has no connection to lose.
    all.push(Case::only(
        Backend::Postgres,
        "readyz_turns_red_while_the_database_is_lost_and_green_again_without_restart",
        |b| Box::pin(readyz_follows_a_database_outage(b)),
    ));
    all
}

async fn healthz_answers_ok_and_is_not_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(json(response).await, serde_json::json!({ "status": "ok" }));
}

async fn readyz_answers_ready_when_the_database_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await, serde_json::json!({ "status": "ready" }));
}

async fn readyz_follows_a_database_outage(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    let db: &TestDatabase = &app.database;
    let name = db.pg_name().to_owned();

    // The outage: no new connections, and every open one (the pool's) is killed.
    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    db.admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    for _ in 0..2 {
        // Twice: the first call meets the killed connection, the second the refused new one.
        assert_error(app.get("/readyz").await, 503, "database_unavailable").await;
    }
    // Liveness is not affected: restarting the process would not help.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);

    // The database comes back; the same server recovers without a restart.
    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
}
