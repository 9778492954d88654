//! Tests of layer precedence, validation and the production refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap is a failed test"
)]

use std::fs;
use std::path::Path;

use super::*;
use sec_core::Origin;

fn load(dir: &Path, vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::load(&Sources::new(dir, vars.iter().copied()))
}

/// What production needs for mail (SEC-C040 to SEC-C043), for tests about something else.
const PRODUCTION_MAIL: [(&str, &str); 4] = [
    ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com"),
    ("APP__MAIL__TRANSPORT", "smtp"),
    ("APP__MAIL__SMTP_HOST", "smtp.example.com"),
    ("APP__MAIL__FROM", "Example <no-reply@example.com>"),
];

fn keys(err: &SettingsError) -> Vec<&str> {
    err.problems().iter().map(Problem::key).collect()
}

#[test]
fn an_empty_directory_and_no_variables_give_the_development_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    assert_eq!(s.env(), AppEnv::Development);
    assert_eq!(s.server().bind(), "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.database().target().describe(), "sqlite ./var/server.db");
    assert!(s.database().migrate_on_start());
    assert_eq!(s.log().dir(), Path::new("./var/log"));
    assert_eq!(s.log().format(), LogFormat::Pretty);
    // docs/configuration.md: twice the cores, from 4 to 10.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let pool = s.database().pool_max_size();
    assert!((4..=10).contains(&pool), "{pool}");
    assert_eq!(usize::try_from(pool).unwrap(), (cores * 2).clamp(4, 10));
}

#[test]
fn each_layer_overrides_the_one_below() {
    // (files present, variable set) -> expected bind port
    let cases: &[(bool, bool, bool, u16)] = &[
        (false, false, false, 8080),
        (true, false, false, 1001),
        (true, true, false, 1002),
        (false, true, false, 1002),
        (true, true, true, 1003),
        (false, false, true, 1003),
    ];
    for &(default_file, env_file, var, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        if default_file {
            fs::write(dir.path().join("default.toml"), "[server]\nbind = \"127.0.0.1:1001\"\n")
                .unwrap();
        }
        if env_file {
            fs::write(dir.path().join("test.toml"), "[server]\nbind = \"127.0.0.1:1002\"\n")
                .unwrap();
        }
        let mut vars = vec![("APP_ENV", "test")];
        if var {
            vars.push(("APP__SERVER__BIND", "127.0.0.1:1003"));
        }
        let s = load(dir.path(), &vars).unwrap();
        assert_eq!(s.server().bind().port(), want, "layers {default_file} {env_file} {var}");
    }
}

#[test]
fn a_file_for_another_environment_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("production.toml"), "[server]\nbind = \"0.0.0.0:9\"\n").unwrap();
    let s = load(dir.path(), &[("APP_ENV", "development")]).unwrap();
    assert_eq!(s.server().bind().port(), 8080);
}

#[test]
fn a_mistyped_variable_under_the_prefix_is_reported_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), &[("APP__SERVR__BIND", "0.0.0.0:1"), ("APP__LOG__LEVL", "x")])
        .unwrap_err();
    assert_eq!(keys(&err), ["APP__LOG__LEVL", "APP__SERVR__BIND"]);
    assert!(err.problems()[0].message().contains("log.level"), "{err}");
}

#[test]
fn an_unknown_key_in_a_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("default.toml"), "[server]\nbnd = \"127.0.0.1:1\"\n").unwrap();
    let err = load(dir.path(), &[]).unwrap_err();
    assert!(err.to_string().contains("bnd"), "{err}");
}

#[test]
fn every_invalid_value_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        dir.path(),
        &[
            ("APP__SERVER__BIND", "localhost"),
            ("APP__DATABASE__POOL_MAX_SIZE", "0"),
            ("APP__LOG__FORMAT", "xml"),
            ("DATABASE_URL", "mysql://db/app"),
        ],
    )
    .unwrap_err();
    let mut got = keys(&err);
    got.sort_unstable();
    assert_eq!(
        got,
        ["database.pool_max_size", "database.url", "log.format", "server.bind"],
        "{err}"
    );
}

#[test]
fn database_url_is_an_alias_and_a_disagreement_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[("DATABASE_URL", "sqlite://./x.db")]).unwrap();
    assert_eq!(s.database().target().describe(), "sqlite ./x.db");
    let same = [("DATABASE_URL", "sqlite://./x.db"), ("APP__DATABASE__URL", "sqlite://./x.db")];
    assert!(load(dir.path(), &same).is_ok());
    let err = load(
        dir.path(),
        &[("DATABASE_URL", "sqlite://./x.db"), ("APP__DATABASE__URL", "sqlite://./y.db")],
    )
    .unwrap_err();
    assert_eq!(keys(&err), ["DATABASE_URL"]);
}

#[test]
fn an_unknown_app_env_is_refused_rather_than_defaulted() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), &[("APP_ENV", "prod")]).unwrap_err();
    assert_eq!(keys(&err), ["APP_ENV"]);
}

#[test]
fn production_refuses_development_defaults_and_names_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), &[("APP_ENV", "production")]).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "APP_MASTER_KEY",
            "database.url",
            "server.bind",
            "auth.mfa_keys",
            "mail.transport",
            "mail.from",
            "server.public_origin"
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("DATABASE_URL") && text.contains("APP__SERVER__BIND"), "{text}");
}

#[test]
fn production_accepts_explicit_settings_and_defaults_to_json_logs_without_auto_migration() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        &[
            ("APP_ENV", "production"),
            ("APP__SERVER__BIND", "0.0.0.0:8080"),
            ("APP__SERVER__BEHIND_TLS_PROXY", "true"),
            ("DATABASE_URL", "postgres://app@db/app"),
            ("APP_MASTER_KEY", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="),
            ("APP__AUTH__MFA_KEYS", "Zl8yJz1sX3Z0aW9uX2tleV9mb3JfbWZhX3Rlc3RzISE="),
            PRODUCTION_MAIL[0],
            PRODUCTION_MAIL[1],
            PRODUCTION_MAIL[2],
            PRODUCTION_MAIL[3],
        ],
    )
    .unwrap();
    assert_eq!(s.log().format(), LogFormat::Json);
    assert!(!s.database().migrate_on_start());
}

#[test]
fn production_refuses_sqlite_in_the_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", std::env::temp_dir().join("app.db").display());
    let err = load(
        dir.path(),
        &[
            ("APP_ENV", "production"),
            ("APP__SERVER__BIND", "127.0.0.1:8080"),
            ("DATABASE_URL", &url),
            ("APP_MASTER_KEY", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="),
            ("APP__AUTH__MFA_KEYS", "Zl8yJz1sX3Z0aW9uX2tleV9mb3JfbWZhX3Rlc3RzISE="),
            PRODUCTION_MAIL[0],
            PRODUCTION_MAIL[1],
            PRODUCTION_MAIL[2],
            PRODUCTION_MAIL[3],
        ],
    )
    .unwrap_err();
    assert_eq!(keys(&err), ["database.url"], "{err}");
}

#[test]
fn rust_log_overrides_the_configured_level() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        load(dir.path(), &[("APP__LOG__LEVEL", "warn"), ("RUST_LOG", "debug,actix=info")]).unwrap();
    assert_eq!(s.log().filter(), "debug,actix=info");
}

#[test]
fn neither_debug_output_nor_errors_contain_the_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://app:canary-Zq7xP@db:5432/app";
    let s = load(dir.path(), &[("DATABASE_URL", url)]).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("canary-Zq7xP"), "{shown}");

    let err =
        load(dir.path(), &[("DATABASE_URL", url), ("APP__DATABASE__URL", "postgres://other")])
            .unwrap_err();
    assert!(!err.to_string().contains("canary-Zq7xP"));
}

#[test]
fn log_rotation_size_and_audit_key_file_have_defaults_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    assert_eq!(s.log().rotation(), LogRotation::Daily);
    assert_eq!(s.log().max_file_bytes(), 100 * 1024 * 1024);
    assert_eq!(s.log().audit_key_file(), None);

    let s = load(
        dir.path(),
        &[
            ("APP__LOG__ROTATION", "hourly"),
            ("APP__LOG__MAX_FILE_MB", "5"),
            ("APP__LOG__AUDIT_KEY_FILE", "/run/secrets/audit.key"),
        ],
    )
    .unwrap();
    assert_eq!(s.log().rotation(), LogRotation::Hourly);
    assert_eq!(s.log().max_file_bytes(), 5 * 1024 * 1024);
    assert_eq!(s.log().audit_key_file(), Some(Path::new("/run/secrets/audit.key")));

    let err = load(
        dir.path(),
        &[
            ("APP__LOG__ROTATION", "weekly"),
            ("APP__LOG__MAX_FILE_MB", "0"),
            ("APP__LOG__AUDIT_KEY_FILE", " "),
        ],
    )
    .unwrap_err();
    let mut got = keys(&err);
    got.sort_unstable();
    assert_eq!(got, ["log.audit_key_file", "log.max_file_mb", "log.rotation"], "{err}");
}

#[test]
fn http_layer_settings_have_safe_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    assert_eq!(s.server().public_origin(), None);
    assert!(s.server().trusted_proxies().is_empty());
    assert_eq!(s.server().client_ip_header(), ClientIpHeader::XForwardedFor);
    let limits = s.limits();
    assert_eq!(limits.max_url_bytes(), 8192);
    assert_eq!(limits.client_request_timeout(), Duration::from_secs(5));
    assert_eq!(limits.client_disconnect_timeout(), Duration::from_secs(1));
    assert_eq!(limits.keep_alive(), Some(Duration::from_secs(5)));
    assert_eq!(limits.max_connections(), 25_000);
    assert_eq!(limits.max_connection_rate(), 256);
    let headers = s.headers();
    assert!(headers.enabled());
    assert_eq!(headers.hsts_max_age_secs(), 63_072_000);
    assert!(headers.hsts_include_subdomains() && !headers.hsts_preload());
    assert_eq!(headers.page_csp(), DEFAULT_PAGE_CSP);
    assert!(s.csrf().allowed_origins().is_empty());
    assert_eq!(s.cors().origins(), &CorsOrigins::Disabled);
    assert!(!s.cors().allow_credentials());
    assert_eq!(s.cors().max_age_secs(), 600);
    let rl = s.rate_limit();
    assert!(rl.enabled());
    assert_eq!((rl.per_second().get(), rl.burst().get()), (100, 200));
    assert_eq!((rl.auth_per_minute().get(), rl.auth_burst().get()), (10, 5));
    assert_eq!((rl.csp_report_per_second().get(), rl.csp_report_burst().get()), (2, 20));
    assert!(!s.tls().enabled());
    assert_eq!(s.tls().redirect_http_bind(), None);
}

#[test]
fn list_settings_take_a_comma_separated_variable_or_a_toml_array() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        &[
            ("APP__SERVER__TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,"),
            ("APP__CSRF__ALLOWED_ORIGINS", "https://www.example.com"),
            ("APP__CORS__ALLOWED_ORIGINS", "https://a.example.com:443,http://localhost:3000"),
        ],
    )
    .unwrap();
    let proxies = s.server().trusted_proxies();
    assert_eq!(proxies.networks(), ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    assert!(proxies.contains("10.1.2.3".parse().unwrap()));
    assert!(proxies.contains("::ffff:192.0.2.7".parse().unwrap()), "IPv4-mapped form counts");
    assert!(!proxies.contains("192.0.2.8".parse().unwrap()));
    assert_eq!(s.csrf().allowed_origins()[0].as_str(), "https://www.example.com");
    let CorsOrigins::List(list) = s.cors().origins() else { panic!("a list") };
    let list: Vec<&str> = list.iter().map(Origin::as_str).collect();
    assert_eq!(list, ["https://a.example.com", "http://localhost:3000"]);

    fs::write(
        dir.path().join("default.toml"),
        "[server]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n\
         [cors]\nallowed_origins = [\"*\"]\n",
    )
    .unwrap();
    let s = load(dir.path(), &[]).unwrap();
    assert_eq!(s.server().trusted_proxies().networks(), ["127.0.0.1/32", "::1/128"]);
    assert_eq!(s.cors().origins(), &CorsOrigins::Any);
    // An empty variable is an empty list, not an error.
    let s = load(dir.path(), &[("APP__SERVER__TRUSTED_PROXIES", "")]).unwrap();
    assert!(s.server().trusted_proxies().is_empty());
}

#[test]
fn http_layer_settings_are_validated_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        dir.path(),
        &[
            ("APP__SERVER__PUBLIC_ORIGIN", "https://app.example.com/login"),
            ("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
            ("APP__SERVER__CLIENT_IP_HEADER", "x-real-ip"),
            ("APP__LIMITS__MAX_URL_BYTES", "10"),
            ("APP__LIMITS__CLIENT_REQUEST_TIMEOUT_MS", "0"),
            ("APP__HEADERS__PAGE_CSP", "default-src 'self' 'unsafe-inline'"),
            ("APP__CSRF__ALLOWED_ORIGINS", "null"),
            ("APP__CORS__ALLOWED_ORIGINS", "*,https://a.example.com"),
            ("APP__RATE_LIMIT__BURST", "0"),
            ("APP__TLS__CERT_FILE", "cert.pem"),
        ],
    )
    .unwrap_err();
    let mut got = keys(&err);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "cors.allowed_origins",
            "csrf.allowed_origins",
            "headers.page_csp",
            "limits.client_request_timeout_ms",
            "limits.max_url_bytes",
            "rate_limit.burst",
            "server.client_ip_header",
            "server.public_origin",
            "server.trusted_proxies",
            "tls.key_file",
        ],
        "{err}"
    );
}

#[test]
fn tls_and_its_redirect_listener_are_read_together() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(
        dir.path(),
        &[
            ("APP__SERVER__PUBLIC_ORIGIN", "HTTPS://App.Example.com:443/"),
            ("APP__TLS__CERT_FILE", "var/tls/cert.pem"),
            ("APP__TLS__KEY_FILE", "var/tls/key.pem"),
            ("APP__TLS__REDIRECT_HTTP_BIND", "127.0.0.1:8081"),
            ("APP__LIMITS__KEEP_ALIVE_SECS", "0"),
        ],
    )
    .unwrap();
    assert_eq!(s.server().public_origin().unwrap().as_str(), "https://app.example.com");
    let files = s.tls().files().unwrap();
    assert_eq!(files.cert_file(), Path::new("var/tls/cert.pem"));
    assert_eq!(files.key_file(), Path::new("var/tls/key.pem"));
    assert_eq!(s.tls().redirect_http_bind(), Some("127.0.0.1:8081".parse().unwrap()));
    assert_eq!(s.limits().keep_alive(), None);

    // A redirect listener needs HTTPS to redirect to, and its own address.
    let err = load(dir.path(), &[("APP__TLS__REDIRECT_HTTP_BIND", "127.0.0.1:8081")]).unwrap_err();
    assert_eq!(keys(&err), ["tls.redirect_http_bind"]);
    let err = load(
        dir.path(),
        &[
            ("APP__TLS__CERT_FILE", "c.pem"),
            ("APP__TLS__KEY_FILE", "k.pem"),
            ("APP__TLS__REDIRECT_HTTP_BIND", "127.0.0.1:8080"),
        ],
    )
    .unwrap_err();
    assert_eq!(keys(&err), ["tls.redirect_http_bind"]);
}

#[test]
fn hsts_preload_needs_subdomains_and_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        dir.path(),
        &[("APP__HEADERS__HSTS_PRELOAD", "true"), ("APP__HEADERS__HSTS_MAX_AGE_SECS", "86400")],
    )
    .unwrap_err();
    assert_eq!(keys(&err), ["headers.hsts_preload"]);
    let s = load(dir.path(), &[("APP__HEADERS__HSTS_PRELOAD", "true")]).unwrap();
    assert!(s.headers().hsts_preload());
}

#[test]
fn mfa_settings_have_safe_defaults_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    assert_eq!(s.auth().reauth_window_secs(), 600);
    assert!(s.auth().admin_requires_mfa());
    assert_eq!(s.auth().totp_issuer(), "server");
    // A hand-built `Sources` has no var folder: no key is generated.
    assert!(s.auth().mfa_keys().is_none());

    let err = load(
        dir.path(),
        &[
            ("APP__AUTH__TOTP_ISSUER", "Acme:Corp"),
            ("APP__AUTH__REAUTH_WINDOW_SECS", "5"),
            ("APP__AUTH__MFA_KEYS", "canary-not-a-key"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        keys(&err),
        ["auth.reauth_window_secs", "auth.totp_issuer", "auth.mfa_keys"],
        "{err}"
    );
    assert!(!err.to_string().contains("canary"), "{err}");

    let key = crate::keyring::MasterKey::generate().unwrap();
    let s = load(
        dir.path(),
        &[
            ("APP__AUTH__TOTP_ISSUER", "Acme Corp"),
            ("APP__AUTH__ADMIN_REQUIRES_MFA", "false"),
            ("APP__AUTH__MFA_KEYS", secrecy::ExposeSecret::expose_secret(key.encoded())),
        ],
    )
    .unwrap();
    assert_eq!(s.auth().totp_issuer(), "Acme Corp");
    assert!(!s.auth().admin_requires_mfa());
    assert_eq!(s.auth().mfa_keys().unwrap().keys().len(), 1);
    assert!(!format!("{s:?}").contains(secrecy::ExposeSecret::expose_secret(key.encoded())));
}

#[test]
fn the_mfa_keys_can_come_from_an_owner_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::keyring::MasterKey::generate().unwrap();
    let encoded = secrecy::ExposeSecret::expose_secret(key.encoded()).to_owned();
    let file = dir.path().join("mfa-keys");
    crate::atomic::create_new(&file, format!("{encoded}\n").as_bytes(), 0o600).unwrap();
    let path = file.display().to_string();

    let s = load(dir.path(), &[("APP__AUTH__MFA_KEYS_FILE", &path)]).unwrap();
    let ring = s.auth().mfa_keys().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(ring.newest().encoded()), encoded);

    // Both the list and the file: which one wins would be a guess.
    let err =
        load(dir.path(), &[("APP__AUTH__MFA_KEYS_FILE", &path), ("APP__AUTH__MFA_KEYS", &encoded)])
            .unwrap_err();
    assert_eq!(keys(&err), ["auth.mfa_keys_file"], "{err}");
    assert!(!err.to_string().contains(&encoded), "{err}");

    // Missing, not a key, or readable by others: refused, and the key is never in the message.
    let missing = dir.path().join("nope").display().to_string();
    let err = load(dir.path(), &[("APP__AUTH__MFA_KEYS_FILE", &missing)]).unwrap_err();
    assert_eq!(keys(&err), ["auth.mfa_keys_file"], "{err}");
    let junk = dir.path().join("junk");
    crate::atomic::create_new(&junk, b"canary-not-a-key\n", 0o600).unwrap();
    let err =
        load(dir.path(), &[("APP__AUTH__MFA_KEYS_FILE", &junk.display().to_string())]).unwrap_err();
    assert_eq!(keys(&err), ["auth.mfa_keys_file"], "{err}");
    assert!(!err.to_string().contains("canary"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let err = load(dir.path(), &[("APP__AUTH__MFA_KEYS_FILE", &path)]).unwrap_err();
        assert_eq!(keys(&err), ["auth.mfa_keys_file"], "{err}");
        assert!(err.to_string().contains("owner-only"), "{err}");
        assert!(!err.to_string().contains(&encoded), "{err}");
    }
}

#[test]
fn development_generates_an_mfa_key_once_and_test_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let sources = |env: &str| {
        let mut s = Sources::new(dir.path().join("config"), [("APP_ENV", env)]);
        s.set_var_dir(dir.path().join("var"));
        s
    };
    let first = Settings::load(&sources("development")).unwrap();
    let ring = first.auth().mfa_keys().unwrap();
    assert!(ring.has_development_key());
    assert!(first.inspection().notes().iter().any(|n| n.contains(DEV_MFA_KEY_FILE)));
    let second = Settings::load(&sources("development")).unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(second.auth().mfa_keys().unwrap().newest().encoded()),
        secrecy::ExposeSecret::expose_secret(ring.newest().encoded()),
        "reused, so sealed secrets stay readable across restarts"
    );
    #[cfg(unix)]
    assert_eq!(
        crate::atomic::mode_of(&dir.path().join("var").join(DEV_MFA_KEY_FILE)).unwrap(),
        Some(0o600)
    );
    let test_env = Settings::load(&sources("test")).unwrap();
    assert!(test_env.auth().mfa_keys().is_none());
}

#[test]
fn read_only_sources_read_the_development_keys_but_never_create_them() {
    let dir = tempfile::tempdir().unwrap();
    let sources = |read_only: bool| {
        let mut s = Sources::new(dir.path().join("config"), [("APP_ENV", "development")]);
        s.set_var_dir(dir.path().join("var"));
        if read_only {
            s.set_read_only();
        }
        s
    };
    let before = Settings::load(&sources(true)).unwrap();
    assert!(!dir.path().join("var").exists(), "nothing created");
    assert!(before.auth().mfa_keys().is_none() && before.master_keys().is_none());

    // Once a server has made them, a read-only load uses the same keys.
    let made = Settings::load(&sources(false)).unwrap();
    let after = Settings::load(&sources(true)).unwrap();
    let newest = |s: &Settings| {
        secrecy::ExposeSecret::expose_secret(s.auth().mfa_keys().unwrap().newest().encoded())
            .to_owned()
    };
    assert_eq!(newest(&after), newest(&made));
    assert!(after.master_keys().is_some_and(crate::keyring::KeyRing::has_development_key));
}

#[test]
fn account_settings_have_the_documented_defaults_and_refuse_weak_or_inconsistent_values() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    let a = s.auth();
    assert_eq!((a.session_idle_timeout_secs(), a.session_absolute_timeout_secs()), (1800, 43_200));
    assert_eq!(a.password_min_chars(), 15);
    assert_eq!(
        (a.argon2_memory_kib(), a.argon2_iterations(), a.argon2_parallelism()),
        (19_456, 2, 1)
    );
    assert_eq!((a.throttle_base_delay_secs(), a.throttle_max_delay_secs()), (1, 900));
    assert_eq!(a.hash_concurrency(), None);
    assert_eq!(a.hash_queue(), 64);

    let err = load(
        dir.path(),
        &[
            ("APP__AUTH__SESSION_IDLE_TIMEOUT_SECS", "7200"),
            ("APP__AUTH__SESSION_ABSOLUTE_TIMEOUT_SECS", "3600"),
            ("APP__AUTH__PASSWORD_MIN_CHARS", "6"),
            ("APP__AUTH__ARGON2_MEMORY_KIB", "4096"),
            ("APP__AUTH__HASH_QUEUE", "4097"),
            ("APP__AUTH__THROTTLE_BASE_DELAY_SECS", "600"),
            ("APP__AUTH__THROTTLE_MAX_DELAY_SECS", "60"),
        ],
    )
    .unwrap_err();
    let mut got = keys(&err);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "auth.argon2_memory_kib",
            "auth.hash_queue",
            "auth.password_min_chars",
            "auth.session_idle_timeout_secs",
            "auth.throttle_base_delay_secs",
        ],
        "{err}"
    );
    // An idle timeout at (or under twice) the interval at which the last use is recorded
    // would end sessions in use: refused, saying why.
    for idle in ["60", "119"] {
        let err = load(dir.path(), &[("APP__AUTH__SESSION_IDLE_TIMEOUT_SECS", idle)]).unwrap_err();
        assert_eq!(keys(&err), ["auth.session_idle_timeout_secs"], "{err}");
        assert!(err.to_string().contains("interval at which a session's last use"), "{err}");
    }
    let s = load(dir.path(), &[("APP__AUTH__SESSION_IDLE_TIMEOUT_SECS", "120")]).unwrap();
    assert_eq!(s.auth().session_idle_timeout_secs(), 120);
    assert_eq!(s.auth().session_touch_interval_secs(), 60);
    // Another row of the OWASP table is fine.
    let s = load(
        dir.path(),
        &[("APP__AUTH__ARGON2_MEMORY_KIB", "12288"), ("APP__AUTH__ARGON2_ITERATIONS", "3")],
    )
    .unwrap();
    assert_eq!(s.auth().argon2_iterations(), 3);
}

/// Kubernetes mounts a Secret as a file; the URL (with its password) then never sits in the
/// process environment.
#[test]
fn the_database_url_can_come_from_an_owner_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://app:canary-pw@db.internal:5432/app";
    let file = dir.path().join("database-url");
    crate::atomic::create_new(&file, format!("{url}\n").as_bytes(), 0o600).unwrap();
    let path = file.display().to_string();

    let s = load(dir.path(), &[("APP__DATABASE__URL_FILE", &path)]).unwrap();
    match s.database().target() {
        DatabaseTarget::Postgres { url: got } => {
            assert_eq!(secrecy::ExposeSecret::expose_secret(got), url, "trailing newline trimmed");
        }
        DatabaseTarget::Sqlite { .. } => panic!("the file's URL was not used"),
    }
    assert!(s.database_url_explicit(), "a URL from a file is not the built-in default");

    // Both a URL and a file, under either name: which one wins would be a guess.
    for var in ["APP__DATABASE__URL", "DATABASE_URL"] {
        let err = load(dir.path(), &[("APP__DATABASE__URL_FILE", &path), (var, url)]).unwrap_err();
        assert_eq!(keys(&err), ["database.url_file"], "{var}: {err}");
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    // Missing, empty, or readable by others: refused, and the URL is never in the message.
    let missing = dir.path().join("nope").display().to_string();
    let err = load(dir.path(), &[("APP__DATABASE__URL_FILE", &missing)]).unwrap_err();
    assert_eq!(keys(&err), ["database.url_file"], "{err}");
    let empty = dir.path().join("empty");
    crate::atomic::create_new(&empty, b"\n", 0o600).unwrap();
    let err =
        load(dir.path(), &[("APP__DATABASE__URL_FILE", &empty.display().to_string())]).unwrap_err();
    assert_eq!(keys(&err), ["database.url_file"], "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let err = load(dir.path(), &[("APP__DATABASE__URL_FILE", &path)]).unwrap_err();
        assert_eq!(keys(&err), ["database.url_file"], "{err}");
        assert!(err.to_string().contains("owner-only"), "{err}");
        assert!(!err.to_string().contains("canary"), "{err}");
    }
}
