//! The secrets file under attack and under accident: wrong keys, rotation, crashes mid-write,
//! invalid edits, and leaks through errors or `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed unwrap is a failed test")]

use crate::keyring::MasterKey;

use super::*;

const URL: &str = "postgres://app:s3cret-canary-Zq7@db:5432/app";

fn ring() -> KeyRing {
    KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap()
}

fn doc() -> SecretsDoc {
    let mut d = SecretsDoc::new();
    d.set("database.url", SecretString::from(URL)).unwrap();
    d
}

fn setup() -> (tempfile::TempDir, SecretsFile, KeyRing) {
    let dir = tempfile::tempdir().unwrap();
    let file = SecretsFile::for_env(dir.path(), AppEnv::Production);
    let keys = ring();
    file.create(&keys, &doc()).unwrap();
    (dir, file, keys)
}

#[test]
fn the_file_is_named_after_the_environment_and_holds_one_fernet_token() {
    let (dir, file, keys) = setup();
    assert_eq!(file.path(), dir.path().join("secrets.production.enc"));
    let raw = fs::read_to_string(file.path()).unwrap();
    assert!(raw.starts_with("gAAAAA"), "a standard Fernet token");
    assert!(!raw.contains("s3cret"));
    let (opened, key_index) = file.open(&keys).unwrap();
    assert_eq!(opened.get("database.url").unwrap().expose_secret(), URL);
    assert_eq!(key_index, 0);
    assert!(matches!(file.create(&keys, &doc()), Err(SecretsError::AlreadyExists(_))));
}

#[test]
fn a_wrong_key_fails_clearly_and_leaves_the_file_byte_for_byte_unchanged() {
    let (_dir, file, _keys) = setup();
    let before = fs::read(file.path()).unwrap();
    let stranger = ring();
    let err = file.open(&stranger).unwrap_err();
    assert!(matches!(err, SecretsError::Token { source: TokenError::NotAuthentic, .. }), "{err:?}");
    assert!(err.to_string().contains("secrets.production.enc"), "{err}");
    assert!(file.save(&stranger, &SecretsDoc::new()).is_err());
    assert!(file.update(&stranger, |d| Ok(d.remove("database.url"))).is_err());
    assert!(file.reencrypt(&stranger, &ring()).is_err());
    assert_eq!(fs::read(file.path()).unwrap(), before);
}

#[test]
fn rotation_old_key_only_new_key_only_and_both() {
    let (_dir, file, old) = setup();
    let new_key = MasterKey::generate().unwrap();
    let both = old.with_newest(new_key.clone());
    let new_only = KeyRing::new(vec![new_key]).unwrap();

    // Step 1 of the documented order: processes get "new,old" while the file is still old.
    assert_eq!(file.open(&both).unwrap().1, 1, "opened by the older key");
    // Step 2: the file is re-encrypted with the new key.
    file.reencrypt(&old, &both).unwrap();
    assert_eq!(file.open(&both).unwrap().1, 0);
    assert!(file.open(&new_only).is_ok(), "new-key-only processes read it");
    let err = file.open(&old).unwrap_err();
    assert!(
        matches!(err, SecretsError::Token { source: TokenError::NotAuthentic, .. }),
        "an old-key-only process is refused with a clear error: {err}"
    );
    let (opened, _) = file.open(&new_only).unwrap();
    assert_eq!(opened.get("database.url").unwrap().expose_secret(), URL, "nothing lost");
}

#[test]
fn a_crash_between_temp_write_and_rename_leaves_the_original_file() {
    let (dir, file, keys) = setup();
    let before = fs::read(file.path()).unwrap();
    let err = file
        .write(&keys, &SecretsDoc::new(), &mut |_| Err(io::Error::other("power cut")))
        .unwrap_err();
    assert!(matches!(err, SecretsError::Io { .. }));
    assert_eq!(fs::read(file.path()).unwrap(), before);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left behind");
    assert!(file.open(&keys).unwrap().0.get("database.url").is_some());
}

#[test]
fn only_secret_settings_with_string_values_are_accepted() {
    assert!(matches!(
        SecretsDoc::parse("[server]\nbind = \"0.0.0.0:1\"\n"),
        Err(SecretsError::UnknownKey(k)) if k == "server.bind"
    ));
    assert!(matches!(
        SecretsDoc::parse("[database]\nurl = 5\n"),
        Err(SecretsError::InvalidValue { .. })
    ));
    assert!(matches!(
        SecretsDoc::parse("[database]\nurl = \"mysql://x\"\n"),
        Err(SecretsError::InvalidValue { .. })
    ));
    let mut d = SecretsDoc::new();
    assert!(d.set("database.pasword", SecretString::from("x")).is_err());
    assert!(SecretsDoc::parse("").unwrap().is_empty());
}

#[test]
fn errors_never_quote_a_value() {
    for text in [
        "[database]\nurl = \"postgres://u:canary-Q1@h/db\n",
        "[database]\nurl = \"mysql://u:canary-Q1@h/db\"\n",
        "[database]\npassword = \"canary-Q1\"\n",
        "[database]\nurl = canary-Q1\n",
        "[database]\nurl = \"postgres://u:canary-Q1@h/db\"\nurl = \"x\"\n",
    ] {
        let err = SecretsDoc::parse(text).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("canary"), "{shown}");
    }
}

#[test]
fn redacted_view_and_debug_hide_values() {
    let d = doc();
    let shown = format!("{} {d:?}", d.to_redacted_toml());
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("database.url") || shown.contains("[database]"), "{shown}");
    assert!(d.to_redacted_toml().contains(&format!("<redacted: {} chars>", URL.len())));
    // The full view round-trips.
    let back = SecretsDoc::parse(&d.to_toml()).unwrap();
    assert_eq!(back.get("database.url").unwrap().expose_secret(), URL);
}

#[test]
fn edit_saves_valid_content_and_removes_the_scratch_copy() {
    let (_dir, file, keys) = setup();
    let scratch = tempfile::tempdir().unwrap();
    let mut seen_path = None;
    let outcome = file
        .edit(
            &keys,
            scratch.path(),
            |path| {
                #[cfg(unix)]
                assert_eq!(atomic::mode_of(path).unwrap(), Some(0o600));
                #[cfg(unix)]
                assert_eq!(atomic::mode_of(path.parent().unwrap()).unwrap(), Some(0o700));
                assert!(fs::read_to_string(path).unwrap().contains(URL));
                seen_path = Some(path.to_path_buf());
                fs::write(path, "[database]\nurl = \"sqlite:///srv/app.db\"\n")
            },
            |_| false,
        )
        .unwrap();
    assert_eq!(outcome, EditOutcome::Saved);
    assert!(!seen_path.unwrap().exists());
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0, "scratch folder removed");
    let (d, _) = file.open(&keys).unwrap();
    assert_eq!(d.get("database.url").unwrap().expose_secret(), "sqlite:///srv/app.db");
}

#[test]
fn edit_refuses_invalid_content_and_leaves_the_file_unchanged() {
    let (_dir, file, keys) = setup();
    let before = fs::read(file.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut asked = 0;
    let outcome = file
        .edit(
            &keys,
            scratch.path(),
            |path| fs::write(path, "[database\nurl = "),
            |_| {
                asked += 1;
                asked < 2
            },
        )
        .unwrap();
    assert_eq!(outcome, EditOutcome::Abandoned);
    assert_eq!(asked, 2, "offered to reopen the editor once, then gave up");
    assert_eq!(fs::read(file.path()).unwrap(), before);
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[test]
fn edit_without_changes_does_not_rewrite_and_an_editor_failure_changes_nothing() {
    let (_dir, file, keys) = setup();
    let before = fs::read(file.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let outcome = file.edit(&keys, scratch.path(), |_| Ok(()), |_| false).unwrap();
    assert_eq!(outcome, EditOutcome::Unchanged);
    let failed =
        file.edit(&keys, scratch.path(), |_| Err(io::Error::other("editor crashed")), |_| false);
    assert!(failed.is_err());
    assert_eq!(fs::read(file.path()).unwrap(), before);
    assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
}
