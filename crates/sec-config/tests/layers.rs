//! The secrets layer among the others, as a user of the crate sees it: precedence, the layer
//! named in each problem, and settings that never print a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::fs;
use std::path::Path;

use sec_config::{
    AppEnv, KeyRing, Layer, MasterKey, SecretsDoc, SecretsFile, Settings, SettingsError, Sources,
};
use secrecy::{ExposeSecret, SecretString};

fn url(n: u32) -> String {
    format!("sqlite:///srv/layer-{n}.db")
}

fn write_secrets(config: &Path, ring: &KeyRing, url: &str) {
    let mut doc = SecretsDoc::new();
    doc.set("database.url", SecretString::from(url)).unwrap();
    SecretsFile::for_env(config, AppEnv::Test).create(ring, &doc).unwrap();
}

#[test]
fn the_same_key_in_every_layer_resolves_by_precedence_and_the_variable_wins() {
    let ring = KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap();
    let key = ring.newest().encoded().expose_secret().to_owned();
    // (default.toml, test.toml, secrets file, variable) -> which one wins (1..=4, 0 = default)
    let cases: &[([bool; 4], u32)] = &[
        ([false, false, false, false], 0),
        ([true, false, false, false], 1),
        ([true, true, false, false], 2),
        ([true, true, true, false], 3),
        ([false, false, true, false], 3),
        ([true, true, true, true], 4),
        ([false, false, true, true], 4),
        ([true, false, false, true], 4),
    ];
    for &(present, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        fs::create_dir(&config).unwrap();
        if present[0] {
            fs::write(config.join("default.toml"), format!("[database]\nurl = \"{}\"\n", url(1)))
                .unwrap();
        }
        if present[1] {
            fs::write(config.join("test.toml"), format!("[database]\nurl = \"{}\"\n", url(2)))
                .unwrap();
        }
        if present[2] {
            write_secrets(&config, &ring, &url(3));
        }
        let mut vars =
            vec![("APP_ENV".to_owned(), "test".to_owned()), ("APP_MASTER_KEY".into(), key.clone())];
        if present[3] {
            vars.push(("APP__DATABASE__URL".into(), url(4)));
        }
        let s = Settings::load(&Sources::new(&config, vars)).unwrap();
        let expected = if want == 0 {
            "sqlite ./var/server.db".to_owned()
        } else {
            format!("sqlite /srv/layer-{want}.db")
        };
        assert_eq!(s.database().target().describe(), expected, "layers {present:?}");
        let layer = s.inspection().layer_of("database.url");
        let layer_ok = match want {
            0 => layer == Layer::Default,
            1 => matches!(&layer, Layer::File(p) if p.ends_with("default.toml")),
            2 => matches!(&layer, Layer::File(p) if p.ends_with("test.toml")),
            3 => matches!(&layer, Layer::Secrets(p) if p.ends_with("secrets.test.enc")),
            _ => layer == Layer::Env("APP__DATABASE__URL".into()),
        };
        assert!(layer_ok, "layers {present:?}: {layer:?}");
    }
}

#[test]
fn a_problem_names_the_layer_its_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("default.toml"), "[database]\npool_max_size = 0\n").unwrap();
    let err: SettingsError =
        Settings::load(&Sources::new(dir.path(), [("APP__SERVER__WORKERS", "0")])).unwrap_err();
    let by_key = |k: &str| err.problems().iter().find(|p| p.key() == k).unwrap().clone();
    assert!(by_key("database.pool_max_size").source().unwrap().ends_with("default.toml"));
    assert_eq!(
        by_key("server.workers").source(),
        Some("environment variable APP__SERVER__WORKERS")
    );
    assert!(err.to_string().contains("default.toml"), "{err}");
}

#[test]
fn a_secrets_file_without_a_key_or_with_the_wrong_key_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ring = KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap();
    write_secrets(dir.path(), &ring, &url(3));
    let err = Settings::load(&Sources::new(dir.path(), [("APP_ENV", "test")])).unwrap_err();
    assert!(err.to_string().contains("no master key is configured"), "{err}");

    let other = MasterKey::generate().unwrap().encoded().expose_secret().to_owned();
    let err = Settings::load(&Sources::new(
        dir.path(),
        [("APP_ENV", "test".to_owned()), ("APP_MASTER_KEY", other)],
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("secrets.test.enc") && text.contains("no configured key"), "{text}");
    assert!(text.contains("rotate"), "says what to do after a rotation: {text}");
}

#[test]
fn debug_and_display_of_settings_never_contain_a_secret() {
    let canary = "Canary7pQ2xZ9kW4mR8v";
    let dir = tempfile::tempdir().unwrap();
    let ring = KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap();
    let key = ring.newest().encoded().expose_secret().to_owned();
    let pg = format!("postgres://app:{canary}@db.internal:5432/app");
    let mut doc = SecretsDoc::new();
    doc.set("database.url", SecretString::from(pg.as_str())).unwrap();
    SecretsFile::for_env(dir.path(), AppEnv::Test).create(&ring, &doc).unwrap();
    let sources =
        Sources::new(dir.path(), [("APP_ENV", "test".to_owned()), ("APP_MASTER_KEY", key.clone())]);
    let s = Settings::load(&sources).unwrap();
    let shown = format!("{s:?}\n{s}\n{sources:?}\n{:?}", s.inspection());
    for secret in [canary, &key[..20], key.trim_end_matches('=')] {
        assert!(!shown.contains(secret), "leaked {secret}:\n{shown}");
    }
    assert!(shown.contains("db.internal:5432/app"), "{shown}");
    assert!(format!("{s}").contains("secrets file"), "{s}");
}
