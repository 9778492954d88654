//! API tests: every case runs against SQLite, and against PostgreSQL when `TEST_DATABASE_URL`
//! names a server the tests may create databases on. Each case gets its own server on a
//! random port and its own fresh database.
//!
//! This binary uses its own harness (libtest-mimic) so that, when `TEST_DATABASE_URL` is unset,
//! the PostgreSQL cases are listed as *ignored* with a note saying why, instead of passing
//! without having run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    unreachable_pub,
    reason = "test code: a failed unwrap or panic is a failed test, and stderr is the report"
)]

mod accounts;
mod audit;
mod audit_head;
mod auth;
mod browser;
mod client_address;
mod cookie_names;
mod cors;
mod csp_report;
mod csrf;
mod database;
mod errors;
mod hashing;
mod headers;
mod health;
mod helpers;
mod housekeeping;
mod lifecycle;
mod limits;
mod mail;
mod mail_server;
mod mfa;
mod notes;
mod openapi;
mod page_flows;
mod pages;
mod probe;
mod rate_limit;
mod rbac;
mod secrets;
mod sessions;
mod shutdown;
mod throttle;
mod tls;

use std::process::ExitCode;

use helpers::{Backend, Case};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    audit::install_log_capture();
    let postgres = helpers::postgres_admin_url();
    if postgres.is_none() {
        eprintln!(
            "note: PostgreSQL cases are IGNORED: TEST_DATABASE_URL is not set. Set it to a \
             postgres:// URL of a server where the tests may create and drop databases, e.g. \
             TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
        );
    }

    let cases: Vec<Case> = [
        health::cases(),
        probe::cases(),
        errors::cases(),
        database::cases(),
        shutdown::cases(),
        audit::cases(),
        audit_head::cases(),
        secrets::cases(),
        auth::cases(),
        client_address::cases(),
        cookie_names::cases(),
        hashing::cases(),
        sessions::cases(),
        throttle::cases(),
        housekeeping::cases(),
        rbac::cases(),
        mfa::cases(),
        mail::cases(),
        lifecycle::cases(),
        notes::cases(),
        openapi::cases(),
        headers::cases(),
        cors::cases(),
        csrf::cases(),
        csp_report::cases(),
        pages::cases(),
        page_flows::cases(),
        rate_limit::cases(),
        limits::cases(),
        tls::cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut trials = Vec::new();
    for case in cases {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if !case.runs_on(backend) {
                continue;
            }
            let run = case.run;
            let trial = Trial::test(format!("{}::{}", backend.name(), case.name), move || {
                run_case(run, backend)
            });
            trials
                .push(trial.with_ignored_flag(backend == Backend::Postgres && postgres.is_none()));
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

fn run_case(run: helpers::CaseFn, backend: Backend) -> Result<(), Failed> {
    if backend == Backend::Postgres && helpers::postgres_admin_url().is_none() {
        return Err("TEST_DATABASE_URL is not set".into());
    }
    // One actix system per case: its server's workers stop with it.
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        run(backend).await;
        actix_web::rt::System::current().stop();
    });
    system.run().map_err(|e| Failed::from(format!("actix system: {e}")))
}
