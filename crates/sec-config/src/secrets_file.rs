//! The encrypted secrets file `config/secrets.{env}.enc`: one Fernet token whose plaintext is
//! TOML shaped like the config files (`[database]\nurl = "..."`), limited to the settings that
//! are secrets ([`SECRET_KEYS`]).
//!
//! Every change is written atomically ([`crate::atomic`]), and nothing is written unless the
//! current file was first decrypted with the keys given: a wrong key can neither corrupt nor
//! replace the file.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sec_audit::owner_only;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::atomic::{self, WriteStage};
use crate::database::DatabaseTarget;
use crate::env::AppEnv;
use crate::keyring::{KeyRing, TokenError};

/// Settings that may live in the secrets file: those whose value is, or may contain, a
/// secret. A fork that adds a secret setting adds its key here (and to `KNOWN_KEYS`).
pub const SECRET_KEYS: &[&str] = &["database.url", "auth.mfa_keys", "mail.smtp_password"];

/// Permission bits of a newly written secrets file. It is ciphertext (and committed to git),
/// so others may read it; nobody but the owner may replace it.
pub const SECRETS_FILE_MODE: u32 = 0o644;

/// The secrets file could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The file does not exist.
    #[error("{} does not exist: create it with `server secrets init`", .0.display())]
    Missing(PathBuf),
    /// The file already exists (for `init`).
    #[error("{} already exists: use `secrets edit`, `secrets set` or `secrets rotate`", .0.display())]
    AlreadyExists(PathBuf),
    /// The token was refused.
    #[error("{}: {source}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// Why the token was refused.
        source: TokenError,
    },
    /// The plaintext is not valid TOML (the parser's message is not shown: it may quote a
    /// secret).
    #[error("not valid TOML (line {line})")]
    NotToml {
        /// 1-based line of the error, 0 when unknown.
        line: usize,
    },
    /// A key that is not a secret setting.
    #[error(
        "{0:?} is not a secret setting; the secrets file may hold: {keys}",
        keys = SECRET_KEYS.join(", ")
    )]
    UnknownKey(String),
    /// A value of the wrong type or an invalid value (the value is not shown).
    #[error("{key}: {reason}")]
    InvalidValue {
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing failed.
    ///
    /// The OS error is part of the message and deliberately not a `source`: a report that
    /// prints the chain (`{:#}`) would otherwise say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
}

/// The decrypted contents: dotted settings keys and their secret values.
#[derive(Default, Clone)]
pub struct SecretsDoc {
    entries: BTreeMap<String, SecretString>,
}

impl SecretsDoc {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses TOML and checks every key and value. Errors never quote a value.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].lines().count());
            SecretsError::NotToml { line: line.max(1) }
        })?;
        let mut doc = Self::new();
        flatten(&table, "", &mut doc)?;
        Ok(doc)
    }

    /// Sets `key` after checking that it is a secret setting and that the value is valid.
    pub fn set(&mut self, key: &str, value: SecretString) -> Result<(), SecretsError> {
        if !SECRET_KEYS.contains(&key) {
            return Err(SecretsError::UnknownKey(key.to_owned()));
        }
        check_value(key, value.expose_secret())?;
        self.entries.insert(key.to_owned(), value);
        Ok(())
    }

    /// Removes `key`; true if it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.entries.remove(key).is_some()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.entries.get(key)
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The document as TOML, in a buffer that is wiped when dropped.
    pub fn to_toml(&self) -> Zeroizing<String> {
        self.render(|v| toml_string(v.expose_secret()))
    }

    /// The document as TOML with every value replaced by its length, safe to print.
    pub fn to_redacted_toml(&self) -> String {
        let text =
            self.render(|v| toml_string(&format!("<redacted: {} chars>", v.expose_secret().len())));
        text.as_str().to_owned()
    }

    fn render(&self, value: impl Fn(&SecretString) -> String) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        let mut section = None;
        for (key, v) in &self.entries {
            let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key.as_str()));
            if section != Some(table) {
                if !out.is_empty() {
                    out.push('\n');
                }
                if !table.is_empty() {
                    out.push_str(&format!("[{table}]\n"));
                }
                section = Some(table);
            }
            out.push_str(leaf);
            out.push_str(" = ");
            out.push_str(&value(v));
            out.push('\n');
        }
        out
    }
}

impl fmt::Debug for SecretsDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn flatten(table: &toml::Table, prefix: &str, doc: &mut SecretsDoc) -> Result<(), SecretsError> {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match value {
            toml::Value::Table(inner) => flatten(inner, &key, doc)?,
            toml::Value::String(s) => doc.set(&key, SecretString::from(s.clone()))?,
            _ if !SECRET_KEYS.contains(&key.as_str()) => {
                return Err(SecretsError::UnknownKey(key));
            }
            _ => {
                return Err(SecretsError::InvalidValue { key, reason: "must be a string".into() });
            }
        }
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), SecretsError> {
    let invalid = |reason: String| SecretsError::InvalidValue { key: key.to_owned(), reason };
    if value.trim().is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if key == "database.url" {
        DatabaseTarget::parse(value).map_err(|e| invalid(e.to_string()))?;
    }
    if key == "auth.mfa_keys" {
        crate::keyring::KeyRing::parse_list(value).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// The secrets file of one environment.
#[derive(Debug, Clone)]
pub struct SecretsFile {
    path: PathBuf,
}

/// Outcome of [`SecretsFile::edit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditOutcome {
    /// The edited content was valid and differs: the file was re-encrypted.
    Saved,
    /// Nothing changed; the file was not rewritten.
    Unchanged,
    /// The content was invalid and the user gave up; the file was not touched.
    Abandoned,
}

impl SecretsFile {
    /// `config_dir/secrets.{env}.enc`.
    pub fn for_env(config_dir: &Path, env: AppEnv) -> Self {
        Self { path: config_dir.join(format!("secrets.{env}.enc")) }
    }

    /// A secrets file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Decrypts and parses the file. Also returns which key of the ring opened it.
    pub fn open(&self, keys: &KeyRing) -> Result<(SecretsDoc, usize), SecretsError> {
        let token = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SecretsError::Missing(self.path.clone()));
            }
            Err(error) => return Err(SecretsError::Io { path: self.path.clone(), error }),
        };
        let opened = keys
            .decrypt(&token)
            .map_err(|source| SecretsError::Token { path: self.path.clone(), source })?;
        let text = std::str::from_utf8(opened.plaintext().expose_secret())
            .map_err(|_| SecretsError::NotToml { line: 0 })?;
        Ok((SecretsDoc::parse(text)?, opened.key_index()))
    }

    /// Creates the file holding `doc`, encrypted with the newest key. Refuses to replace an
    /// existing file.
    pub fn create(&self, keys: &KeyRing, doc: &SecretsDoc) -> Result<(), SecretsError> {
        let token = self.encrypt(keys, doc)?;
        // A fresh clone has no `config/` folder. It holds committed, non-secret files (this
        // one is encrypted), so it gets the usual mode, not an owner-only one.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|error| SecretsError::Io { path: dir.to_path_buf(), error })?;
        }
        atomic::create_new(&self.path, token.as_bytes(), SECRETS_FILE_MODE).map_err(|error| {
            if error.kind() == io::ErrorKind::AlreadyExists {
                SecretsError::AlreadyExists(self.path.clone())
            } else {
                SecretsError::Io { path: self.path.clone(), error }
            }
        })
    }

    /// Replaces the file with `doc`, encrypted with the newest key, after proving that
    /// `keys` open the current file (so a wrong key cannot replace it).
    pub fn save(&self, keys: &KeyRing, doc: &SecretsDoc) -> Result<(), SecretsError> {
        self.open(keys)?;
        self.write(keys, doc, &mut |_| Ok(()))
    }

    /// Changes the file through `change`, which sees the decrypted document.
    pub fn update<T>(
        &self,
        keys: &KeyRing,
        change: impl FnOnce(&mut SecretsDoc) -> Result<T, SecretsError>,
    ) -> Result<T, SecretsError> {
        let (mut doc, _) = self.open(keys)?;
        let out = change(&mut doc)?;
        self.write(keys, &doc, &mut |_| Ok(()))?;
        Ok(out)
    }

    /// Re-encrypts the file, opened with `current`, under the newest key of `next`.
    pub fn reencrypt(&self, current: &KeyRing, next: &KeyRing) -> Result<(), SecretsError> {
        let (doc, _) = self.open(current)?;
        self.write(next, &doc, &mut |_| Ok(()))
    }

    /// Decrypts the file to a private scratch file, lets `editor` change it, validates the
    /// result and re-encrypts it. While the content is invalid, `retry` is asked whether to
    /// reopen the editor. The scratch copy is overwritten and removed in every case.
    pub fn edit(
        &self,
        keys: &KeyRing,
        scratch_root: &Path,
        mut editor: impl FnMut(&Path) -> io::Result<()>,
        mut retry: impl FnMut(&SecretsError) -> bool,
    ) -> Result<EditOutcome, SecretsError> {
        let (doc, _) = self.open(keys)?;
        let original = doc.to_toml();
        let scratch = Scratch::create(scratch_root, original.as_bytes())
            .map_err(|error| SecretsError::Io { path: scratch_root.to_path_buf(), error })?;
        loop {
            editor(scratch.file())
                .map_err(|error| SecretsError::Io { path: scratch.file().to_path_buf(), error })?;
            let text =
                Zeroizing::new(fs::read_to_string(scratch.file()).map_err(|error| {
                    SecretsError::Io { path: scratch.file().to_path_buf(), error }
                })?);
            match SecretsDoc::parse(&text) {
                Ok(edited) => {
                    if edited.to_toml() == original {
                        return Ok(EditOutcome::Unchanged);
                    }
                    self.write(keys, &edited, &mut |_| Ok(()))?;
                    return Ok(EditOutcome::Saved);
                }
                Err(e) if retry(&e) => continue,
                Err(_) => return Ok(EditOutcome::Abandoned),
            }
        }
    }

    fn encrypt(&self, keys: &KeyRing, doc: &SecretsDoc) -> Result<String, SecretsError> {
        keys.encrypt(doc.to_toml().as_bytes())
            .map_err(|source| SecretsError::Token { path: self.path.clone(), source })
    }

    pub(crate) fn write(
        &self,
        keys: &KeyRing,
        doc: &SecretsDoc,
        hook: &mut dyn FnMut(WriteStage) -> io::Result<()>,
    ) -> Result<(), SecretsError> {
        let mut token = self.encrypt(keys, doc)?;
        token.push('\n');
        atomic::replace_with_hook(&self.path, token.as_bytes(), SECRETS_FILE_MODE, hook)
            .map_err(|error| SecretsError::Io { path: self.path.clone(), error })
    }
}

/// A private folder holding the plaintext while it is edited; wiped on drop.
struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Scratch {
    fn create(root: &Path, contents: &[u8]) -> io::Result<Self> {
        let mut suffix = [0u8; 8];
        sec_core::fill_random(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let dir = root.join(format!("server-secrets-{suffix}"));
        // Not recursive: the folder must be new, so nobody else can have opened it.
        owner_only::create_new_dir(&dir)?;
        let file = dir.join("secrets.toml");
        let scratch = Self { dir, file };
        let mut options = owner_only::file_options();
        options.write(true).create_new(true);
        let mut f = options.open(&scratch.file)?;
        f.write_all(contents)?;
        f.sync_all()?;
        Ok(scratch)
    }

    fn file(&self) -> &Path {
        &self.file
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Overwrite before unlinking. On copy-on-write or journalling file systems and SSDs
        // this does not guarantee the old blocks are gone (docs/secrets.md says so), but it
        // removes the plaintext from the file's current blocks and from any reader.
        if let Ok(len) = fs::metadata(&self.file).map(|m| m.len())
            && let Ok(mut f) = OpenOptions::new().write(true).open(&self.file)
        {
            let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
            let _ = f.write_all(&zeros).and_then(|()| f.sync_all());
        }
        // Editors may leave backup or swap files next to it: remove the whole folder.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests;
