//! The audit trail and the log files of the real binary: a run leaves a keyed chain that
//! `server audit verify` vouches for, and names the first broken line of once tampered with;
//! the log file is flushed at shutdown; production will not run on a made-up key; and no
//! database password reaches a log or audit file, or the console.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::fs;
use std::path::{Path, PathBuf};

use diesel::{Connection, PgConnection, RunQueryDsl};
use e2e::{RunningServer, run_server};

const ANY_PORT: (&str, &str) = ("APP__SERVER__BIND", "127.0.0.1:0");

fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("var/log/audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Starts the server in `dir`, makes one request and stops it with SIGTERM.
fn one_run(dir: &Path, vars: &[(&str, &str)]) -> Vec<String> {
    let server = RunningServer::start(dir, vars);
    assert_eq!(server.get("/healthz").0, 200);
    let (exit, output) = server.stop_with("TERM");
    assert!(exit.success(), "{exit:?}\n{}", output.join("\n"));
    output
}

#[test]
fn runs_leave_an_audit_chain_that_verify_accepts_and_tampering_is_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    one_run(dir.path(), &[ANY_PORT]);
    one_run(dir.path(), &[ANY_PORT]);

    let ok = run_server(dir.path(), &[], &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout.contains("intact: 4 records in 2 file(s), HMAC-SHA-256 keyed"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("var/log/audit.key")), 0o600);
        assert_eq!(mode(&dir.path().join("var/log/audit")), 0o700);
        for file in audit_files(dir.path()) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    // Record "ServerStopped" of the first run becomes "ServerStarted": line 3 of file 1.
    let files = audit_files(dir.path());
    let original = fs::read_to_string(&files[0]).unwrap();
    fs::write(&files[0], original.replace("ServerStopped", "ServerStarted")).unwrap();
    let broken = run_server(dir.path(), &[], &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{stderr}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr.contains(&format!("{name} line 3: the hash does not match")), "{stderr}");
    fs::write(&files[0], original).unwrap();

    // A file checked on its own, then the first file removed.
    let single = run_server(dir.path(), &[], &["audit", "verify", files[1].to_str().unwrap()]);
    assert!(single.status.success(), "{}", String::from_utf8_lossy(&single.stderr));
    fs::remove_file(&files[0]).unwrap();
    let missing = run_server(dir.path(), &[], &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 1: this file continues file #0, which is missing"), "{stderr}");

    // Without the key a keyed chain cannot be vouched for.
    fs::rename(dir.path().join("var/log/audit.key"), dir.path().join("elsewhere.key")).unwrap();
    let keyless = run_server(dir.path(), &[], &["audit", "verify", files[1].to_str().unwrap()]);
    assert_eq!(keyless.status.code(), Some(1));
    let with_flag = run_server(
        dir.path(),
        &[],
        &["audit", "verify", files[1].to_str().unwrap(), "--key-file", "elsewhere.key"],
    );
    assert!(with_flag.status.success(), "{}", String::from_utf8_lossy(&with_flag.stderr));
}

#[test]
fn the_file_log_is_complete_after_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    one_run(dir.path(), &[ANY_PORT]);
    let mut text = String::new();
    for entry in fs::read_dir(dir.path().join("var/log")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("server.") && name.ends_with(".log") {
            text.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    // The very last lines of the process made it to the file: the guard was flushed.
    assert!(lines.iter().any(|l| l["message"] == "server stopped"), "{text}");
    assert!(
        lines.iter().any(|l| l["event"] == "ServerStopped" && l["target"] == "audit"),
        "{text}"
    );
    let request = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap_or_else(|| panic!("the request was logged: {text}"));
    assert!(request["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{request}");
}

#[test]
fn production_refuses_to_invent_an_audit_key_and_keygen_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    // Production settings that pass every other check.
    fs::create_dir(dir.path().join("config")).unwrap();
    let init = run_server(
        dir.path(),
        &[("APP_ENV", "production")],
        &["secrets", "init", "--key-file", "master.key"],
    );
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let master = dir.path().join("master.key").display().to_string();
    let mfa_key = run_server(dir.path(), &[], &["mfa", "keygen"]);
    assert!(mfa_key.status.success(), "{}", String::from_utf8_lossy(&mfa_key.stderr));
    let mfa_key = String::from_utf8(mfa_key.stdout).unwrap();
    let production = [
        ("APP_ENV", "production"),
        ("APP_MASTER_KEY_FILE", master.as_str()),
        ("APP__AUTH__MFA_KEYS", mfa_key.trim()),
        ("APP__SERVER__BIND", "127.0.0.1:0"),
        ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
        ("APP__MAIL__TRANSPORT", "smtp"),
        ("APP__MAIL__SMTP_HOST", "smtp.example.com"),
        ("APP__MAIL__FROM", "no-reply@example.com"),
        // Never reached: the audit key is checked first.
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
    ];
    let out = run_server(dir.path(), &production, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("log.audit_key_file is not set"), "{stderr}");
    assert!(!dir.path().join("var/log/audit.key").exists(), "no key was made up");

    let keygen = run_server(dir.path(), &[], &["audit", "keygen", "keys/audit.key"]);
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let key = fs::read_to_string(dir.path().join("keys/audit.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    let again = run_server(dir.path(), &[], &["audit", "keygen", "keys/audit.key"]);
    assert!(!again.status.success(), "an existing key is never overwritten");
    assert_eq!(fs::read_to_string(dir.path().join("keys/audit.key")).unwrap(), key);
}

/// Files under `dir` that contain `secret`.
fn files_containing(dir: &Path, secret: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if fs::read(&path).unwrap().windows(secret.len()).any(|w| w == secret.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_database_password_reaches_no_log_audit_file_or_console() {
    let Some(admin) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        #[allow(clippy::print_stderr, reason = "the skip must be visible")]
        {
            eprintln!("SKIPPED a_database_password_reaches_no_log: TEST_DATABASE_URL is not set");
        }
        return;
    };
    let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).unwrap();
    let canary = format!("Canary{}", uuid::Uuid::new_v4().simple());
    // postgres://user@host:port/db -> postgres://user:CANARY@host:port/NAME; the test server
    // trusts local connections, so the password is accepted and only its fate matters.
    let (scheme_user, rest) = admin.split_once('@').expect("user in TEST_DATABASE_URL");
    let host = rest.split_once('/').map_or(rest, |(h, _)| h);
    let url = format!("{scheme_user}:{canary}@{host}/{name}");

    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path(), &[ANY_PORT, ("DATABASE_URL", &url)]);
    let ready = server.get("/readyz");
    let missing = server.get("/nothing/here");
    let (exit, console) = server.stop_with("TERM");
    // A start that fails on the database must not quote the URL either.
    let bad_url = format!("{scheme_user}:{canary}@{host}/no_such_database_{name}");
    let failed = run_server(dir.path(), &[ANY_PORT, ("DATABASE_URL", &bad_url)], &[]);
    // libpq quotes the part of a URL it cannot parse: a malformed escape in the password.
    let malformed_url = format!("{scheme_user}:%zz{canary}@{host}/{name}");
    let malformed = run_server(dir.path(), &[ANY_PORT, ("DATABASE_URL", &malformed_url)], &[]);
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();

    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(missing.0, 404);
    assert!(exit.success());
    assert!(!failed.status.success());
    assert!(!malformed.status.success());
    assert!(console.iter().all(|l| !l.contains(&canary)), "console: {console:?}");
    for stream in [&failed.stdout, &failed.stderr, &malformed.stdout, &malformed.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(&canary));
    }
    let leaks = files_containing(&dir.path().join("var"), &canary);
    assert!(leaks.is_empty(), "{leaks:?}");
    assert!(!audit_files(dir.path()).is_empty(), "the audit files were among those checked");
}

/// Runs `server ARGS` and waits for it to exit on its own (a server that should refuse to
/// start but serves instead is killed, and the test fails).
fn run_to_exit(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut child = e2e::server_command(dir, vars)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!(
        "`server {}` did not exit by itself:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every audit record of the folder, in file order.
fn audit_records(dir: &Path) -> Vec<serde_json::Value> {
    audit_files(dir)
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

/// Production settings that start: keys made by the binary's own commands, SQLite in `dir`.
fn production_vars(dir: &Path) -> Vec<(String, String)> {
    fs::create_dir(dir.join("config")).unwrap();
    let init = run_server(
        dir,
        &[("APP_ENV", "production")],
        &["secrets", "init", "--key-file", "master.key"],
    );
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let mfa_key = run_server(dir, &[], &["mfa", "keygen"]);
    assert!(mfa_key.status.success(), "{}", String::from_utf8_lossy(&mfa_key.stderr));
    let keygen = run_server(dir, &[], &["audit", "keygen", "keys/audit.key"]);
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    // Production refuses a database under the temporary folder (SEC-C009), and this one is under
    // the test's: the server is told of another one.
    let tmp = dir.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let vars = vec![
        ("TMPDIR".to_owned(), tmp.display().to_string()),
        ("APP_ENV".to_owned(), "production".to_owned()),
        ("APP_MASTER_KEY_FILE".to_owned(), dir.join("master.key").display().to_string()),
        (
            "APP__AUTH__MFA_KEYS".to_owned(),
            String::from_utf8(mfa_key.stdout).unwrap().trim().to_owned(),
        ),
        ("APP__LOG__AUDIT_KEY_FILE".to_owned(), dir.join("keys/audit.key").display().to_string()),
        ("APP__SERVER__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("DATABASE_URL".to_owned(), format!("sqlite://{}", dir.join("var/server.db").display())),
        // Mail as production needs it (SEC-C040 to SEC-C043); nothing is sent in these tests.
        ("APP__SERVER__PUBLIC_ORIGIN".to_owned(), "https://app.example.com".to_owned()),
        ("APP__MAIL__TRANSPORT".to_owned(), "smtp".to_owned()),
        ("APP__MAIL__SMTP_HOST".to_owned(), "smtp.example.com".to_owned()),
        ("APP__MAIL__FROM".to_owned(), "no-reply@example.com".to_owned()),
    ];
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let migrate = run_server(dir, &borrowed, &["migrate"]);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    vars
}

#[test]
fn production_refuses_a_trail_that_lost_its_tail_until_an_operator_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    let owned = production_vars(dir.path());
    let vars: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    one_run(dir.path(), &vars);
    let ok = run_server(dir.path(), &vars, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(stdout.contains("recorded head") && stdout.contains("line 3 is present"), "{stdout}");

    // ServerStopped cut away at a line boundary: the chain alone still verifies.
    let files = audit_files(dir.path());
    let newest = files.last().unwrap();
    let text = fs::read_to_string(newest).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    fs::write(newest, kept).unwrap();
    let cut = run_server(dir.path(), &vars, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert_eq!(cut.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 3, which the folder lacks; it ends at line 2"), "{stderr}");

    // The start is refused, and nothing is written into the folder.
    let before = audit_records(dir.path());
    let refused = run_to_exit(dir.path(), &vars, &["serve"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("recorded head is line 3") && stderr.contains("ends at line 2"),
        "{stderr}"
    );
    assert!(stderr.contains("server audit acknowledge"), "{stderr}");
    // A command that records events refuses too.
    let unlock = run_to_exit(dir.path(), &vars, &["users", "unlock", "--username", "nobody"]);
    assert!(!unlock.status.success());
    assert!(String::from_utf8_lossy(&unlock.stderr).contains("server audit acknowledge"));
    assert_eq!(audit_records(dir.path()), before);

    // The operator acknowledges; that is recorded, and the server starts again.
    let ack = run_to_exit(dir.path(), &vars, &["audit", "acknowledge"]);
    assert!(ack.status.success(), "{}", String::from_utf8_lossy(&ack.stderr));
    assert!(String::from_utf8_lossy(&ack.stdout).contains("acknowledged"));
    let last = audit_records(dir.path()).pop().unwrap();
    assert_eq!(
        last["detail"],
        serde_json::json!({
            "finding": "missing", "recorded_seq": 3, "found_seq": 2, "resolution": "acknowledged"
        }),
        "{last}"
    );
    let again = run_to_exit(dir.path(), &vars, &["audit", "acknowledge"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to acknowledge"));
    one_run(dir.path(), &vars);
    let ok = run_server(dir.path(), &vars, &["audit", "verify"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    // The whole folder deleted: refused again, and verify says so.
    fs::remove_dir_all(dir.path().join("var/log/audit")).unwrap();
    let gone = run_server(dir.path(), &vars, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert_eq!(gone.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("which the folder lacks; it ends at line 0"), "{stderr}");
    let refused = run_to_exit(dir.path(), &vars, &["serve"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("server audit acknowledge"));
}
