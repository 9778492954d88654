//! `server users create-admin` as a user runs it: the password from standard input (never an
//! argument), then the new administrator logs in, enrolls TOTP (administration requires a
//! second factor) and reaches the admin API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Write;
use std::process::Stdio;

use e2e::{RunningServer, http_json, mail_files, server_command, session_token};

const PASSWORD: &str = "granite-meadow-lantern-sixty-two-owls";

fn create_admin(
    dir: &std::path::Path,
    stdin: Option<&str>,
    extra: &[&str],
) -> std::process::Output {
    let mut cmd = server_command(dir, &[]);
    cmd.args(["users", "create-admin", "--username", "root", "--email", "root@example.test"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("server runs");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[test]
fn create_admin_reads_the_password_from_stdin_and_the_admin_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = create_admin(dir.path(), Some(&format!("{PASSWORD}\n")), &["--password-stdin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created administrator root"));

    let server = RunningServer::start(dir.path(), &[]);
    let body = format!(r#"{{"identifier":"root","password":"{PASSWORD}"}}"#);
    let (status, headers, _) = http_json(&server.addr, "POST", "/api/v1/auth/login", &body, &[]);
    assert_eq!(status, 200);
    let token = session_token(&headers).expect("session cookie");
    let cookie = format!("Cookie: __Host-session={token}");
    let (status, _, body) = http_json(&server.addr, "GET", "/api/v1/admin/users", "", &[&cookie]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("mfa_required"), "{body}");

    // Enroll TOTP with the development MFA key the server generated, as an app would.
    let (status, _, body) = http_json(&server.addr, "POST", "/api/v1/me/mfa/totp", "", &[&cookie]);
    assert_eq!(status, 201, "{body}");
    let enrollment: serde_json::Value = serde_json::from_str(&body).unwrap();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let code = totp.generate(now.as_secs()).to_string();
    let (status, headers, body) = http_json(
        &server.addr,
        "POST",
        "/api/v1/me/mfa/totp/confirm",
        &format!(r#"{{"code":"{code}"}}"#),
        &[&cookie],
    );
    assert_eq!(status, 200, "{body}");
    assert!(dir.path().join("var/mfa.keys").is_file(), "development generated its MFA key");
    let token = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: __host-session="))
        .and_then(|l| l.split_once('=').map(|(_, rest)| rest))
        .and_then(|rest| rest.split(';').next())
        .expect("a renewed session cookie")
        .to_owned();
    let cookie = format!("Cookie: __Host-session={token}");
    let (status, _, body) = http_json(&server.addr, "GET", "/api/v1/admin/users", "", &[&cookie]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"admin\""), "{body}");
}

#[test]
fn create_admin_refuses_a_weak_password_and_a_non_terminal_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let weak = create_admin(dir.path(), Some("password\n"), &["--password-stdin"]);
    assert!(!weak.status.success());
    let err = String::from_utf8_lossy(&weak.stderr);
    assert!(err.contains("password"), "{err}");
    let no_flag = create_admin(dir.path(), Some(&format!("{PASSWORD}\n")), &[]);
    assert!(!no_flag.status.success());
    assert!(String::from_utf8_lossy(&no_flag.stderr).contains("--password-stdin"));
}

fn unlock(dir: &std::path::Path, username: &str) -> std::process::Output {
    server_command(dir, &[])
        .args(["users", "unlock", "--username", username])
        .stdin(Stdio::null())
        .output()
        .expect("server runs")
}

/// Every audit record under `dir` (the trail's JSON lines files), as text lines.
fn audit_lines(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                lines.extend(std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned));
            }
        }
    }
    lines
}

#[test]
fn users_unlock_clears_the_back_off_at_once_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let out = create_admin(dir.path(), Some(&format!("{PASSWORD}\n")), &["--password-stdin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // An hour-long back-off from the first delay on: without the command, the right password
    // would be refused for an hour.
    let slow = [
        ("APP__AUTH__THROTTLE_BASE_DELAY_SECS", "3600"),
        ("APP__AUTH__THROTTLE_MAX_DELAY_SECS", "3600"),
        ("APP__SERVER__BIND", "127.0.0.1:0"),
    ];
    let login = |server: &RunningServer, password: &str| {
        let body = format!(r#"{{"identifier":"root","password":"{password}"}}"#);
        http_json(&server.addr, "POST", "/api/v1/auth/login", &body, &[]).0
    };
    let server = RunningServer::start(dir.path(), &slow);
    for _ in 0..5 {
        assert_eq!(login(&server, "wrong-password-wrong-password"), 401);
    }
    assert_eq!(login(&server, PASSWORD), 429, "the address is backing off");
    // The command writes to the audit trail, which a running server on the same folder holds.
    drop(server);

    let out = unlock(dir.path(), "root");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cleared"));
    let server = RunningServer::start(dir.path(), &slow);
    assert_eq!(login(&server, PASSWORD), 200, "the counters are cleared");
    drop(server);
    let audited: Vec<String> = audit_lines(dir.path())
        .into_iter()
        .filter(|l| l.contains("LoginFailuresCleared"))
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains(r#""actor":"operator""#), "{}", audited[0]);

    let unknown = unlock(dir.path(), "nobody");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));
}

/// `server mail status`: its standard output.
fn mail_status(dir: &std::path::Path) -> String {
    let out = server_command(dir, &[]).args(["mail", "status"]).output().expect("server runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn users(dir: &std::path::Path, command: &str, username: &str) -> std::process::Output {
    server_command(dir, &[])
        .args(["users", command, "--username", username])
        .stdin(Stdio::null())
        .output()
        .expect("server runs")
}

#[test]
fn users_reset_password_and_reset_mfa_are_audited_as_the_operator_and_the_server_sends_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let out = create_admin(dir.path(), Some(&format!("{PASSWORD}\n")), &["--password-stdin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = users(dir.path(), "reset-password", "root");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued a password-reset link"));
    // Queued, not sent: the command has no worker. A server started afterwards sends it.
    assert!(mail_files(dir.path()).is_empty());
    let status = mail_status(dir.path());
    assert!(status.contains("waiting:   1") && status.contains("given up:  0"), "{status}");
    let server = RunningServer::start(dir.path(), &[("APP__SERVER__BIND", "127.0.0.1:0")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mails = loop {
        let mails = mail_files(dir.path());
        if !mails.is_empty() {
            break mails;
        }
        assert!(std::time::Instant::now() < deadline, "the queued link was never sent");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    drop(server);
    assert!(mail_status(dir.path()).contains("waiting:   0"), "the sent row is gone");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("root@example.test") && mails[0].contains("#token="));

    let out = users(dir.path(), "reset-mfa", "root");
    assert!(!out.status.success(), "root has no second factor");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no second factor"));
    let unknown = users(dir.path(), "reset-password", "nobody");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));

    let audited: Vec<String> = audit_lines(dir.path())
        .into_iter()
        .filter(|l| l.contains("PasswordResetRequested"))
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains(r#""actor":"operator""#), "{}", audited[0]);
}
