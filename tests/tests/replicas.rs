//! Two `server` processes on one PostgreSQL database, as two replicas behind a load balancer:
//! sessions, logouts, throttle counters and role changes made through one are in force through
//! the other at once; both keep valid audit chains; and a replica killed with SIGKILL under
//! load loses nothing that it had answered as done, while the other keeps serving.
//!
//! Needs `TEST_DATABASE_URL` (a PostgreSQL server where it may create a database); without it
//! each test says SKIPPED on stderr and returns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use e2e::{
    Database, RunningServer, create_admin, http_json, run_server, session_token, try_http_json,
};

const PASSWORD: &str = "copper-kettle-whistles-at-nine-41-times";
const WRONG: &str = "not-the-right-password-at-all-0000";

/// One MFA key for every replica and command of a test run, as the shared secrets file gives
/// a deployment (each development folder would otherwise generate its own).
fn mfa_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = run_server(dir.path(), &[], &["mfa", "keygen"]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

fn vars(url: &str) -> [(&str, &str); 6] {
    [
        ("APP__SERVER__BIND", "127.0.0.1:0"),
        ("DATABASE_URL", url),
        ("APP__AUTH__MFA_KEYS", mfa_key()),
        // A long first back-off, so that "the sixth attempt is throttled" holds however slowly
        // a loaded machine runs the five failures before it (the default is 1 s).
        ("APP__AUTH__THROTTLE_BASE_DELAY_SECS", "120"),
        // Every client here is 127.0.0.1: the in-memory per-IP limits would stop the load long
        // before the per-account throttling in the database, which is what this test checks.
        ("APP__RATE_LIMIT__BURST", "100000"),
        ("APP__RATE_LIMIT__AUTH_BURST", "100000"),
    ]
}

/// Enrolls TOTP for the session `token` on `addr` (administration requires a second factor);
/// returns the renewed token, established with two factors.
fn enroll_totp(addr: &str, token: &str) -> String {
    let (status, _, body) = as_user(addr, "POST", "/api/v1/me/mfa/totp", token);
    assert_eq!(status, 201, "{body}");
    let enrollment: serde_json::Value = serde_json::from_str(&body).unwrap();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let body = format!(r#"{{"code":"{}"}}"#, totp.generate(now.as_secs()));
    let cookie = format!("Cookie: __Host-session={token}");
    let (status, headers, body) =
        http_json(addr, "POST", "/api/v1/me/mfa/totp/confirm", &body, &[&cookie]);
    assert_eq!(status, 200, "{body}");
    session_token(&headers).expect("a renewed token")
}

/// Two replicas, each in its own folder (own logs and audit files), on one database.
fn two_replicas(
    db: &Database,
) -> (tempfile::TempDir, RunningServer, tempfile::TempDir, RunningServer) {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = RunningServer::start(dir_a.path(), &vars(&db.url));
    let b = RunningServer::start(dir_b.path(), &vars(&db.url));
    (dir_a, a, dir_b, b)
}

fn register(addr: &str, username: &str) -> u16 {
    let body = format!(
        r#"{{"username":"{username}","email":"{username}@example.test","password":"{PASSWORD}"}}"#
    );
    http_json(addr, "POST", "/api/v1/auth/register", &body, &[]).0
}

fn login(addr: &str, username: &str, password: &str) -> (u16, Option<String>) {
    let body = format!(r#"{{"identifier":"{username}","password":"{password}"}}"#);
    let (status, headers, _) = http_json(addr, "POST", "/api/v1/auth/login", &body, &[]);
    (status, session_token(&headers))
}

fn as_user(addr: &str, method: &str, path: &str, token: &str) -> (u16, String, String) {
    let cookie = format!("Cookie: __Host-session={token}");
    http_json(addr, method, path, "", &[&cookie])
}

fn user_id(addr: &str, token: &str) -> String {
    let (_, _, body) = as_user(addr, "GET", "/api/v1/me", token);
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    me["user"]["id"].as_str().unwrap().to_owned()
}

fn audit_chain_is_intact(dir: &Path, url: &str) {
    let out = run_server(dir, &vars(url), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify in {} ended with {}: {}{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn replicas_share_sessions_logouts_throttling_and_roles() {
    let Some(db) = Database::create("replicas_share_sessions_logouts_throttling_and_roles") else {
        return;
    };
    let (dir_a, a, dir_b, b) = two_replicas(&db);
    // A one-off command, as an operator runs it: its own folder, since a running server holds
    // the lock on its audit folder.
    let ops = tempfile::tempdir().unwrap();
    create_admin(ops.path(), &vars(&db.url), "chief", PASSWORD);

    // A session made on A works on B; a logout on A is refused on B at once.
    assert_eq!(register(&a.addr, "ann"), 202);
    let (status, token) = login(&a.addr, "ann", PASSWORD);
    assert_eq!(status, 200);
    let token = token.unwrap();
    assert_eq!(as_user(&b.addr, "GET", "/api/v1/me", &token).0, 200);
    assert_eq!(as_user(&a.addr, "POST", "/api/v1/auth/logout", &token).0, 204);
    assert_eq!(as_user(&b.addr, "GET", "/api/v1/me", &token).0, 401);

    // Failed logins on A and on B add up to one throttle: five free failures in all.
    assert_eq!(register(&b.addr, "ben"), 202);
    for (addr, n) in [(&a.addr, 3), (&b.addr, 2)] {
        for _ in 0..n {
            assert_eq!(login(addr, "ben", WRONG).0, 401);
        }
    }
    assert_eq!(login(&b.addr, "ben", PASSWORD).0, 429, "B counts A's failures");
    assert_eq!(login(&a.addr, "ben", PASSWORD).0, 429, "A counts B's failures");

    // A role granted on A is in force on B (and the target's token is renewed there).
    assert_eq!(register(&a.addr, "cleo"), 202);
    let cleo = login(&b.addr, "cleo", PASSWORD).1.unwrap();
    assert_eq!(as_user(&b.addr, "GET", "/api/v1/admin/users", &cleo).0, 403);
    let chief = login(&a.addr, "chief", PASSWORD).1.unwrap();
    let chief = enroll_totp(&a.addr, &chief);
    let cleo_id = user_id(&b.addr, &cleo);
    let grant = format!("/api/v1/admin/users/{cleo_id}/roles/admin");
    assert_eq!(as_user(&a.addr, "PUT", &grant, &chief).0, 204);
    let (status, headers, body) = as_user(&b.addr, "GET", "/api/v1/admin/users", &cleo);
    // The role granted on A applies on B: no longer `forbidden`, but administration needs a
    // second factor first.
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("mfa_required"), "{body}");
    let renewed = session_token(&headers).expect("a renewed token after the role change");
    assert_eq!(
        as_user(&a.addr, "GET", "/api/v1/me", &cleo).0,
        401,
        "the old token is dead on A too"
    );
    // Enrolled on B, sealed with the shared MFA key, in force on A.
    let renewed = enroll_totp(&b.addr, &renewed);
    assert_eq!(as_user(&a.addr, "GET", "/api/v1/admin/users", &renewed).0, 200);

    // Both replicas wrote their own audit chain, and each verifies.
    let (exit_a, _) = a.stop_with("TERM");
    let (exit_b, _) = b.stop_with("TERM");
    assert!(exit_a.success() && exit_b.success());
    audit_chain_is_intact(dir_a.path(), &db.url);
    audit_chain_is_intact(dir_b.path(), &db.url);
}

/// `GET /api/v1/me` on `addr` with `token`, `times` times in a row, each answered 200: the
/// token is as warm there as any cache could make it.
fn warm(addr: &str, token: &str, times: usize) {
    for _ in 0..times {
        let (status, _, body) = as_user(addr, "GET", "/api/v1/me", token);
        assert_eq!(status, 200, "{body}");
    }
}

/// The id of the session `token` authenticates, from its own session list.
fn own_session_id(addr: &str, token: &str) -> String {
    let (status, _, body) = as_user(addr, "GET", "/api/v1/me/sessions", token);
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).expect("the current session");
    current["id"].as_str().unwrap().to_owned()
}

// Every authenticated request reads its session, account and roles from the database, on
// every replica: nothing is cached between requests, so a change made through one replica
// is in force on the very next request at the other, whatever that one served just before.
#[test]
fn a_change_on_one_replica_is_in_force_on_the_next_request_at_the_other() {
    let Some(db) = Database::create("a_change_on_one_replica_is_in_force_at_the_other") else {
        return;
    };
    let (_dir_a, a, _dir_b, b) = two_replicas(&db);
    let ops = tempfile::tempdir().unwrap();
    create_admin(ops.path(), &vars(&db.url), "warden", PASSWORD);

    // A session revoked by its owner on A.
    assert_eq!(register(&a.addr, "dora"), 202);
    let doomed = login(&a.addr, "dora", PASSWORD).1.unwrap();
    let keeper = login(&a.addr, "dora", PASSWORD).1.unwrap();
    let doomed_id = own_session_id(&b.addr, &doomed);
    warm(&b.addr, &doomed, 50);
    let revoke = format!("/api/v1/me/sessions/{doomed_id}");
    assert_eq!(as_user(&a.addr, "DELETE", &revoke, &keeper).0, 204);
    assert_eq!(as_user(&b.addr, "GET", "/api/v1/me", &doomed).0, 401, "revoked on A");
    warm(&b.addr, &keeper, 1);

    // An account disabled by an administrator on A: each of its sessions, however warm on B.
    let warden = login(&a.addr, "warden", PASSWORD).1.unwrap();
    let warden = enroll_totp(&a.addr, &warden);
    let dora_id = user_id(&a.addr, &keeper);
    warm(&b.addr, &keeper, 50);
    let disable = format!("/api/v1/admin/users/{dora_id}/disable");
    let (status, _, body) = as_user(&a.addr, "POST", &disable, &warden);
    assert_eq!(status, 204, "{body}");
    assert_eq!(as_user(&b.addr, "GET", "/api/v1/me", &keeper).0, 401, "disabled on A");

    // A role taken away on A: the next request at B no longer has its permission.
    assert_eq!(register(&a.addr, "egon"), 202);
    let egon = login(&b.addr, "egon", PASSWORD).1.unwrap();
    let egon_id = user_id(&b.addr, &egon);
    let role = format!("/api/v1/admin/users/{egon_id}/roles/admin");
    assert_eq!(as_user(&a.addr, "PUT", &role, &warden).0, 204);
    let (status, headers, body) = as_user(&b.addr, "GET", "/api/v1/me", &egon);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"admin\""), "the granted role shows at once on B: {body}");
    let egon = session_token(&headers).expect("a renewed token after the role change");
    warm(&b.addr, &egon, 50);
    assert_eq!(as_user(&a.addr, "DELETE", &role, &warden).0, 204);
    let (status, headers, body) = as_user(&b.addr, "GET", "/api/v1/me", &egon);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("\"admin\""), "the role is gone on B at once: {body}");
    assert!(session_token(&headers).is_some(), "and the token is renewed for the new rights");
    assert_eq!(as_user(&a.addr, "GET", "/api/v1/me", &egon).0, 401, "the old token is dead");
}

#[test]
fn a_replica_killed_under_load_loses_nothing_it_confirmed_and_the_other_serves_on() {
    let Some(db) = Database::create("a_replica_killed_under_load") else {
        return;
    };
    let (_dir_a, a, _dir_b, b) = two_replicas(&db);
    let (addr_a, addr_b) = (a.addr.clone(), b.addr.clone());

    // Clients alternate between the replicas: register, then log in. Only what a replica
    // answered as done (202, 200 with a cookie) is recorded as confirmed.
    let confirmed_accounts = Arc::new(Mutex::new(Vec::<String>::new()));
    let confirmed_sessions = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (accounts, sessions) = (confirmed_accounts.clone(), confirmed_sessions.clone());
            let (done, stop) = (done.clone(), stop.clone());
            let addrs = [addr_a.clone(), addr_b.clone()];
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("load{w}x{i}");
                    let addr = &addrs[i % 2];
                    i += 1;
                    let body = format!(
                        r#"{{"username":"{name}","email":"{name}@example.test","password":"{PASSWORD}"}}"#
                    );
                    if let Ok((202, _, _)) = try_http_json(addr, "POST", "/api/v1/auth/register", &body, &[]) {
                        accounts.lock().unwrap().push(name.clone());
                    } else {
                        continue;
                    }
                    let body = format!(r#"{{"identifier":"{name}","password":"{PASSWORD}"}}"#);
                    let login = try_http_json(addr, "POST", "/api/v1/auth/login", &body, &[]);
                    if let Some(token) = login
                        .ok()
                        .filter(|(status, _, _)| *status == 200)
                        .and_then(|(_, headers, _)| session_token(&headers))
                    {
                        sessions.lock().unwrap().push(token);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // Kill A mid-load, without warning, once work is flowing through both.
    while done.load(Ordering::SeqCst) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (exit, _) = a.stop_with("KILL");
    assert!(!exit.success());
    let after_kill = done.load(Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < after_kill + 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }

    // Everything either replica confirmed is there, read through the survivor.
    let accounts = confirmed_accounts.lock().unwrap().clone();
    let sessions = confirmed_sessions.lock().unwrap().clone();
    assert!(accounts.len() >= 30 && !sessions.is_empty());
    for token in &sessions {
        assert_eq!(
            as_user(&addr_b, "GET", "/api/v1/me", token).0,
            200,
            "a confirmed session was lost"
        );
    }
    for name in accounts.iter().step_by(3) {
        assert_eq!(login(&addr_b, name, PASSWORD).0, 200, "confirmed account {name} was lost");
    }
    assert_eq!(b.get("/readyz").0, 200);
    assert_eq!(register(&addr_b, "afterwards"), 202);
    let (exit_b, _) = b.stop_with("TERM");
    assert!(exit_b.success());
}
