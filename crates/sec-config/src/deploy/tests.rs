//! Every deploy rule against a fixture that breaks it and one that satisfies it, both loaded
//! through the real loader from files and variables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap is a failed test"
)]

use std::fs;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::keyring::{KeyRing, MasterKey};
use crate::secrets_file::{SecretsDoc, SecretsFile};
use crate::sources::Sources;

const STRONG_URL: &str = "postgres://app:x7Kp2mQ9vL4nR8sTw3Yz@db:5432/app";

fn key() -> String {
    MasterKey::generate().unwrap().encoded().expose_secret().to_owned()
}

/// A production deployment that passes every rule; fixtures change one thing.
struct Fixture {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
    args: Vec<String>,
}

impl Fixture {
    fn production() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("config")).unwrap();
        let vars = [
            ("APP_ENV", "production".to_owned()),
            ("APP__SERVER__BIND", "127.0.0.1:8080".to_owned()),
            ("DATABASE_URL", STRONG_URL.to_owned()),
            (MASTER_KEY_VAR, key()),
            ("APP__AUTH__MFA_KEYS", key()),
            ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com".to_owned()),
            ("APP__MAIL__TRANSPORT", "smtp".to_owned()),
            ("APP__MAIL__SMTP_HOST", "smtp.example.com".to_owned()),
            ("APP__MAIL__FROM", "Example <no-reply@example.com>".to_owned()),
        ];
        let vars = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Self { dir, vars, args: vec!["server".into(), "serve".into()] }
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn unset(mut self, name: &str) -> Self {
        self.vars.retain(|(k, _)| k != name);
        self
    }

    fn file(self, name: &str, text: &str) -> Self {
        fs::write(self.dir.path().join("config").join(name), text).unwrap();
        self
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn ring(&self) -> KeyRing {
        let text = self.vars.iter().find(|(k, _)| k == MASTER_KEY_VAR).unwrap().1.clone();
        KeyRing::parse_list(&text).unwrap()
    }

    /// A key file with `mode` in place of the variable.
    fn key_file(self, mode: u32) -> Self {
        let path = self.path("master.key");
        fs::write(&path, format!("{}\n", key())).unwrap();
        set_mode(Path::new(&path), mode);
        self.unset(MASTER_KEY_VAR).set(MASTER_KEY_FILE_VAR, &path)
    }

    /// A secrets file with `doc`, encrypted with `ring`, with `mode`.
    fn secrets(self, ring: &KeyRing, doc: &SecretsDoc, mode: u32) -> Self {
        let file = SecretsFile::for_env(&self.dir.path().join("config"), AppEnv::Production);
        file.create(ring, doc).unwrap();
        set_mode(file.path(), mode);
        self
    }

    /// TLS served directly, with a fresh ECDSA certificate valid for `days` more days (negative:
    /// expired that long ago) and a key file with `key_mode`.
    fn tls(self, days: i64, key_mode: u32) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let mut params = rcgen::CertificateParams::new(vec!["app.example.com".to_owned()]).unwrap();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now + time::Duration::days(days);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        self.tls_files(&cert.pem(), key_mode)
    }

    /// TLS served directly with the certificate `pem` and a key file with `key_mode` (the rules
    /// never read the key's contents, only its mode).
    fn tls_files(self, pem: &str, key_mode: u32) -> Self {
        let (cert_path, key_path) = (self.path("cert.pem"), self.path("key.pem"));
        fs::write(&cert_path, pem).unwrap();
        fs::write(&key_path, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n").unwrap();
        set_mode(Path::new(&key_path), key_mode);
        self.set("APP__TLS__CERT_FILE", &cert_path).set("APP__TLS__KEY_FILE", &key_path)
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    fn sources(&self) -> Sources {
        let mut s = Sources::new(self.dir.path().join("config"), self.vars.clone());
        s.set_args(self.args.clone());
        s
    }

    fn report(&self) -> Report {
        Report::check(&self.sources())
    }
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

fn doc_with_url(url: &str) -> SecretsDoc {
    let mut d = SecretsDoc::new();
    d.set("database.url", SecretString::from(url)).unwrap();
    d
}

type Build = fn() -> Fixture;

/// (rule id, a fixture that breaks it, a fixture that satisfies it)
const FIXTURES: &[(&str, Build, Build)] = &[
    ("SEC-C001", || Fixture::production().unset(MASTER_KEY_VAR), Fixture::production),
    (
        "SEC-C002",
        || {
            let dev = MasterKey::generate_development().unwrap();
            Fixture::production().set(MASTER_KEY_VAR, dev.encoded().expose_secret())
        },
        Fixture::production,
    ),
    (
        "SEC-C003",
        || Fixture::production().key_file(0o644),
        || Fixture::production().key_file(0o600),
    ),
    (
        "SEC-C004",
        || {
            let f = Fixture::production();
            let ring = f.ring();
            f.secrets(&ring, &doc_with_url(STRONG_URL), 0o664)
        },
        || {
            let f = Fixture::production();
            let ring = f.ring();
            f.secrets(&ring, &doc_with_url(STRONG_URL), 0o644)
        },
    ),
    (
        "SEC-C005",
        || {
            Fixture::production()
                .unset("DATABASE_URL")
                .file("production.toml", &format!("[database]\nurl = \"{STRONG_URL}\"\n"))
        },
        || {
            // A URL without a password is not a secret: fine in a plaintext file.
            Fixture::production()
                .unset("DATABASE_URL")
                .file("production.toml", "[database]\nurl = \"postgres://app@db/app\"\n")
        },
    ),
    (
        "SEC-C006",
        || Fixture::production().args(&["server", "--note", "x7Kp2mQ9vL4nR8sTw3Yz"]),
        || Fixture::production().args(&["server", "serve"]),
    ),
    (
        "SEC-C007",
        || Fixture::production().set("DATABASE_URL", "postgres://app:hunter2@db/app"),
        Fixture::production,
    ),
    ("SEC-C008", || Fixture::production().unset("DATABASE_URL"), Fixture::production),
    (
        "SEC-C009",
        || {
            let url = format!("sqlite://{}", std::env::temp_dir().join("app.db").display());
            Fixture::production().set("DATABASE_URL", &url)
        },
        || Fixture::production().set("DATABASE_URL", "sqlite:///srv/app/app.db"),
    ),
    ("SEC-C010", || Fixture::production().unset("APP__SERVER__BIND"), Fixture::production),
    (
        "SEC-C011",
        || Fixture::production().set("APP__SERVER__BIND", "0.0.0.0:8080"),
        || {
            Fixture::production()
                .set("APP__SERVER__BIND", "0.0.0.0:8080")
                .set("APP__SERVER__BEHIND_TLS_PROXY", "true")
                .set("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8")
        },
    ),
    (
        "SEC-C012",
        || Fixture::production().set("RUST_LOG", "info,server=debug"),
        || Fixture::production().set("RUST_LOG", "info,server=warn"),
    ),
    (
        "SEC-C013",
        || Fixture::production().set("APP__LOG__FORMAT", "pretty"),
        || Fixture::production().set("APP__LOG__FORMAT", "json"),
    ),
    (
        "SEC-C014",
        || {
            let f = Fixture::production();
            let old = f.ring();
            let f = f.secrets(&old, &doc_with_url(STRONG_URL), 0o644);
            let both = old.with_newest(MasterKey::generate().unwrap());
            let list = format!(
                "{},{}",
                both.keys()[0].encoded().expose_secret(),
                both.keys()[1].encoded().expose_secret()
            );
            f.set(MASTER_KEY_VAR, &list)
        },
        || {
            let f = Fixture::production();
            let ring = f.ring();
            f.secrets(&ring, &doc_with_url(STRONG_URL), 0o644)
        },
    ),
    ("SEC-C015", || Fixture::production().set("APP_ENV", "test"), Fixture::production),
    ("SEC-C016", || Fixture::production().tls(90, 0o640), || Fixture::production().tls(90, 0o600)),
    ("SEC-C017", || Fixture::production().tls(-1, 0o600), || Fixture::production().tls(90, 0o600)),
    ("SEC-C018", || Fixture::production().tls(7, 0o600), || Fixture::production().tls(15, 0o600)),
    (
        "SEC-C019",
        || Fixture::production().tls_files(RSA_1024_CERT, 0o600),
        || Fixture::production().tls(90, 0o600),
    ),
    (
        "SEC-C020",
        || {
            Fixture::production()
                .set("APP__CORS__ALLOWED_ORIGINS", "*")
                .set("APP__CORS__ALLOW_CREDENTIALS", "true")
        },
        || {
            Fixture::production()
                .set(
                    "APP__CORS__ALLOWED_ORIGINS",
                    "https://app.example.com, https://admin.example.com",
                )
                .set("APP__CORS__ALLOW_CREDENTIALS", "true")
        },
    ),
    (
        "SEC-C021",
        || {
            Fixture::production()
                .set("APP__SERVER__BIND", "0.0.0.0:8080")
                .set("APP__SERVER__BEHIND_TLS_PROXY", "true")
        },
        || {
            Fixture::production()
                .set("APP__SERVER__BIND", "0.0.0.0:8080")
                .set("APP__SERVER__BEHIND_TLS_PROXY", "true")
                .set("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
        },
    ),
    (
        "SEC-C022",
        || Fixture::production().set("APP__RATE_LIMIT__ENABLED", "false"),
        Fixture::production,
    ),
    (
        "SEC-C023",
        || Fixture::production().set("APP__HEADERS__ENABLED", "false"),
        Fixture::production,
    ),
    (
        "SEC-C024",
        || {
            Fixture::production()
                .tls(90, 0o600)
                .set("APP__TLS__REDIRECT_HTTP_BIND", "0.0.0.0:80")
                .unset("APP__SERVER__PUBLIC_ORIGIN")
        },
        || {
            Fixture::production()
                .tls(90, 0o600)
                .set("APP__TLS__REDIRECT_HTTP_BIND", "0.0.0.0:80")
                .set("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com")
        },
    ),
    ("SEC-C030", || Fixture::production().unset("APP__AUTH__MFA_KEYS"), Fixture::production),
    (
        "SEC-C031",
        || {
            let dev = MasterKey::generate_development().unwrap();
            let list = format!("{},{}", dev.encoded().expose_secret(), key());
            Fixture::production().set("APP__AUTH__MFA_KEYS", &list)
        },
        || {
            // Rotated: the deployment key first, an older deployment key kept to open old
            // secrets.
            let list = format!("{},{}", key(), key());
            Fixture::production().set("APP__AUTH__MFA_KEYS", &list)
        },
    ),
    (
        "SEC-C032",
        || Fixture::production().set("APP__AUTH__ADMIN_REQUIRES_MFA", "false"),
        || Fixture::production().set("APP__AUTH__ADMIN_REQUIRES_MFA", "true"),
    ),
    (
        "SEC-C040",
        || Fixture::production().unset("APP__MAIL__TRANSPORT").unset("APP__MAIL__SMTP_HOST"),
        Fixture::production,
    ),
    (
        "SEC-C041",
        || Fixture::production().unset("APP__MAIL__SMTP_HOST"),
        // A relay on the same machine is fine when it is named.
        || Fixture::production().set("APP__MAIL__SMTP_HOST", "localhost"),
    ),
    (
        "SEC-C042",
        || Fixture::production().unset("APP__MAIL__FROM"),
        || Fixture::production().set("APP__MAIL__FROM", "no-reply@example.com"),
    ),
    ("SEC-C043", || Fixture::production().unset("APP__SERVER__PUBLIC_ORIGIN"), Fixture::production),
];

/// A self-signed certificate for a 1024-bit RSA key, valid until 2126 (made once with
/// `openssl req -x509 -newkey rsa:1024 -days 36500`; its key was thrown away): ring, which
/// the tests could generate keys with, refuses RSA keys this small.
const RSA_1024_CERT: &str = include_str!("fixtures/rsa1024-cert.pem");

fn ids(report: &Report) -> Vec<&'static str> {
    report.findings().iter().map(|f| f.id).collect()
}

#[test]
fn every_rule_has_a_failing_and_a_passing_fixture() {
    for rule in RULES {
        assert!(
            FIXTURES.iter().any(|(id, _, _)| *id == rule.id),
            "{} has no fixture: add one before adding the rule",
            rule.id
        );
    }
    assert_eq!(FIXTURES.len(), RULES.len());
}

#[test]
fn each_failing_fixture_trips_its_rule_and_each_passing_one_does_not() {
    for (id, failing, passing) in FIXTURES {
        let bad = failing().report();
        assert!(ids(&bad).contains(id), "{id}: failing fixture not caught: {}", bad.to_table());
        assert!(!ids(&bad).contains(&LOAD_FAILURE_ID), "{id}: {}", bad.to_table());
        let good = passing().report();
        assert!(
            good.findings().is_empty(),
            "{id}: passing fixture has findings: {}",
            good.to_table()
        );
    }
}

#[test]
fn ids_are_unique_and_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for rule in RULES {
        assert!(seen.insert(rule.id), "duplicate {}", rule.id);
        assert!(rule.id.starts_with("SEC-C") && rule.id.len() == 8, "{}", rule.id);
        assert_ne!(rule.id, LOAD_FAILURE_ID);
    }
}

#[test]
fn production_start_up_refuses_what_the_error_rules_find_and_names_the_fix() {
    let err =
        Settings::load(&Fixture::production().set("APP__SERVER__BIND", "0.0.0.0:80").sources())
            .unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.key(), "server.bind");
    assert_eq!(p.source(), Some("environment variable APP__SERVER__BIND"));
    assert!(p.message().contains("SEC-C011") && p.message().contains("BEHIND_TLS_PROXY"), "{p}");
    // Warnings do not stop it.
    assert!(
        Settings::load(&Fixture::production().set("APP__LOG__FORMAT", "pretty").sources()).is_ok()
    );
}

#[test]
fn development_is_not_held_to_production_rules_but_a_loose_key_file_is_refused_everywhere() {
    let dev = |f: Fixture| f.set("APP_ENV", "development").unset("APP__SERVER__BIND");
    assert!(Settings::load(&dev(Fixture::production()).unset("DATABASE_URL").sources()).is_ok());
    let err = Settings::load(&dev(Fixture::production().key_file(0o640)).sources()).unwrap_err();
    assert!(err.to_string().contains("SEC-C003"), "{err}");
    assert!(err.to_string().contains("0640"), "{err}");
}

#[test]
fn settings_that_do_not_load_are_reported_as_findings_not_a_crash() {
    let report = Fixture::production().set("APP__SERVER__BIND", "nowhere").report();
    assert_eq!(ids(&report), [LOAD_FAILURE_ID]);
    assert!(report.has_errors());
    assert_eq!(report.findings()[0].key, "server.bind");
}

#[test]
fn the_check_assumes_production_when_app_env_is_unset() {
    let report = Fixture::production().unset("APP_ENV").report();
    assert!(report.findings().is_empty(), "{}", report.to_table());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["env"], "production");
    assert_eq!(json["ok"], true);
    assert!(json["pending_checks"].is_array());
}

#[test]
fn the_report_never_contains_a_secret_value() {
    let weak = "postgres://app:hunter2@db/app";
    let f = Fixture::production()
        .set("DATABASE_URL", weak)
        .set("APP__SERVER__BIND", "0.0.0.0:1")
        .file("production.toml", &format!("[database]\nurl = \"{weak}\"\n"))
        .args(&["server", "hunter2"]);
    let master = f.ring().newest().encoded().expose_secret().to_owned();
    let report = f.report();
    assert!(report.has_errors());
    let text = format!("{}{}{report:?}", report.to_table(), report.to_json());
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains(&master[..16]), "{text}");
    for id in ["SEC-C005", "SEC-C006", "SEC-C007", "SEC-C011"] {
        assert!(ids(&report).contains(&id), "{id} missing: {}", report.to_table());
    }
}

#[test]
fn a_key_in_both_the_secrets_file_and_a_plaintext_file_is_a_finding() {
    let f = Fixture::production().unset("DATABASE_URL");
    let ring = f.ring();
    let f = f
        .secrets(&ring, &doc_with_url(STRONG_URL), 0o644)
        .file("default.toml", "[database]\nurl = \"sqlite:///srv/app.db\"\n");
    let report = f.report();
    assert_eq!(ids(&report), ["SEC-C005"], "{}", report.to_table());
    assert!(report.findings()[0].message.contains("default.toml"));
}

#[test]
fn direct_tls_satisfies_the_plain_http_rule_on_a_public_address() {
    let report =
        Fixture::production().set("APP__SERVER__BIND", "0.0.0.0:8443").tls(90, 0o600).report();
    assert!(report.findings().is_empty(), "{}", report.to_table());
}

#[test]
fn production_start_up_refuses_an_expired_certificate_and_a_wildcard_with_credentials_everywhere() {
    let err = Settings::load(&Fixture::production().tls(-3, 0o600).sources()).unwrap_err();
    assert!(err.to_string().contains("SEC-C017"), "{err}");
    let dev = Fixture::production()
        .set("APP_ENV", "development")
        .set("APP__CORS__ALLOWED_ORIGINS", "*")
        .set("APP__CORS__ALLOW_CREDENTIALS", "true");
    let err = Settings::load(&dev.sources()).unwrap_err();
    assert_eq!(err.problems()[0].key(), "cors.allow_credentials");
    assert!(err.to_string().contains("SEC-C020"), "{err}");
}

#[test]
fn a_sender_at_localhost_is_refused_even_when_set_explicitly() {
    let report = Fixture::production().set("APP__MAIL__FROM", "Example <a@localhost>").report();
    assert_eq!(ids(&report), ["SEC-C042"], "{}", report.to_table());
}

#[test]
fn the_smtp_password_comes_from_the_secrets_file_and_is_a_finding_in_a_plaintext_one() {
    let password = "x7Kp2mQ9vL4nR8sTw3Yz-smtp";
    let f = Fixture::production().set("APP__MAIL__SMTP_USERNAME", "mailer");
    let ring = f.ring();
    let mut doc = doc_with_url(STRONG_URL);
    doc.set("mail.smtp_password", SecretString::from(password)).unwrap();
    let f = f.unset("DATABASE_URL").secrets(&ring, &doc, 0o644);
    let settings = Settings::load(&f.sources()).unwrap();
    let crate::MailTransportSetting::Smtp(smtp) = settings.mail().transport() else { panic!() };
    assert_eq!(smtp.password().map(ExposeSecret::expose_secret), Some(password));
    let shown = format!("{settings}{settings:?}");
    assert!(!shown.contains(password), "{shown}");

    let f = Fixture::production()
        .set("APP__MAIL__SMTP_USERNAME", "mailer")
        .file("production.toml", &format!("[mail]\nsmtp_password = \"{password}\"\n"))
        .args(&["server", "--pass", password]);
    let report = f.report();
    let found: Vec<(&str, &str)> =
        report.findings().iter().map(|f| (f.id, f.key.as_str())).collect();
    assert!(found.contains(&("SEC-C005", "mail.smtp_password")), "{}", report.to_table());
    assert!(found.contains(&("SEC-C006", "mail.smtp_password")), "{}", report.to_table());
    let text = format!("{}{}", report.to_table(), report.to_json());
    assert!(!text.contains(password), "{text}");
}
