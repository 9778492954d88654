//! Loading the settings layers and validating them into [`Settings`].
//!
//! This file holds the loader: the known keys, the raw structure the layers merge into and the
//! order in which the sections are checked. Each section's typed settings, raw form and checks
//! live beside it (`server.rs`, `database.rs`, `log.rs`, `auth.rs`, `http.rs`, `mail.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use config::{Config, File, FileFormat};
use serde::{Deserialize, Deserializer};

use crate::database::DatabaseTarget;
use crate::env::AppEnv;
use crate::inspection::{self, Inspection, Layer};
use crate::master_key::MasterKeys;
use crate::problem::{Problem, SettingsError};
use crate::secrets_file::SecretsDoc;
use crate::sources::Sources;

mod auth;
mod database;
mod display;
pub(crate) mod http;
mod log;
mod mail;
mod server;

pub use auth::{AuthSettings, SESSION_TOUCH_INTERVAL_SECS};
pub use database::DatabaseSettings;
pub use http::{
    CorsOrigins, CorsSettings, CsrfSettings, DEFAULT_HSTS_MAX_AGE_SECS, DEFAULT_PAGE_CSP,
    HeadersSettings, LimitsSettings, RateLimitSettings, TlsFiles, TlsSettings,
};
pub use log::{LogFormat, LogRotation, LogSettings};
pub use mail::{DEFAULT_MAIL_FROM, MailSettings, MailTransportSetting, SmtpSettings, SmtpTls};
pub use server::{ClientIpHeader, ServerSettings, TrustedProxies};

/// Every settings key, as a dotted path. An `APP__…` variable that maps to none of them is a
/// typo and is reported rather than ignored.
pub const KNOWN_KEYS: &[&str] = &[
    "server.bind",
    "server.shutdown_timeout_secs",
    "server.workers",
    "server.behind_tls_proxy",
    "server.public_origin",
    "server.trusted_proxies",
    "server.client_ip_header",
    "database.url",
    "database.url_file",
    "database.pool_max_size",
    "database.acquire_timeout_ms",
    "database.migrate_on_start",
    "log.dir",
    "log.level",
    "log.format",
    "log.max_files",
    "log.rotation",
    "log.max_file_mb",
    "log.audit_key_file",
    "auth.session_idle_timeout_secs",
    "auth.session_absolute_timeout_secs",
    "auth.password_min_chars",
    "auth.argon2_memory_kib",
    "auth.argon2_iterations",
    "auth.argon2_parallelism",
    "auth.hash_wait_ms",
    "auth.hash_concurrency",
    "auth.hash_queue",
    "auth.reauth_window_secs",
    "auth.admin_requires_mfa",
    "auth.require_verified_email",
    "auth.verify_email_ttl_secs",
    "auth.password_reset_ttl_secs",
    "auth.totp_issuer",
    "auth.mfa_keys",
    "auth.mfa_keys_file",
    "auth.throttle_base_delay_secs",
    "auth.throttle_max_delay_secs",
    "auth.throttle_hard_limit",
    "auth.throttle_reset_secs",
    "auth.max_sessions_per_account",
    "auth.housekeeping_interval_secs",
    "auth.housekeeping_batch_size",
    "limits.max_url_bytes",
    "limits.client_request_timeout_ms",
    "limits.client_disconnect_timeout_ms",
    "limits.keep_alive_secs",
    "limits.max_connections",
    "limits.max_connection_rate",
    "limits.body_read_timeout_ms",
    "limits.max_connections_per_address",
    "headers.enabled",
    "headers.hsts_max_age_secs",
    "headers.hsts_include_subdomains",
    "headers.hsts_preload",
    "headers.page_csp",
    "csrf.allowed_origins",
    "cors.allowed_origins",
    "cors.allow_credentials",
    "cors.max_age_secs",
    "rate_limit.enabled",
    "rate_limit.per_second",
    "rate_limit.burst",
    "rate_limit.auth_per_minute",
    "rate_limit.auth_burst",
    "rate_limit.csp_report_per_second",
    "rate_limit.csp_report_burst",
    "tls.cert_file",
    "tls.key_file",
    "tls.redirect_http_bind",
    "mail.transport",
    "mail.from",
    "mail.file_dir",
    "mail.smtp_host",
    "mail.smtp_port",
    "mail.smtp_tls",
    "mail.smtp_username",
    "mail.smtp_password",
    "mail.smtp_ca_file",
    "mail.smtp_timeout_secs",
    "mail.outbox_poll_ms",
    "mail.outbox_max_attempts",
    "mail.outbox_retry_base_secs",
    "mail.outbox_retry_max_secs",
];

const ENV_PREFIX: &str = "APP__";
const ENV_SEPARATOR: &str = "__";
const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// File name of the generated development MFA key ring, inside the var folder.
pub const DEV_MFA_KEY_FILE: &str = "mfa.keys";

/// The server's validated settings. Fields are private: a `Settings` value can only come from
/// [`Settings::load`], so holding one means every check has passed.
#[derive(Debug, Clone)]
pub struct Settings {
    env: AppEnv,
    server: ServerSettings,
    database: DatabaseSettings,
    log: LogSettings,
    auth: AuthSettings,
    http: http::HttpSettings,
    mail: MailSettings,
    inspection: Inspection,
}

impl Settings {
    /// Merges the layers, validates every value, then applies the deploy rules that refuse
    /// unsafe settings for this environment ([`Settings::validate_for`]). Returns every
    /// problem found, not only the first.
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let settings = Self::load_without_deploy_rules(sources)?;
        settings.validate_for(settings.env)?;
        Ok(settings)
    }

    /// Merges and validates the layers without judging them against the deploy rules: what
    /// `check --deploy` inspects. A server must not run on settings loaded this way.
    pub fn load_without_deploy_rules(sources: &Sources) -> Result<Self, SettingsError> {
        let mut problems = Vec::new();
        let env = sources
            .app_env()
            .map_err(|e| SettingsError::new(vec![Problem::new("APP_ENV", e.to_string())]))?;
        let mut inspection = Inspection::default();

        let master_keys = MasterKeys::load(sources, env).unwrap_or_else(|e| {
            problems.push(Problem::new(e.variable(), e.to_string()));
            None
        });
        if let Some(crate::master_key::KeyOrigin::DevelopmentFile {
            path, generated: true, ..
        }) = master_keys.as_ref().map(MasterKeys::origin)
        {
            inspection.notes.push(format!(
                "generated a development master key in {} (owner-only); it is reused from now \
                 on, and production refuses it",
                path.display()
            ));
        }
        let secrets = inspection::open_secrets(sources, env, master_keys.as_ref(), &mut problems);
        let (secrets_doc, secrets_state) = match secrets {
            Some((doc, state)) => (Some(doc), Some(state)),
            None => (None, None),
        };
        let file_layers = inspection::read_file_layers(sources, env);
        for (path, table) in &file_layers {
            for (key, _) in inspection::flatten(table) {
                inspection.record(&key, Layer::File(path.clone()));
            }
        }
        if let (Some(doc), Some(state)) = (&secrets_doc, &secrets_state) {
            for (key, _) in doc.entries() {
                inspection.record(key, Layer::Secrets(state.path().to_path_buf()));
            }
        }
        inspection.plaintext_secrets =
            inspection::find_plaintext_secrets(&file_layers, secrets_doc.as_ref());

        let raw = merge_layers(sources, env, secrets_doc.as_ref(), &mut inspection, &mut problems);
        let settings = raw.and_then(|raw| validate(env, raw, sources.var_dir(), &mut problems));
        inspection.attribute(&mut problems);
        let Some(mut settings) = settings.filter(|_| problems.is_empty()) else {
            return Err(SettingsError::new(problems));
        };
        if let Some(path) = settings.auth.mfa_keys_file.clone() {
            let ring = crate::master_key::read_owner_only_key_file(&path)
                .map_err(|e| SettingsError::new(vec![Problem::new("auth.mfa_keys_file", e)]))?;
            inspection.record("auth.mfa_keys", Layer::File(path));
            settings.auth.mfa_keys = Some(ring);
        }
        if let (AppEnv::Development, None, Some(var_dir)) =
            (env, settings.auth.mfa_keys.as_ref(), sources.var_dir())
        {
            let path = var_dir.join(DEV_MFA_KEY_FILE);
            match crate::master_key::development_key_ring(&path, sources.read_only()) {
                Ok(None) => {}
                Ok(Some((ring, generated))) => {
                    if generated {
                        inspection.notes.push(format!(
                            "generated a development MFA key in {} (owner-only); it seals TOTP \
                             secrets from now on, and production refuses it",
                            path.display()
                        ));
                    }
                    inspection.record("auth.mfa_keys", Layer::File(path));
                    settings.auth.mfa_keys = Some(ring);
                }
                Err(e) => {
                    return Err(SettingsError::new(vec![Problem::new(
                        "auth.mfa_keys",
                        e.to_string(),
                    )]));
                }
            }
        }
        let database_url = match settings.database.target() {
            DatabaseTarget::Postgres { url } => {
                Some(secrecy::ExposeSecret::expose_secret(url).to_owned())
            }
            DatabaseTarget::Sqlite { .. } => None,
        };
        inspection.secrets_in_args = inspection::find_secrets_in_args(
            sources.args(),
            master_keys.as_ref(),
            secrets_doc.as_ref(),
            database_url.as_deref(),
            settings.auth.mfa_keys.as_ref(),
            settings.mail.smtp_password(),
        );
        inspection.master_keys = master_keys;
        inspection.secrets_file = secrets_state;
        settings.inspection = inspection;
        Ok(settings)
    }

    /// What the loader learned besides the values: each key's layer, the master keys, the
    /// secrets file, notes for the log.
    pub fn inspection(&self) -> &Inspection {
        &self.inspection
    }

    /// The master keys (for features that encrypt data at rest), when configured.
    pub fn master_keys(&self) -> Option<&crate::keyring::KeyRing> {
        self.inspection.master_keys().map(MasterKeys::ring)
    }

    /// The deployment environment.
    pub fn env(&self) -> AppEnv {
        self.env
    }

    /// HTTP listener settings.
    pub fn server(&self) -> &ServerSettings {
        &self.server
    }

    /// Database settings.
    pub fn database(&self) -> &DatabaseSettings {
        &self.database
    }

    /// Log settings.
    pub fn log(&self) -> &LogSettings {
        &self.log
    }

    /// Account, session and password-hashing settings.
    pub fn auth(&self) -> &AuthSettings {
        &self.auth
    }

    /// Mail delivery: the transport, the sender, the outbox worker's knobs.
    pub fn mail(&self) -> &MailSettings {
        &self.mail
    }

    pub(crate) fn database_url_explicit(&self) -> bool {
        self.database.url_explicit
    }

    pub(crate) fn bind_explicit(&self) -> bool {
        self.server.bind_explicit
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    server: server::RawServer,
    database: database::RawDatabase,
    log: log::RawLog,
    limits: http::RawLimits,
    headers: http::RawHeaders,
    csrf: http::RawCsrf,
    cors: http::RawCors,
    rate_limit: http::RawRateLimit,
    tls: http::RawTls,
    auth: auth::RawAuth,
    mail: mail::RawMail,
}

/// A list setting: a TOML array, or (from an environment variable) one comma-separated string.
/// Here rather than in a section because the server and HTTP sections both have lists.
#[derive(Debug, Clone, Default)]
struct StringList(Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            List(Vec<String>),
            Text(String),
        }
        Ok(Self(match Either::deserialize(d)? {
            Either::List(items) => items,
            Either::Text(text) => text.split(',').map(str::to_owned).collect(),
        }))
    }
}

impl StringList {
    /// The non-empty items, trimmed (`"a, b,"` is `a` and `b`).
    fn items(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.trim()).filter(|s| !s.is_empty())
    }
}

/// Files, then variables. Returns `None` when the layers cannot even be merged.
fn merge_layers(
    sources: &Sources,
    env: AppEnv,
    secrets: Option<&SecretsDoc>,
    inspection: &mut Inspection,
    problems: &mut Vec<Problem>,
) -> Option<Raw> {
    let mut builder = Config::builder();
    for name in ["default", env.as_str()] {
        let path = sources.config_dir().join(format!("{name}.toml"));
        builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(false));
    }

    // The decrypted secrets sit between the files and the variables: as overrides applied
    // before the variables' overrides, which therefore win.
    for (key, value) in secrets.map(|d| d.entries().collect::<Vec<_>>()).unwrap_or_default() {
        builder = match builder.set_override(key, secrecy::ExposeSecret::expose_secret(value)) {
            Ok(b) => b,
            Err(_) => {
                problems.push(Problem::new(key, "cannot be applied from the secrets file"));
                return None;
            }
        };
    }

    // (settings key, value, variable it came from), applied in this order: later wins.
    let mut overrides: Vec<(String, &str, &str)> = Vec::new();
    for (name, value) in sources.env_vars() {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let key = rest.to_ascii_lowercase().replace(ENV_SEPARATOR, ".");
        if KNOWN_KEYS.contains(&key.as_str()) {
            overrides.push((key, value, name));
        } else {
            problems.push(Problem::new(name.clone(), unknown_key_message(&key)));
        }
    }
    // DATABASE_URL is the conventional name that tools (and hosting platforms) set; it is an
    // alias, and a disagreement with APP__DATABASE__URL is an error rather than a silent pick.
    if let Some(url) = sources.var("DATABASE_URL") {
        match sources.var("APP__DATABASE__URL") {
            Some(other) if other != url => problems.push(Problem::new(
                "DATABASE_URL",
                "both DATABASE_URL and APP__DATABASE__URL are set, to different values; keep one",
            )),
            _ => overrides.push(("database.url".to_owned(), url, "DATABASE_URL")),
        }
    }
    if let Some(filter) = sources.var("RUST_LOG").filter(|f| !f.trim().is_empty()) {
        overrides.push(("log.level".to_owned(), filter, "RUST_LOG"));
    }
    for (key, value, from) in overrides {
        inspection.record(&key, Layer::Env(from.to_owned()));
        builder = match builder.set_override(key.as_str(), value) {
            Ok(b) => b,
            Err(e) => {
                problems.push(Problem::new(from, e.to_string()));
                return None;
            }
        };
    }

    let merged = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::new("config", e.to_string()));
            return None;
        }
    };
    match merged.try_deserialize::<Raw>() {
        Ok(raw) => Some(raw),
        Err(e) => {
            problems.push(Problem::new("config", e.to_string()));
            None
        }
    }
}

fn unknown_key_message(key: &str) -> String {
    let section = key.split('.').next().unwrap_or_default();
    let near: Vec<&str> =
        KNOWN_KEYS.iter().copied().filter(|k| k.split('.').next() == Some(section)).collect();
    if near.is_empty() {
        format!("{key:?} is not a known setting; known settings: {}", KNOWN_KEYS.join(", "))
    } else {
        format!("{key:?} is not a known setting; this section has: {}", near.join(", "))
    }
}

fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    key: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
    problems: &mut Vec<Problem>,
) -> T {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        problems.push(Problem::new(key, format!("must be between {min} and {max} (got {v})")));
    }
    v
}

fn validate(
    env: AppEnv,
    raw: Raw,
    var_dir: Option<&std::path::Path>,
    problems: &mut Vec<Problem>,
) -> Option<Settings> {
    let start = problems.len();

    let bind_explicit = raw.server.bind.is_some();
    let bind_text = raw.server.bind.as_deref().unwrap_or(DEFAULT_BIND);
    let bind = bind_text.trim().parse::<SocketAddr>().map_err(|_| {
        problems.push(Problem::new(
            "server.bind",
            format!("{bind_text:?} is not an IP address and port, e.g. 127.0.0.1:8080"),
        ));
    });
    let shutdown = in_range(
        "server.shutdown_timeout_secs",
        raw.server.shutdown_timeout_secs,
        30,
        1,
        600,
        problems,
    );
    let workers =
        raw.server.workers.map(|w| in_range("server.workers", Some(w), w, 1, 256, problems));

    // Section by section, in the order the problems are reported: the listener, database,
    // log, the server's proxy keys, the HTTP layer (which needs `server.bind`), auth.
    let database = database::validate(env, &raw.database, problems);
    let log = log::validate(env, raw.log, problems);

    let public_origin = server::public_origin(raw.server.public_origin.as_deref(), problems);
    let trusted_proxies = server::trusted_proxies(raw.server.trusted_proxies.as_ref(), problems);
    let client_ip_header =
        server::client_ip_header(raw.server.client_ip_header.as_deref(), problems);
    let raw_http = http::RawHttp {
        limits: raw.limits,
        headers: raw.headers,
        csrf: raw.csrf,
        cors: raw.cors,
        rate_limit: raw.rate_limit,
        tls: raw.tls,
    };
    let http = http::validate(raw_http, bind.ok(), problems);
    let auth = auth::validate(&raw.auth, env, problems);
    let mail = mail::validate(raw.mail, var_dir, problems);

    if problems.len() > start {
        return None;
    }
    Some(Settings {
        env,
        server: ServerSettings {
            bind: bind.ok()?,
            bind_explicit,
            shutdown_timeout: Duration::from_secs(shutdown),
            workers,
            behind_tls_proxy: raw.server.behind_tls_proxy.unwrap_or(false),
            public_origin,
            trusted_proxies,
            client_ip_header,
        },
        database: database?,
        log,
        auth,
        http,
        mail,
        inspection: Inspection::default(),
    })
}

#[cfg(test)]
mod tests;
