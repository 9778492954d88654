//! The mail outbox across a SIGKILL: a message committed with its account, whose sending has
//! failed so far, is still sent by the server started after the process was killed, and once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use e2e::{RunningServer, http_json, mail_files};

const PASSWORD: &str = "granite-meadow-lantern-sixty-two-owls";

#[test]
fn mail_committed_before_a_sigkill_is_sent_by_the_next_server_once() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: every send fails (connection refused) and is retried.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = closed.to_string();
    let unreachable = [
        ("APP__SERVER__BIND", "127.0.0.1:0"),
        ("APP__MAIL__TRANSPORT", "smtp"),
        ("APP__MAIL__SMTP_HOST", "localhost"),
        ("APP__MAIL__SMTP_PORT", closed.as_str()),
        ("APP__MAIL__SMTP_TIMEOUT_SECS", "2"),
        ("APP__MAIL__OUTBOX_POLL_MS", "100"),
        ("APP__MAIL__OUTBOX_RETRY_BASE_SECS", "3"),
        ("APP__MAIL__OUTBOX_RETRY_MAX_SECS", "3"),
    ];
    let mut server = RunningServer::start(dir.path(), &unreachable);
    let body =
        format!(r#"{{"username":"kim","email":"kim@example.test","password":"{PASSWORD}"}}"#);
    let (status, _, _) = http_json(&server.addr, "POST", "/api/v1/auth/register", &body, &[]);
    assert_eq!(status, 202);
    // The first attempt failed and the row was released (the next one is 3 s away): the
    // message is committed and unsent when the process dies.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.output().iter().any(|l| l.contains("will retry")) {
        assert!(Instant::now() < deadline, "no failed attempt: {:?}", server.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (exit, _) = server.stop_with("KILL");
    assert!(!exit.success());
    assert!(mail_files(dir.path()).is_empty());

    // The next server (with the development file transport) finds the row and sends it.
    let server = RunningServer::start(dir.path(), &[("APP__SERVER__BIND", "127.0.0.1:0")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while mail_files(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "the message was lost with the killed process");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mails = mail_files(dir.path());
    drop(server);
    assert_eq!(mails.len(), 1, "sent once");
    assert!(mails[0].contains("kim@example.test") && mails[0].contains("#token="));
}
