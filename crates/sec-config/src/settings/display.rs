//! The settings as text for people: every value with the layer it came from, secrets
//! redacted.

use std::fmt;

use super::{CorsOrigins, MailTransportSetting, Settings};
use crate::inspection::Layer;

impl fmt::Display for Settings {
    /// Every setting with its value and the layer it came from; secrets are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer = |key: &str| self.inspection().layer_of(key);
        let line = |f: &mut fmt::Formatter<'_>, key: &str, value: String| -> fmt::Result {
            match layer(key) {
                Layer::Default => writeln!(f, "{key} = {value}"),
                l => writeln!(f, "{key} = {value}  # {l}"),
            }
        };
        writeln!(f, "environment: {}", self.env())?;
        line(f, "server.bind", self.server().bind().to_string())?;
        line(f, "server.behind_tls_proxy", self.server().behind_tls_proxy().to_string())?;
        line(
            f,
            "server.public_origin",
            self.server()
                .public_origin()
                .map_or("unset (the Host header)".into(), |o| o.to_string()),
        )?;
        line(
            f,
            "server.trusted_proxies",
            format!("{:?}", self.server().trusted_proxies().networks()),
        )?;
        match self.tls().files() {
            Some(t) => {
                line(f, "tls.cert_file", t.cert_file().display().to_string())?;
                line(f, "tls.key_file", t.key_file().display().to_string())?;
            }
            None => line(f, "tls.cert_file", "unset (plain HTTP)".into())?,
        }
        line(f, "rate_limit.enabled", self.rate_limit().enabled().to_string())?;
        line(f, "headers.enabled", self.headers().enabled().to_string())?;
        line(
            f,
            "cors.allowed_origins",
            match self.cors().origins() {
                CorsOrigins::List(list) => {
                    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                }
                CorsOrigins::Any => "*".into(),
                _ => "none (CORS off)".into(),
            },
        )?;
        line(
            f,
            "server.shutdown_timeout_secs",
            self.server().shutdown_timeout().as_secs().to_string(),
        )?;
        line(
            f,
            "server.workers",
            self.server().workers().map_or("per core".into(), |w| w.to_string()),
        )?;
        // `describe` drops user name and password.
        line(f, "database.url", self.database().target().describe())?;
        line(f, "database.pool_max_size", self.database().pool_max_size().to_string())?;
        line(f, "database.migrate_on_start", self.database().migrate_on_start().to_string())?;
        line(f, "log.level", self.log().filter().to_owned())?;
        line(f, "log.format", format!("{:?}", self.log().format()).to_lowercase())?;
        line(f, "log.dir", self.log().dir().display().to_string())?;
        line(f, "auth.reauth_window_secs", self.auth().reauth_window_secs().to_string())?;
        line(f, "auth.admin_requires_mfa", self.auth().admin_requires_mfa().to_string())?;
        let a = self.auth();
        line(f, "auth.require_verified_email", a.require_verified_email().to_string())?;
        line(f, "auth.verify_email_ttl_secs", a.verify_email_ttl_secs().to_string())?;
        line(f, "auth.password_reset_ttl_secs", a.password_reset_ttl_secs().to_string())?;
        line(f, "auth.totp_issuer", format!("{:?}", self.auth().totp_issuer()))?;
        line(
            f,
            "auth.mfa_keys",
            self.auth()
                .mfa_keys()
                .map_or("none".into(), |k| format!("{} key(s) (redacted)", k.keys().len())),
        )?;
        let mail = self.mail();
        match mail.transport() {
            MailTransportSetting::File { dir } => {
                line(f, "mail.transport", "file".into())?;
                line(f, "mail.file_dir", dir.display().to_string())?;
            }
            MailTransportSetting::Smtp(smtp) => {
                line(f, "mail.transport", "smtp".into())?;
                line(f, "mail.smtp_host", smtp.host().to_owned())?;
                line(f, "mail.smtp_port", smtp.port().to_string())?;
                line(f, "mail.smtp_tls", smtp.tls().as_str().to_owned())?;
                line(
                    f,
                    "mail.smtp_username",
                    smtp.username().map_or("none".into(), |u| format!("{u:?}")),
                )?;
                line(
                    f,
                    "mail.smtp_password",
                    smtp.password().map_or("none".into(), |_| "set (redacted)".into()),
                )?;
                line(
                    f,
                    "mail.smtp_ca_file",
                    smtp.ca_file()
                        .map_or("unset (the system's roots)".into(), |p| p.display().to_string()),
                )?;
            }
        }
        line(f, "mail.from", format!("{:?}", mail.from_mailbox()))?;
        line(f, "mail.outbox_max_attempts", mail.outbox_max_attempts().to_string())?;
        match self.inspection().master_keys() {
            Some(k) => writeln!(
                f,
                "master keys: {} from {} (redacted)",
                k.ring().keys().len(),
                k.origin()
            )?,
            None => writeln!(f, "master keys: none")?,
        }
        match self.inspection().secrets_file() {
            Some(s) => writeln!(
                f,
                "secrets file: {} ({} entries, redacted)",
                s.path().display(),
                s.keys().len()
            ),
            None => writeln!(f, "secrets file: none"),
        }
    }
}
