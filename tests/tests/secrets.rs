//! The secrets commands and the deploy check as an operator uses them: values on stdin, keys
//! handed over once, rotation in the documented order, and exit codes CI can rely on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use e2e::{RunningServer, run_server, server_command};

const DB_URL: &str = "postgres://app:x7Kp2mQ9vL4nR8sTw3Yz@db.internal:5432/app";

fn with_stdin(dir: &Path, vars: &[(&str, &str)], args: &[&str], input: &str) -> Output {
    let mut child = server_command(dir, vars)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `secrets init` in production with a key file, then `set` from stdin.
fn production_file(dir: &Path) -> String {
    std::fs::create_dir(dir.join("config")).unwrap();
    let init = run_server(
        dir,
        &[("APP_ENV", "production")],
        &["secrets", "init", "--key-file", "prod.key"],
    );
    assert!(init.status.success(), "{}", text(&init));
    let key_file = dir.join("prod.key").display().to_string();
    let set = with_stdin(
        dir,
        &[("APP_ENV", "production"), ("APP_MASTER_KEY_FILE", &key_file)],
        &["secrets", "set", "database.url"],
        &format!("{DB_URL}\n"),
    );
    assert!(set.status.success(), "{}", text(&set));
    // The MFA key, made and stored the documented way: `server mfa keygen | server secrets set
    // auth.mfa_keys`.
    let mfa_key = run_server(dir, &[], &["mfa", "keygen"]);
    assert!(mfa_key.status.success(), "{}", text(&mfa_key));
    let set = with_stdin(
        dir,
        &[("APP_ENV", "production"), ("APP_MASTER_KEY_FILE", &key_file)],
        &["secrets", "set", "auth.mfa_keys"],
        &String::from_utf8(mfa_key.stdout).unwrap(),
    );
    assert!(set.status.success(), "{}", text(&set));
    key_file
}

#[test]
fn init_set_show_get_round_trip_without_the_value_ever_in_argv_or_redacted_output() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = production_file(dir.path());
    let vars = [("APP_ENV", "production"), ("APP_MASTER_KEY_FILE", key_file.as_str())];
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("prod.key")), 0o600);
    let raw = std::fs::read_to_string(dir.path().join("config/secrets.production.enc")).unwrap();
    assert!(raw.starts_with("gAAAAA") && !raw.contains("x7Kp2m"));

    let shown = run_server(dir.path(), &vars, &["secrets", "show"]);
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(!text(&shown).contains("x7Kp2m"), "{}", text(&shown));
    assert!(text(&shown).contains("<redacted: "), "{}", text(&shown));

    let revealed = run_server(dir.path(), &vars, &["secrets", "show", "--reveal"]);
    assert!(String::from_utf8_lossy(&revealed.stdout).contains(DB_URL));
    let got = run_server(dir.path(), &vars, &["secrets", "get", "database.url"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim_end(), DB_URL);

    // `set` takes no value argument at all.
    let refused = run_server(dir.path(), &vars, &["secrets", "set", "database.url", DB_URL]);
    assert!(!refused.status.success());
}

#[test]
fn a_wrong_key_is_refused_and_the_file_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let _ = production_file(dir.path());
    let path = dir.path().join("config/secrets.production.enc");
    let before = std::fs::read(&path).unwrap();
    let again = run_server(dir.path(), &[("APP_ENV", "production")], &["secrets", "init"]);
    assert!(!again.status.success(), "init never replaces an existing file");
    assert!(again.stdout.is_empty(), "and hands out no key it will not use");
    let stranger = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    let out = with_stdin(
        dir.path(),
        &[("APP_ENV", "production"), ("APP_MASTER_KEY", stranger)],
        &["secrets", "set", "database.url"],
        "sqlite:///srv/x.db",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no configured key decrypts it"), "{}", text(&out));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn after_rotate_old_key_only_is_refused_new_and_both_work() {
    let dir = tempfile::tempdir().unwrap();
    let old_file = production_file(dir.path());
    let old_key = std::fs::read_to_string(&old_file).unwrap().trim().to_owned();
    let rotate = run_server(
        dir.path(),
        &[("APP_ENV", "production"), ("APP_MASTER_KEY_FILE", &old_file)],
        &["secrets", "rotate", "--key-file", "rotated.keys"],
    );
    assert!(rotate.status.success(), "{}", text(&rotate));
    let order = text(&rotate);
    assert!(
        order.contains("1.") && order.contains("3.") && order.contains("remove OLD"),
        "{order}"
    );
    let list = std::fs::read_to_string(dir.path().join("rotated.keys")).unwrap();
    let keys: Vec<&str> = list.lines().collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1], old_key, "new key first, old key kept");

    // `check` loads the settings exactly as `serve` does.
    let base = [
        ("APP__SERVER__BIND", "127.0.0.1:8080"),
        ("APP_ENV", "production"),
        // Mail as production needs it (SEC-C040 to SEC-C043).
        ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
        ("APP__MAIL__TRANSPORT", "smtp"),
        ("APP__MAIL__SMTP_HOST", "smtp.example.com"),
        ("APP__MAIL__FROM", "no-reply@example.com"),
    ];
    let check = |master: &str| {
        let mut vars = base.to_vec();
        vars.push(("APP_MASTER_KEY", master));
        run_server(dir.path(), &vars, &["check"])
    };
    let old_only = check(&old_key);
    assert!(!old_only.status.success());
    let says = text(&old_only);
    assert!(says.contains("secrets.production.enc") && says.contains("new key must"), "{says}");
    assert!(check(keys[0]).status.success(), "{}", text(&check(keys[0])));
    let both = format!("{},{}", keys[0], keys[1]);
    let out = check(&both);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("secrets file"), "{}", text(&out));
}

#[test]
fn check_deploy_fails_on_errors_with_ids_and_passes_a_sound_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_server(
        dir.path(),
        &[("APP__SERVER__BIND", "0.0.0.0:8080"), ("RUST_LOG", "debug")],
        &["check", "--deploy", "--format", "json"],
    );
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    for id in ["SEC-C001", "SEC-C008", "SEC-C011", "SEC-C012"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert_eq!(report["env"], "production");
    assert!(!dir.path().join("var").exists(), "the check generated nothing");

    let key_file = production_file(dir.path());
    let good = run_server(
        dir.path(),
        &[
            ("APP_MASTER_KEY_FILE", &key_file),
            ("APP__SERVER__BIND", "0.0.0.0:8080"),
            ("APP__SERVER__BEHIND_TLS_PROXY", "true"),
            // Behind a proxy, a sound configuration names it (SEC-C021).
            ("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8"),
            // Mail goes through a relay, with links on the public origin (SEC-C040 to 043).
            ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
            ("APP__MAIL__TRANSPORT", "smtp"),
            ("APP__MAIL__SMTP_HOST", "smtp.example.com"),
            ("APP__MAIL__FROM", "no-reply@example.com"),
        ],
        &["check", "--deploy"],
    );
    assert!(good.status.success(), "{}", text(&good));
    assert!(text(&good).contains("no findings"), "{}", text(&good));
}

#[test]
fn init_works_in_a_fresh_clone_and_names_a_failure_once() {
    // A fresh clone: no `config/`, no `var/`.
    let dir = tempfile::tempdir().unwrap();
    let init = run_server(dir.path(), &[], &["secrets", "init"]);
    assert!(init.status.success(), "{}", text(&init));
    assert!(dir.path().join("config/secrets.development.enc").is_file());

    // `config` exists but is a file: the folder cannot be made, and the OS says why once.
    let blocked = tempfile::tempdir().unwrap();
    std::fs::write(blocked.path().join("config"), "not a folder").unwrap();
    let init = run_server(blocked.path(), &[], &["secrets", "init"]);
    assert!(!init.status.success());
    let shown = text(&init);
    assert_eq!(shown.matches("os error").count(), 1, "{shown}");
}

#[test]
fn development_generates_its_key_once_logs_it_and_reads_the_secrets_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let init = run_server(dir.path(), &[], &["secrets", "init"]);
    assert!(init.status.success(), "{}", text(&init));
    assert!(text(&init).contains("generated a development master key"), "{}", text(&init));
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("var/master.key")), 0o600);
    let set =
        with_stdin(dir.path(), &[], &["secrets", "set", "database.url"], "sqlite://./data/s.db");
    assert!(set.status.success(), "{}", text(&set));

    let mut server = RunningServer::start(dir.path(), &[("APP__SERVER__BIND", "127.0.0.1:0")]);
    assert_eq!(server.get("/readyz").0, 200);
    assert!(dir.path().join("data/s.db").is_file(), "database.url came from the secrets file");
    let log = server.output().join("\n");
    assert!(!log.contains("generated a development master key"), "reused, not regenerated: {log}");

    // Production refuses that key.
    let key = std::fs::read_to_string(dir.path().join("var/master.key")).unwrap();
    assert!(key.starts_with("dev:"));
    let out = run_server(
        dir.path(),
        &[("APP_ENV", "production"), ("APP_MASTER_KEY", key.trim())],
        &["check", "--deploy"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("SEC-C002"), "{}", text(&out));
}
