//! Deploy rules: the checks that make production refuse unsafe settings at start-up
//! ([`Settings::validate_for`]) and that `server check --deploy` reports as a table.
//!
//! One registry ([`RULES`]) serves both, so a refusal and its check can never drift apart. A
//! rule is a plain function from the loaded [`Settings`] to findings; adding one (TLS
//! certificate expiry, rate limiting, CORS, once those settings exist) means adding a
//! function, a row in [`RULES`], and a failing and a passing fixture in the tests, which
//! refuse a rule without them. The HTTP-layer rules (TLS files, CORS, proxies) live in
//! `deploy/http.rs`, the mail rules in `deploy/mail.rs`, and the report's table and JSON in
//! `deploy/report.rs`.

use std::fmt;

use serde::Serialize;

use crate::env::AppEnv;
use crate::inspection;
use crate::master_key::{KeyOrigin, MASTER_KEY_FILE_VAR, MASTER_KEY_VAR};
use crate::problem::{Problem, SettingsError};
use crate::settings::{LogFormat, Settings};

mod http;
mod mail;
mod report;

pub use http::{CERT_EXPIRY_WARNING, MIN_RSA_BITS};
pub use report::{PENDING_CHECKS, Report};

/// How bad a finding is. Any error makes `check --deploy` exit non-zero, and an error from a
/// rule that applies to the environment stops the server from starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Unsafe: refused.
    Error,
    /// Worth fixing; allowed.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// Which environments a rule refuses to start in. `check --deploy` runs every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// Every environment (a key file open to others is as bad on a laptop).
    Always,
    /// Production only.
    Production,
}

/// A deploy rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable identifier, `SEC-C` and three digits; never reused for another meaning.
    pub id: &'static str,
    /// What it checks, in a few words.
    pub title: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// Where it stops the server from starting.
    pub scope: Scope,
    check: fn(&Settings) -> Vec<Issue>,
}

/// What a rule found: the setting, what is wrong, how to fix it.
struct Issue {
    key: String,
    message: String,
    fix: String,
    /// Where the problem is, when it is not the layer that set the effective value.
    source: Option<String>,
}

fn issue(key: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Issue {
    Issue { key: key.into(), message: message.into(), fix: fix.into(), source: None }
}

impl Issue {
    fn at(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// One finding of `check --deploy`. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id (`SEC-C000` for settings that do not load at all).
    pub id: &'static str,
    /// How bad.
    pub severity: Severity,
    /// The setting, variable or file concerned.
    pub key: String,
    /// Where its value came from, when known.
    pub source: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// Id of the finding for settings that do not load (each load problem becomes one).
pub const LOAD_FAILURE_ID: &str = "SEC-C000";

/// Every deploy rule, in report order.
pub const RULES: &[Rule] = &[
    Rule {
        id: "SEC-C001",
        title: "master key configured",
        severity: Severity::Error,
        scope: Scope::Production,
        check: master_key_missing,
    },
    Rule {
        id: "SEC-C002",
        title: "no development master key",
        severity: Severity::Error,
        scope: Scope::Production,
        check: development_master_key,
    },
    Rule {
        id: "SEC-C003",
        title: "master key file private to its owner",
        severity: Severity::Error,
        scope: Scope::Always,
        check: master_key_file_mode,
    },
    Rule {
        id: "SEC-C004",
        title: "secrets file not writable by others",
        severity: Severity::Error,
        scope: Scope::Production,
        check: secrets_file_mode,
    },
    Rule {
        id: "SEC-C005",
        title: "no secret in a plaintext config file",
        severity: Severity::Error,
        scope: Scope::Production,
        check: plaintext_secrets,
    },
    Rule {
        id: "SEC-C006",
        title: "no secret on the command line",
        severity: Severity::Error,
        scope: Scope::Always,
        check: secrets_in_args,
    },
    Rule {
        id: "SEC-C007",
        title: "database password strong enough",
        severity: Severity::Error,
        scope: Scope::Production,
        check: weak_database_password,
    },
    Rule {
        id: "SEC-C008",
        title: "database set explicitly",
        severity: Severity::Error,
        scope: Scope::Production,
        check: implicit_database,
    },
    Rule {
        id: "SEC-C009",
        title: "SQLite not in a temporary folder",
        severity: Severity::Error,
        scope: Scope::Production,
        check: sqlite_in_temp_dir,
    },
    Rule {
        id: "SEC-C010",
        title: "listen address set explicitly",
        severity: Severity::Error,
        scope: Scope::Production,
        check: implicit_bind,
    },
    Rule {
        id: "SEC-C011",
        title: "no plain HTTP beyond loopback without a TLS proxy",
        severity: Severity::Error,
        scope: Scope::Production,
        check: plain_http_exposed,
    },
    Rule {
        id: "SEC-C012",
        title: "no debug or trace logging",
        severity: Severity::Error,
        scope: Scope::Production,
        check: debug_logging,
    },
    Rule {
        id: "SEC-C013",
        title: "JSON console logs",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: pretty_logs,
    },
    Rule {
        id: "SEC-C014",
        title: "secrets file encrypted with the newest key",
        severity: Severity::Warning,
        scope: Scope::Always,
        check: unfinished_rotation,
    },
    Rule {
        id: "SEC-C015",
        title: "checked as production",
        severity: Severity::Warning,
        scope: Scope::Always,
        check: not_production,
    },
    Rule {
        id: "SEC-C016",
        title: "TLS private key private to its owner",
        severity: Severity::Error,
        scope: Scope::Always,
        check: http::tls_key_file_mode,
    },
    Rule {
        id: "SEC-C017",
        title: "TLS certificate readable and not expired",
        severity: Severity::Error,
        scope: Scope::Production,
        check: http::tls_certificate_expired,
    },
    Rule {
        id: "SEC-C018",
        title: "TLS certificate not expiring within 14 days",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: http::tls_certificate_expiring,
    },
    Rule {
        id: "SEC-C019",
        title: "TLS RSA key of at least 2048 bits",
        severity: Severity::Error,
        scope: Scope::Production,
        check: http::tls_weak_rsa_key,
    },
    Rule {
        id: "SEC-C020",
        title: "no CORS wildcard origin with credentials",
        severity: Severity::Error,
        scope: Scope::Always,
        check: http::cors_wildcard_with_credentials,
    },
    Rule {
        id: "SEC-C021",
        title: "trusted proxies set when behind a proxy",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: http::proxy_without_trusted_proxies,
    },
    Rule {
        id: "SEC-C022",
        title: "rate limits on",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: http::rate_limits_off,
    },
    Rule {
        id: "SEC-C023",
        title: "security headers on",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: http::security_headers_off,
    },
    Rule {
        id: "SEC-C024",
        title: "public origin set for the HTTPS redirect listener",
        severity: Severity::Error,
        scope: Scope::Production,
        check: http::redirect_without_public_origin,
    },
    // SEC-C025 to SEC-C029 are kept for further HTTP-layer rules.
    Rule {
        id: "SEC-C030",
        title: "MFA key configured",
        severity: Severity::Error,
        scope: Scope::Production,
        check: mfa_key_missing,
    },
    Rule {
        id: "SEC-C031",
        title: "no development MFA key",
        severity: Severity::Error,
        scope: Scope::Production,
        check: development_mfa_key,
    },
    Rule {
        id: "SEC-C032",
        title: "administration requires MFA",
        severity: Severity::Warning,
        scope: Scope::Production,
        check: admin_mfa_off,
    },
    // SEC-C040 to SEC-C049: mail delivery.
    Rule {
        id: "SEC-C040",
        title: "a real mail transport",
        severity: Severity::Error,
        scope: Scope::Production,
        check: mail::file_transport,
    },
    Rule {
        id: "SEC-C041",
        title: "SMTP relay set explicitly",
        severity: Severity::Error,
        scope: Scope::Production,
        check: mail::implicit_smtp_host,
    },
    Rule {
        id: "SEC-C042",
        title: "sender address of a real domain",
        severity: Severity::Error,
        scope: Scope::Production,
        check: mail::local_sender,
    },
    Rule {
        id: "SEC-C043",
        title: "public origin set for links in mail",
        severity: Severity::Error,
        scope: Scope::Production,
        check: mail::links_without_public_origin,
    },
];

impl Rule {
    fn findings(&self, settings: &Settings) -> Vec<Finding> {
        (self.check)(settings)
            .into_iter()
            .map(|i| Finding {
                id: self.id,
                severity: self.severity,
                source: i.source.or_else(|| source_of(settings, &i.key)),
                key: i.key,
                message: i.message,
                fix: i.fix,
            })
            .collect()
    }
}

fn source_of(settings: &Settings, key: &str) -> Option<String> {
    if !key.contains('.') || key.contains('/') {
        return None;
    }
    Some(settings.inspection().layer_of(key).to_string())
}

impl Settings {
    /// Applies the error-level deploy rules whose scope covers `env`; each finding becomes a
    /// problem naming the setting, what is wrong, the fix and the rule id.
    pub fn validate_for(&self, env: AppEnv) -> Result<(), SettingsError> {
        let problems: Vec<Problem> = RULES
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .filter(|r| r.scope == Scope::Always || env == AppEnv::Production)
            .flat_map(|r| r.findings(self))
            .map(|f| {
                let p = Problem::new(f.key, format!("{}. Fix: {} [{}]", f.message, f.fix, f.id));
                match f.source {
                    Some(s) => p.with_source(s),
                    None => p,
                }
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(SettingsError::new(problems)) }
    }
}

fn master_key_missing(s: &Settings) -> Vec<Issue> {
    if s.inspection().master_keys().is_some() {
        return Vec::new();
    }
    vec![issue(
        MASTER_KEY_VAR,
        "no master key is configured; the secrets file and data encrypted at rest need one",
        format!(
            "set {MASTER_KEY_FILE_VAR} to a file (mode 0400 or 0600) holding the key, or \
             {MASTER_KEY_VAR}; create one with `server secrets init`"
        ),
    )]
}

fn development_master_key(s: &Settings) -> Vec<Issue> {
    match s.inspection().master_keys() {
        Some(keys) if keys.is_development() => vec![issue(
            MASTER_KEY_VAR,
            format!(
                "the master key ({}) is a development key (generated under ./var or marked \
                 `dev:`); anyone with a developer's checkout may hold it",
                keys.origin()
            ),
            "create a deployment key with `server secrets init` (or `secrets rotate` to \
             re-encrypt an existing file) and configure it instead",
        )],
        _ => Vec::new(),
    }
}

fn master_key_file_mode(s: &Settings) -> Vec<Issue> {
    let Some(keys) = s.inspection().master_keys() else { return Vec::new() };
    let Some((path, Some(mode))) = keys.origin().file() else { return Vec::new() };
    if crate::atomic::is_owner_only(mode) {
        return Vec::new();
    }
    let key = match keys.origin() {
        KeyOrigin::File { .. } => MASTER_KEY_FILE_VAR.to_owned(),
        _ => path.display().to_string(),
    };
    vec![issue(
        key,
        format!(
            "the master key file {} has mode {mode:04o}: the group or others can use it",
            path.display()
        ),
        format!(
            "chmod 600 {} (Kubernetes: copy the key from the Secret volume into an emptyDir with \
             mode 0400 in an init container, as deploy/k8s does; see docs/deploy.md)",
            path.display()
        ),
    )]
}

fn secrets_file_mode(s: &Settings) -> Vec<Issue> {
    let Some(file) = s.inspection().secrets_file() else { return Vec::new() };
    match file.mode() {
        Some(mode) if mode & 0o022 != 0 => vec![issue(
            file.path().display().to_string(),
            format!(
                "the secrets file has mode {mode:04o}: the group or others can replace it \
                 (for instance with an older version still encrypted with a valid key)"
            ),
            format!("chmod 644 {}", file.path().display()),
        )],
        _ => Vec::new(),
    }
}

fn plaintext_secrets(s: &Settings) -> Vec<Issue> {
    s.inspection()
        .plaintext_secrets()
        .iter()
        .map(|(key, path)| {
            issue(
                key.clone(),
                format!("a secret value is in the plaintext file {}", path.display()),
                format!(
                    "remove it from {} and store it with `server secrets set {key}` (or an \
                     environment variable); treat the exposed value as leaked and change it",
                    path.display()
                ),
            )
            .at(path.display().to_string())
        })
        .collect()
}

fn secrets_in_args(s: &Settings) -> Vec<Issue> {
    s.inspection()
        .secrets_in_args()
        .iter()
        .map(|key| {
            issue(
                key.clone(),
                "a secret's value appears in the process arguments, which every local user \
                 can read (ps, /proc)",
                "pass secrets through the secrets file, a key file or environment variables, \
                 never as arguments; change the exposed secret",
            )
            .at("command line")
        })
        .collect()
}

/// Minimum estimated entropy of a human-chosen database password, in bits.
pub const MIN_PASSWORD_ENTROPY_BITS: f64 = 64.0;

fn weak_database_password(s: &Settings) -> Vec<Issue> {
    let crate::DatabaseTarget::Postgres { url } = s.database().target() else {
        return Vec::new();
    };
    let Some(password) = inspection::postgres_password(secrecy::ExposeSecret::expose_secret(url))
    else {
        return Vec::new();
    };
    if inspection::estimated_entropy_bits(&password) >= MIN_PASSWORD_ENTROPY_BITS {
        return Vec::new();
    }
    vec![issue(
        "database.url",
        format!(
            "the database password is too weak (under about {MIN_PASSWORD_ENTROPY_BITS} bits: \
             too short or too few kinds of characters)"
        ),
        "use a random password of at least 16 characters (e.g. `openssl rand -base64 24`)",
    )]
}

fn implicit_database(s: &Settings) -> Vec<Issue> {
    if s.database_url_explicit() {
        return Vec::new();
    }
    vec![issue(
        "database.url",
        "not set; the development default (sqlite://./var/server.db) is not for production",
        "set DATABASE_URL (or `server secrets set database.url`) to a postgres:// URL, or an \
         sqlite:// file on persistent storage",
    )]
}

fn sqlite_in_temp_dir(s: &Settings) -> Vec<Issue> {
    if !s.database().target().is_in_temp_dir() {
        return Vec::new();
    }
    vec![issue(
        "database.url",
        "the SQLite file is under the temporary directory, which may be wiped",
        "put the database file on persistent storage",
    )]
}

fn implicit_bind(s: &Settings) -> Vec<Issue> {
    if s.bind_explicit() {
        return Vec::new();
    }
    vec![issue(
        "server.bind",
        "not set; the development default (127.0.0.1:8080) was meant for a laptop",
        "set APP__SERVER__BIND to the address the deployment listens on",
    )]
}

fn plain_http_exposed(s: &Settings) -> Vec<Issue> {
    let bind = s.server().bind();
    // With tls.cert_file/key_file the listener speaks HTTPS itself; the optional redirect
    // listener answers only redirects, so it carries no application data.
    if bind.ip().is_loopback() || s.server().behind_tls_proxy() || s.tls().enabled() {
        return Vec::new();
    }
    vec![issue(
        "server.bind",
        format!(
            "the server speaks plain HTTP on {bind}, reachable beyond this machine, and no \
             TLS-terminating proxy is declared"
        ),
        "put a TLS-terminating proxy (ingress, load balancer) in front and set \
         APP__SERVER__BEHIND_TLS_PROXY=true, or serve HTTPS directly with tls.cert_file and \
         tls.key_file, or bind to 127.0.0.1",
    )]
}

fn debug_logging(s: &Settings) -> Vec<Issue> {
    let filter = s.log().filter().to_ascii_lowercase();
    let verbose = filter
        .split(',')
        .map(|d| d.rsplit('=').next().unwrap_or(d).trim())
        .any(|level| level == "debug" || level == "trace");
    if !verbose {
        return Vec::new();
    }
    vec![issue(
        "log.level",
        "debug or trace logging is on; it can write request data and internals to the logs",
        "set log.level (or RUST_LOG) to info or warn; debug in a staging environment",
    )]
}

fn pretty_logs(s: &Settings) -> Vec<Issue> {
    if s.log().format() != LogFormat::Pretty {
        return Vec::new();
    }
    vec![issue(
        "log.format",
        "console logs are human-formatted; collectors cannot parse them reliably",
        "set log.format = \"json\" (the production default)",
    )]
}

fn unfinished_rotation(s: &Settings) -> Vec<Issue> {
    match s.inspection().secrets_file() {
        Some(file) if file.key_index() > 0 => vec![issue(
            file.path().display().to_string(),
            format!(
                "the secrets file was opened by master key #{} of the list, not the newest",
                file.key_index() + 1
            ),
            "finish the rotation: deploy the file re-encrypted by `server secrets rotate`, \
             then drop the old key from the list",
        )],
        _ => Vec::new(),
    }
}

fn not_production(s: &Settings) -> Vec<Issue> {
    if s.env() == AppEnv::Production {
        return Vec::new();
    }
    vec![issue(
        "APP_ENV",
        format!("the settings were checked as {}, not production", s.env()),
        "run the check with APP_ENV=production (or leave APP_ENV unset)",
    )]
}

fn mfa_key_missing(s: &Settings) -> Vec<Issue> {
    if s.auth().mfa_keys().is_some() {
        return Vec::new();
    }
    vec![issue(
        "auth.mfa_keys",
        "no MFA key is configured: TOTP secrets cannot be sealed at rest, so nobody can enroll \
         a second factor (and administration, which requires one, is closed)",
        "generate a Fernet key (`server mfa keygen`) and store it with \
         `server secrets set auth.mfa_keys` (or APP__AUTH__MFA_KEYS)",
    )]
}

fn development_mfa_key(s: &Settings) -> Vec<Issue> {
    match s.auth().mfa_keys() {
        Some(ring) if ring.has_development_key() => vec![issue(
            "auth.mfa_keys",
            "the MFA key is a development key (marked `dev:`, generated under ./var); anyone \
             with a developer's checkout may hold it",
            "generate a deployment key (`server mfa keygen`), put it first in auth.mfa_keys, \
             run `server mfa reseal`, then remove the development key",
        )],
        _ => Vec::new(),
    }
}

fn admin_mfa_off(s: &Settings) -> Vec<Issue> {
    if s.auth().admin_requires_mfa() {
        return Vec::new();
    }
    vec![issue(
        "auth.admin_requires_mfa",
        "administration does not require a second factor: a stolen administrator password is \
         enough to manage accounts and roles",
        "remove auth.admin_requires_mfa = false, and have administrators enroll TOTP",
    )]
}

#[cfg(test)]
mod tests;
