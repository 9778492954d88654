//! What the loader learned besides the values: which layer set each key, where the master
//! keys and the secrets file came from, and facts the deploy rules judge (file modes, secrets
//! found in plaintext files or on the command line). Nothing here holds a secret value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use crate::atomic;
use crate::database::DatabaseTarget;
use crate::env::AppEnv;
use crate::master_key::{MASTER_KEY_VAR, MasterKeys};
use crate::problem::Problem;
use crate::secrets_file::{SECRET_KEYS, SecretsDoc, SecretsError, SecretsFile};
use crate::sources::Sources;

/// A settings layer: where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layer {
    /// The built-in default.
    Default,
    /// A plaintext TOML file (`config/default.toml` or `config/{APP_ENV}.toml`).
    File(PathBuf),
    /// The encrypted secrets file.
    Secrets(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Secrets(p) => write!(f, "secrets file {}", p.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// The secrets file as found at start-up.
#[derive(Debug, Clone)]
pub struct SecretsFileState {
    path: PathBuf,
    mode: Option<u32>,
    key_index: usize,
    keys: Vec<String>,
}

impl SecretsFileState {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its permission bits, where the platform has them.
    pub fn mode(&self) -> Option<u32> {
        self.mode
    }

    /// Which master key opened it: 0 is the newest; more means a rotation is unfinished.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// The settings it sets (names only).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// Everything the loader learned that is not a setting value.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub(crate) layers: BTreeMap<String, Layer>,
    pub(crate) master_keys: Option<MasterKeys>,
    pub(crate) secrets_file: Option<SecretsFileState>,
    /// (settings key, file) pairs where a secret sits in a plaintext config file.
    pub(crate) plaintext_secrets: Vec<(String, PathBuf)>,
    /// Names of secrets whose value appears in the process arguments.
    pub(crate) secrets_in_args: Vec<String>,
    pub(crate) notes: Vec<String>,
}

impl Inspection {
    /// The layer that set `key`, highest precedence first; the default when none did.
    pub fn layer_of(&self, key: &str) -> Layer {
        self.layers.get(key).cloned().unwrap_or(Layer::Default)
    }

    /// The master keys, when configured.
    pub fn master_keys(&self) -> Option<&MasterKeys> {
        self.master_keys.as_ref()
    }

    /// The secrets file, when one exists and opened.
    pub fn secrets_file(&self) -> Option<&SecretsFileState> {
        self.secrets_file.as_ref()
    }

    /// Secrets found in plaintext config files: (settings key, file).
    pub fn plaintext_secrets(&self) -> &[(String, PathBuf)] {
        &self.plaintext_secrets
    }

    /// Names of secrets whose value was found among the process arguments.
    pub fn secrets_in_args(&self) -> &[String] {
        &self.secrets_in_args
    }

    /// Things the operator should know that are not problems (e.g. a development key was
    /// generated). The app logs them once logging is up.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub(crate) fn record(&mut self, key: &str, layer: Layer) {
        self.layers.insert(key.to_owned(), layer);
    }

    /// Names each problem's source layer when its key is a setting.
    pub(crate) fn attribute(&self, problems: &mut [Problem]) {
        for p in problems {
            let key = p.key().to_owned();
            p.set_source_if_unknown(|| self.layers.get(&key).map(ToString::to_string));
        }
    }
}

/// The plaintext config files of `env`, parsed on their own to learn which keys each sets.
/// Parse errors are left to the merge, which reports them.
pub(crate) fn read_file_layers(sources: &Sources, env: AppEnv) -> Vec<(PathBuf, toml::Table)> {
    ["default", env.as_str()]
        .iter()
        .filter_map(|name| {
            let path = sources.config_dir().join(format!("{name}.toml"));
            let text = std::fs::read_to_string(&path).ok()?;
            let table = text.parse::<toml::Table>().ok()?;
            Some((path, table))
        })
        .collect()
}

/// Every dotted key a TOML table sets, with string values where it has one.
pub(crate) fn flatten(table: &toml::Table) -> Vec<(String, Option<&str>)> {
    fn walk<'a>(t: &'a toml::Table, prefix: &str, out: &mut Vec<(String, Option<&'a str>)>) {
        for (name, value) in t {
            let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            match value {
                toml::Value::Table(inner) => walk(inner, &key, out),
                toml::Value::String(s) => out.push((key, Some(s.as_str()))),
                _ => out.push((key, None)),
            }
        }
    }
    let mut out = Vec::new();
    walk(table, "", &mut out);
    out
}

/// Opens the secrets file of `env` when it exists. Problems go to `problems`.
pub(crate) fn open_secrets(
    sources: &Sources,
    env: AppEnv,
    keys: Option<&MasterKeys>,
    problems: &mut Vec<Problem>,
) -> Option<(SecretsDoc, SecretsFileState)> {
    let file = SecretsFile::for_env(sources.config_dir(), env);
    if !file.exists() {
        return None;
    }
    let name = file.path().display().to_string();
    let Some(keys) = keys else {
        problems.push(Problem::new(
            MASTER_KEY_VAR,
            format!(
                "{name} exists but no master key is configured: set APP_MASTER_KEY or \
                 APP_MASTER_KEY_FILE"
            ),
        ));
        return None;
    };
    match file.open(keys.ring()) {
        Ok((doc, key_index)) => {
            let mode = atomic::mode_of(file.path()).ok().flatten();
            let keys = doc.entries().map(|(k, _)| k.to_owned()).collect();
            Some((doc, SecretsFileState { path: file.path().to_path_buf(), mode, key_index, keys }))
        }
        Err(e) => {
            let message = match &e {
                SecretsError::Token { source, .. } => format!(
                    "cannot decrypt: {source}. After `server secrets rotate`, the new key must \
                     come first in APP_MASTER_KEY (or the key file), followed by the old one \
                     until every replica runs the re-encrypted file"
                ),
                other => other.to_string(),
            };
            problems.push(Problem::new(name.clone(), message).with_source(name));
            None
        }
    }
}

/// The secret part of a secret setting's value: for `database.url`, the password in the URL
/// (a URL without one is not a secret).
pub(crate) fn secret_part(key: &str, value: &str) -> Option<String> {
    match key {
        "database.url" => match DatabaseTarget::parse(value).ok()? {
            DatabaseTarget::Postgres { url } => postgres_password(url.expose_secret()),
            DatabaseTarget::Sqlite { .. } => None,
        },
        _ => Some(value.to_owned()).filter(|v| !v.is_empty()),
    }
}

/// The password of a libpq URL, from `user:password@` or a `password=` query parameter.
pub(crate) fn postgres_password(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let from_userinfo = before_query
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, pw)| pw.to_owned());
    let from_query =
        query.split('&').find_map(|kv| kv.strip_prefix("password=")).map(str::to_owned);
    from_userinfo.or(from_query).filter(|p| !p.is_empty())
}

/// Finds secrets in plaintext files: a secret setting in a file whose value holds a secret,
/// or any key that the secrets file also sets (the plaintext copy is a leak or a stale
/// duplicate).
pub(crate) fn find_plaintext_secrets(
    files: &[(PathBuf, toml::Table)],
    secrets: Option<&SecretsDoc>,
) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (path, table) in files {
        for (key, value) in flatten(table) {
            let in_secrets = secrets.is_some_and(|d| d.get(&key).is_some());
            let holds_secret = SECRET_KEYS.contains(&key.as_str())
                && value.is_some_and(|v| secret_part(&key, v).is_some());
            if in_secrets || holds_secret {
                out.push((key, path.clone()));
            }
        }
    }
    out
}

/// Names of secrets whose value appears in `args`: the master keys, the secrets file's
/// values, and the database, MFA and SMTP secrets wherever they were set.
pub(crate) fn find_secrets_in_args(
    args: &[String],
    keys: Option<&MasterKeys>,
    secrets: Option<&SecretsDoc>,
    database_url: Option<&str>,
    mfa_keys: Option<&crate::keyring::KeyRing>,
    smtp_password: Option<&secrecy::SecretString>,
) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    let mut candidates: Vec<(String, String)> = Vec::new();
    if let Some(keys) = keys {
        for key in keys.ring().keys() {
            let text = key.encoded().expose_secret();
            let bare = text.strip_prefix(crate::keyring::DEV_KEY_PREFIX).unwrap_or(text);
            candidates.push((MASTER_KEY_VAR.to_owned(), bare.trim_end_matches('=').to_owned()));
        }
    }
    if let Some(doc) = secrets {
        for (key, value) in doc.entries() {
            if let Some(part) = secret_part(key, value.expose_secret()) {
                candidates.push((key.to_owned(), part));
            }
        }
    }
    if let Some(part) = database_url.and_then(|url| secret_part("database.url", url)) {
        candidates.push(("database.url".to_owned(), part));
    }
    for key in mfa_keys.map(crate::keyring::KeyRing::keys).unwrap_or_default() {
        let text = key.encoded().expose_secret();
        let bare = text.strip_prefix(crate::keyring::DEV_KEY_PREFIX).unwrap_or(text);
        candidates.push(("auth.mfa_keys".to_owned(), bare.trim_end_matches('=').to_owned()));
    }
    if let Some(password) = smtp_password {
        candidates.push(("mail.smtp_password".to_owned(), password.expose_secret().to_owned()));
    }
    let mut found: Vec<String> = candidates
        .into_iter()
        // Very short values would match by accident; they are caught by the entropy rule.
        .filter(|(_, secret)| secret.len() >= 6 && args.iter().any(|a| a.contains(secret)))
        .map(|(name, _)| name)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// A rough upper bound on the entropy of a human-chosen secret, in bits: its length times
/// the log2 of the size of the character classes it uses. Good enough to refuse "hunter2";
/// not a strength meter.
pub(crate) fn estimated_entropy_bits(secret: &str) -> f64 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in secret.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            _ => other = true,
        }
    }
    let pool = [(lower, 26), (upper, 26), (digit, 10), (other, 33)]
        .iter()
        .filter(|(used, _)| *used)
        .map(|(_, n)| n)
        .sum::<u32>();
    if pool == 0 {
        return 0.0;
    }
    let len = u32::try_from(secret.chars().count()).unwrap_or(u32::MAX);
    f64::from(len) * f64::from(pool).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_passwords_are_found_in_userinfo_and_query() {
        assert_eq!(postgres_password("postgres://u:pw1@h/db").as_deref(), Some("pw1"));
        assert_eq!(postgres_password("postgres://u@h/db?password=pw2").as_deref(), Some("pw2"));
        assert_eq!(postgres_password("postgres://u:p@ss@h/db").as_deref(), Some("p@ss"));
        assert_eq!(postgres_password("postgres://u@h/db"), None);
        assert_eq!(postgres_password("postgres://h/db"), None);
    }

    #[test]
    fn entropy_estimate_refuses_short_or_simple_secrets() {
        assert!(estimated_entropy_bits("hunter2") < 64.0);
        assert!(estimated_entropy_bits("correcthorse") < 64.0);
        assert!(estimated_entropy_bits("x7Kp2mQ9vL4nR8sT") >= 64.0);
        assert!(estimated_entropy_bits("") < 1.0);
    }
}
