//! The settings the shipped deploy files give the server pass its own deploy check: the
//! Kubernetes `server.env`, the Compose file's server environment and the systemd unit's
//! `Environment=` lines each run `server check --deploy` and must produce no finding. The
//! image's and the Compose file's health checks run `server probe` on those settings.
//!
//! Paths of key files and folders are replaced by files of this test (the real ones exist only
//! in a deployment), and the database URL comes from where each target keeps it (a Secret, the
//! encrypted secrets file); every other setting is the file's own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;

use e2e::run_server;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `KEY=value` lines of a Kubernetes env file.
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not KEY=value: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The `x-server-environment` block of the Compose file and the server service's additions
/// (two-space `KEY: value` lines; the file keeps them that simple).
fn compose_environment(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line.starts_with("x-server-environment:") {
            break;
        }
    }
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        vars.extend(yaml_pair(line.trim()));
    }
    // The server service adds to the shared block.
    let service = text.split("\n  server:\n").nth(1).expect("a server service");
    let env = service.split("environment:\n").nth(1).expect("its environment");
    for line in env.lines().take_while(|l| l.starts_with("      ")) {
        vars.extend(yaml_pair(line.trim()));
    }
    vars
}

fn yaml_pair(line: &str) -> Option<(String, String)> {
    if line.starts_with('#') || line.starts_with("<<") {
        return None;
    }
    let (k, v) = line.split_once(": ")?;
    Some((k.to_owned(), v.trim_matches('"').to_owned()))
}

/// `Environment=KEY=value` lines of the systemd unit.
fn systemd_environment(text: &str) -> Vec<(String, String)> {
    env_file(
        &text.lines().filter_map(|l| l.strip_prefix("Environment=")).collect::<Vec<_>>().join("\n"),
    )
}

/// What the deploy check reports for `vars`, with the deployment's files replaced by this
/// test's ([`deployment_env`]).
fn findings(target: &str, vars: Vec<(String, String)>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let env = deployment_env(target, root, vars);
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run_server(root, &vars, &["check", "--deploy", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{target}: no JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr))
    });
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}: {}", f["id"], f["key"], f["message"]))
        .collect()
}

/// `vars` with the deployment's files replaced by files this test makes in `root`: a
/// production master key (and `root/config`, an encrypted secrets file), an audit key, an MFA
/// key, a log folder, a database URL file.
fn deployment_env(target: &str, root: &Path, vars: Vec<(String, String)>) -> Vec<(String, String)> {
    std::fs::create_dir(root.join("config")).unwrap();
    let init = run_server(
        root,
        &[("APP_ENV", "production")],
        &["secrets", "init", "--key-file", "prod.key"],
    );
    assert!(init.status.success(), "{target}: {}", String::from_utf8_lossy(&init.stderr));
    let key_file = root.join("prod.key");
    let audit_key = root.join("audit.key");
    write_owner_only(&audit_key, &format!("{}\n", "5e".repeat(32)));
    let keygen = run_server(root, &[], &["mfa", "keygen"]);
    assert!(keygen.status.success(), "{target}: {}", String::from_utf8_lossy(&keygen.stderr));
    let mfa_keys = root.join("mfa.keys");
    write_owner_only(&mfa_keys, &String::from_utf8(keygen.stdout).unwrap());
    let log_dir = root.join("log");
    let database_url = root.join("database-url");
    write_owner_only(&database_url, "postgres://app:x7Kp2mQ9vL4nR8sTw3Yz@db.internal:5432/app\n");

    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in vars {
        let v = match k.as_str() {
            "APP_MASTER_KEY_FILE" => path(&key_file),
            "APP__LOG__AUDIT_KEY_FILE" => path(&audit_key),
            "APP__AUTH__MFA_KEYS_FILE" => path(&mfa_keys),
            "APP__LOG__DIR" => path(&log_dir),
            "APP__DATABASE__URL_FILE" => path(&database_url),
            // Compose reads the password from a pgpass file of the deployment.
            "DATABASE_URL" => "postgres://app@postgres:5432/app?sslmode=disable".to_owned(),
            _ => v,
        };
        env.push((k, v));
    }
    if !env.iter().any(|(k, _)| k == "DATABASE_URL" || k == "APP__DATABASE__URL_FILE") {
        // systemd keeps it in the encrypted secrets file (Kubernetes: a file from the Secret).
        env.push(("DATABASE_URL".to_owned(), "postgres://app@db.internal:5432/app".to_owned()));
    }
    env
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn write_owner_only(p: &Path, content: &str) {
    std::fs::write(p, content).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[test]
fn the_kubernetes_settings_pass_the_deploy_check() {
    let vars = env_file(&repo_file("deploy/k8s/base/server.env"));
    let proxies = vars
        .iter()
        .find(|(k, _)| k == "APP__SERVER__TRUSTED_PROXIES")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no trusted proxies: {vars:?}"));
    // Narrower than "every private range": no pod of another namespace, node or VPC host
    // outside the pod network may name the client.
    for broad in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"] {
        assert!(!proxies.split(',').any(|p| p.trim() == broad), "{proxies} trusts {broad}");
    }
    let found = findings("kubernetes", vars);
    assert!(found.is_empty(), "deploy/k8s/base/server.env: {found:#?}");
}

#[test]
fn the_compose_settings_pass_the_deploy_check() {
    let vars = compose_environment(&repo_file("deploy/compose/compose.yaml"));
    for key in [
        "APP_ENV",
        "APP__SERVER__TRUSTED_PROXIES",
        "APP__LOG__AUDIT_KEY_FILE",
        "APP__AUTH__MFA_KEYS_FILE",
    ] {
        assert!(vars.iter().any(|(k, _)| k == key), "{key} not read from compose.yaml: {vars:?}");
    }
    let found = findings("compose", vars);
    assert!(found.is_empty(), "deploy/compose/compose.yaml: {found:#?}");
}

#[test]
fn the_systemd_settings_pass_the_deploy_check() {
    let vars = systemd_environment(&repo_file("deploy/systemd/server.service"));
    assert!(vars.iter().any(|(k, _)| k == "APP_ENV"), "{vars:?}");
    let found = findings("systemd", vars);
    assert!(found.is_empty(), "deploy/systemd/server.service: {found:#?}");
}

#[test]
fn the_deploy_check_would_see_a_missing_trusted_proxy_or_mfa_key() {
    // The test above can fail: without the setting, the Kubernetes file draws SEC-C021.
    let vars: Vec<(String, String)> = env_file(&repo_file("deploy/k8s/base/server.env"))
        .into_iter()
        .filter(|(k, _)| k != "APP__SERVER__TRUSTED_PROXIES")
        .collect();
    let found = findings("kubernetes without trusted proxies", vars);
    assert!(found.iter().any(|f| f.contains("SEC-C021")), "{found:#?}");
    // And without the MFA key file, SEC-C030.
    let vars: Vec<(String, String)> = env_file(&repo_file("deploy/k8s/base/server.env"))
        .into_iter()
        .filter(|(k, _)| k != "APP__AUTH__MFA_KEYS_FILE")
        .collect();
    let found = findings("kubernetes without an MFA key", vars);
    assert!(found.iter().any(|f| f.contains("SEC-C030")), "{found:#?}");
}

/// The `HEALTHCHECK` instruction of the Dockerfile: its command (exec form) and `--timeout`.
fn dockerfile_healthcheck(text: &str) -> (Vec<String>, String) {
    let start = text.find("\nHEALTHCHECK ").expect("a HEALTHCHECK instruction");
    let mut instruction = String::new();
    for line in text[start + 1..].lines() {
        instruction.push_str(line.trim_end_matches('\\'));
        if !line.ends_with('\\') {
            break;
        }
    }
    let (options, command) = instruction.split_once(" CMD ").expect("HEALTHCHECK ... CMD [...]");
    let timeout = options
        .split_whitespace()
        .find_map(|o| o.strip_prefix("--timeout="))
        .expect("HEALTHCHECK --timeout=");
    (serde_json::from_str(command.trim()).expect("exec form"), timeout.to_owned())
}

/// The `healthcheck` of the Compose file's server service: its `test` and `timeout`.
fn compose_healthcheck(text: &str) -> (Vec<String>, String) {
    let service = text.split("\n  server:\n").nth(1).expect("a server service");
    let service = service.split("\n\n").next().unwrap();
    let check = service.split("    healthcheck:\n").nth(1).expect("its healthcheck");
    let field = |name: &str| {
        check
            .lines()
            .take_while(|l| l.starts_with("      "))
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("healthcheck {name}"))
            .to_owned()
    };
    let test: Vec<String> = serde_json::from_str(&field("test: ")).expect("a JSON-style list");
    assert_eq!(test.first().map(String::as_str), Some("CMD"), "{test:?}");
    (test[1..].to_vec(), field("timeout: "))
}

/// Seconds of a Docker duration such as `5s`.
fn seconds(duration: &str) -> u64 {
    duration.strip_suffix('s').and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{duration}"))
}

#[test]
fn the_image_and_compose_health_checks_run_server_probe_on_the_deployed_settings() {
    let compose = repo_file("deploy/compose/compose.yaml");
    for (target, (command, timeout)) in [
        ("Dockerfile", dockerfile_healthcheck(&repo_file("deploy/docker/Dockerfile"))),
        ("compose.yaml", compose_healthcheck(&compose)),
    ] {
        assert_eq!(command[..2], ["/usr/local/bin/server", "probe"], "{target}: {command:?}");
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        // The probe gives up, and says why, before Docker kills it.
        let own = args
            .iter()
            .position(|a| *a == "--timeout")
            .map_or(3, |i| args[i + 1].parse::<u64>().unwrap());
        assert!(own < seconds(&timeout), "{target}: probe timeout {own} s, check {timeout}");

        // The command line as the container runs it, on the compose server's production
        // settings: the settings load (read-only), and the probe dials the container's own
        // loopback port. Whatever answers there on this machine, the line names the address.
        let dir = tempfile::tempdir().unwrap();
        let env = deployment_env(target, dir.path(), compose_environment(&compose));
        let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = run_server(dir.path(), &vars, &args);
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{target}: {:?} {report}", out.status);
        assert!(report.contains("127.0.0.1:8080"), "{target}: {report}");
        assert!(!report.contains("settings"), "{target}: {report}");
    }
}
