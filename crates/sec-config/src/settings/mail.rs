//! Mail settings: the `mail` section, its raw form and its checks. How the server delivers
//! (a file per message in development, an SMTP relay over TLS in production), who the mail is
//! from, and the knobs of the outbox worker that retries deliveries.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::in_range;
use crate::problem::Problem;

/// `mail.from` when unset: fine on a laptop, refused in production (SEC-C042).
pub const DEFAULT_MAIL_FROM: &str = "server <no-reply@localhost>";
/// Folder under the var folder where the file transport writes when `mail.file_dir` is unset.
const DEFAULT_FILE_SUBDIR: &str = "mail";
/// Longest display name of `mail.from`, in characters.
const FROM_NAME_MAX_CHARS: usize = 64;

/// Mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    transport: MailTransportSetting,
    from: MailFrom,
    outbox_poll: Duration,
    outbox_max_attempts: u32,
    outbox_retry_base: Duration,
    outbox_retry_max: Duration,
}

impl MailSettings {
    /// How messages leave the server (`mail.transport`: `file`, the default, or `smtp`).
    pub fn transport(&self) -> &MailTransportSetting {
        &self.transport
    }

    /// The sender's display name, when `mail.from` has one (`Example <no-reply@example.com>`).
    pub fn from_name(&self) -> Option<&str> {
        self.from.name.as_deref()
    }

    /// The sender's address (`mail.from`, default `no-reply@localhost`).
    pub fn from_address(&self) -> &str {
        &self.from.address
    }

    /// The sender as `mail.from` gives it: `Name <address>`, or the bare address.
    pub fn from_mailbox(&self) -> String {
        match &self.from.name {
            Some(name) => format!("{name} <{}>", self.from.address),
            None => self.from.address.clone(),
        }
    }

    /// The domain of the sender's address: the right-hand side of every `Message-ID`.
    pub fn from_domain(&self) -> &str {
        self.from.address.rsplit_once('@').map_or("localhost", |(_, d)| d)
    }

    /// Whether `mail.from` is the development default or any address at `localhost`, which
    /// receiving servers refuse or file as spam (SEC-C042).
    pub fn from_is_local(&self) -> bool {
        let domain = self.from_domain().to_ascii_lowercase();
        domain == "localhost" || domain.ends_with(".localhost")
    }

    /// The SMTP password when the relay has one: the loader looks for it in the arguments.
    pub(crate) fn smtp_password(&self) -> Option<&SecretString> {
        match &self.transport {
            MailTransportSetting::Smtp(smtp) => smtp.password(),
            MailTransportSetting::File { .. } => None,
        }
    }

    /// How often the outbox worker looks for messages due (`mail.outbox_poll_ms`, default
    /// 1000, at least 50).
    pub fn outbox_poll(&self) -> Duration {
        self.outbox_poll
    }

    /// Delivery attempts before a message is given up (`mail.outbox_max_attempts`, default
    /// 10, from 1 to 100).
    pub fn outbox_max_attempts(&self) -> u32 {
        self.outbox_max_attempts
    }

    /// Wait before the first retry; it doubles per further failure
    /// (`mail.outbox_retry_base_secs`, default 5).
    pub fn outbox_retry_base(&self) -> Duration {
        self.outbox_retry_base
    }

    /// Longest wait between two attempts (`mail.outbox_retry_max_secs`, default 3600).
    pub fn outbox_retry_max(&self) -> Duration {
        self.outbox_retry_max
    }
}

/// Where messages go. Exhaustive on purpose: a new transport must be handled by every match.
#[derive(Debug, Clone)]
pub enum MailTransportSetting {
    /// One `.eml` file per message in `dir` (`mail.file_dir`, default `var/mail`): for
    /// development, where no relay exists. Production refuses it (SEC-C040).
    File {
        /// The folder (created owner-only on first use).
        dir: PathBuf,
    },
    /// An SMTP relay, always over TLS.
    Smtp(SmtpSettings),
}

/// The SMTP relay. There is no plaintext mode: a relay that offers no TLS is not used.
#[derive(Clone)]
pub struct SmtpSettings {
    host: String,
    host_explicit: bool,
    port: u16,
    tls: SmtpTls,
    username: Option<String>,
    password: Option<SecretString>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
}

// By hand: the password must never reach a log line, even redacted by its type's Debug.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// The relay's host name or IP address (`mail.smtp_host`; `localhost` when unset, which
    /// production refuses: SEC-C041). The certificate must name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether `mail.smtp_host` was set rather than defaulted.
    pub fn host_explicit(&self) -> bool {
        self.host_explicit
    }

    /// The relay's port (`mail.smtp_port`; default 587 with STARTTLS, 465 with implicit TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How the connection is secured (`mail.smtp_tls`).
    pub fn tls(&self) -> SmtpTls {
        self.tls
    }

    /// The user name to authenticate with (`mail.smtp_username`), when the relay wants one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password (`mail.smtp_password`, a secret: from the secrets file or
    /// `APP__MAIL__SMTP_PASSWORD`); set exactly when the user name is.
    pub fn password(&self) -> Option<&SecretString> {
        self.password.as_ref()
    }

    /// A PEM file of the root certificates the relay's certificate must chain to
    /// (`mail.smtp_ca_file`): a private relay's CA. When set, these are the only roots
    /// trusted for the relay; when unset, the operating system's roots are.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// How long connecting to the relay, and each of its replies, may take before the send
    /// fails as transient; a whole send is bounded by ten of these (`mail.smtp_timeout_secs`,
    /// default 10).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// How the SMTP connection is secured. Both modes verify the relay's certificate and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain TCP, then `STARTTLS` before anything else is said (`starttls`, the default, port
    /// 587). A relay that does not offer it is refused: there is no fallback to plaintext.
    StartTls,
    /// TLS from the first byte (`implicit`, port 465).
    Implicit,
}

impl SmtpTls {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Implicit => "implicit",
        }
    }
}

#[derive(Debug, Clone)]
struct MailFrom {
    name: Option<String>,
    address: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMail {
    transport: Option<String>,
    from: Option<String>,
    file_dir: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<SecretString>,
    smtp_ca_file: Option<String>,
    smtp_timeout_secs: Option<u64>,
    outbox_poll_ms: Option<u64>,
    outbox_max_attempts: Option<u32>,
    outbox_retry_base_secs: Option<u64>,
    outbox_retry_max_secs: Option<u64>,
}

// By hand, like `SmtpSettings`: the raw password is a secret too.
impl fmt::Debug for RawMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMail")
            .field("transport", &self.transport)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "(redacted)"))
            .finish_non_exhaustive()
    }
}

/// The `mail` section. `var_dir` is the folder of local state, under which the file transport
/// writes by default. Every problem is pushed; the value is only used when there are none.
pub(super) fn validate(
    raw: RawMail,
    var_dir: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> MailSettings {
    let from = parse_from(raw.from.as_deref().unwrap_or(DEFAULT_MAIL_FROM)).unwrap_or_else(|e| {
        problems.push(Problem::new("mail.from", e));
        MailFrom { name: None, address: "no-reply@localhost".to_owned() }
    });
    let transport = match raw.transport.as_deref().map(str::trim) {
        None | Some("file") => {
            MailTransportSetting::File { dir: file_dir(&raw, var_dir, problems) }
        }
        Some("smtp") => MailTransportSetting::Smtp(validate_smtp(&raw, problems)),
        Some(other) => {
            problems.push(Problem::new(
                "mail.transport",
                format!("must be file or smtp (got {other:?})"),
            ));
            MailTransportSetting::File { dir: PathBuf::new() }
        }
    };
    let poll_ms = in_range("mail.outbox_poll_ms", raw.outbox_poll_ms, 1000, 50, 60_000, problems);
    let max_attempts =
        in_range("mail.outbox_max_attempts", raw.outbox_max_attempts, 10, 1, 100, problems);
    let retry_base =
        in_range("mail.outbox_retry_base_secs", raw.outbox_retry_base_secs, 5, 1, 86_400, problems);
    let retry_max = in_range(
        "mail.outbox_retry_max_secs",
        raw.outbox_retry_max_secs,
        3600,
        1,
        7 * 86_400,
        problems,
    );
    if retry_base > retry_max {
        problems.push(Problem::new(
            "mail.outbox_retry_base_secs",
            format!("must not exceed mail.outbox_retry_max_secs ({retry_max})"),
        ));
    }
    MailSettings {
        transport,
        from,
        outbox_poll: Duration::from_millis(poll_ms),
        outbox_max_attempts: max_attempts,
        outbox_retry_base: Duration::from_secs(retry_base),
        outbox_retry_max: Duration::from_secs(retry_max),
    }
}

fn file_dir(raw: &RawMail, var_dir: Option<&Path>, problems: &mut Vec<Problem>) -> PathBuf {
    match raw.file_dir.as_deref() {
        Some(dir) if dir.trim().is_empty() => {
            problems.push(Problem::new("mail.file_dir", "must not be empty when set"));
            PathBuf::new()
        }
        Some(dir) => PathBuf::from(dir),
        // The binary's var folder is `./var`, so `cargo run` writes to ./var/mail.
        None => var_dir.unwrap_or(Path::new("var")).join(DEFAULT_FILE_SUBDIR),
    }
}

fn validate_smtp(raw: &RawMail, problems: &mut Vec<Problem>) -> SmtpSettings {
    let host_explicit = raw.smtp_host.is_some();
    let host = raw.smtp_host.as_deref().unwrap_or("localhost").trim().to_owned();
    if !is_host(&host) {
        problems.push(Problem::new(
            "mail.smtp_host",
            "must be a host name or an IP address, without scheme or port (e.g. \
             smtp.example.com; the port is mail.smtp_port)",
        ));
    }
    let tls = match raw.smtp_tls.as_deref().map(str::trim) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("implicit") => SmtpTls::Implicit,
        Some(other) => {
            problems.push(Problem::new(
                "mail.smtp_tls",
                format!("must be starttls or implicit (got {other:?}); there is no plaintext mode"),
            ));
            SmtpTls::StartTls
        }
    };
    let default_port = match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Implicit => 465,
    };
    let port = in_range("mail.smtp_port", raw.smtp_port, default_port, 1, u16::MAX, problems);
    let username = raw.smtp_username.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if username.is_some_and(|u| u.chars().any(char::is_control)) {
        problems.push(Problem::new("mail.smtp_username", "must not contain control characters"));
    }
    // The message names the key, never the value.
    let password =
        raw.smtp_password.clone().filter(|p| !secrecy::ExposeSecret::expose_secret(p).is_empty());
    match (username, &password) {
        (Some(_), None) => problems.push(Problem::new(
            "mail.smtp_password",
            "mail.smtp_username is set but no password: set both, or neither for a relay that \
             takes no credentials",
        )),
        (None, Some(_)) => problems.push(Problem::new(
            "mail.smtp_username",
            "mail.smtp_password is set but no user name: set both, or neither",
        )),
        _ => {}
    }
    let ca_file = match raw.smtp_ca_file.as_deref() {
        Some(path) if path.trim().is_empty() => {
            problems.push(Problem::new("mail.smtp_ca_file", "must not be empty when set"));
            None
        }
        other => other.map(PathBuf::from),
    };
    let timeout = in_range("mail.smtp_timeout_secs", raw.smtp_timeout_secs, 10, 1, 300, problems);
    SmtpSettings {
        host,
        host_explicit,
        port,
        tls,
        username: username.map(str::to_owned),
        password,
        ca_file,
        timeout: Duration::from_secs(timeout),
    }
}

/// A DNS name (letters, digits, `-` and `.`) or an IP address; nothing that could carry a
/// scheme, port, path or a line break into the SMTP conversation.
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `mail.from`: `Display Name <local@domain>` or a bare `local@domain`. The address follows
/// sec-core's `Email` grammar, except that the domain may be `localhost` (the development
/// default, which a deploy rule refuses in production). Line breaks and other control
/// characters are refused anywhere, so the value can never add a header.
fn parse_from(text: &str) -> Result<MailFrom, String> {
    if text.chars().any(char::is_control) {
        return Err("must not contain line breaks or other control characters".to_owned());
    }
    let text = text.trim();
    let (name, address) = match text.strip_suffix('>') {
        Some(rest) => {
            let (name, address) = rest.rsplit_once('<').ok_or_else(|| {
                "must be an address (no-reply@example.com) or Name <no-reply@example.com>"
                    .to_owned()
            })?;
            (display_name(name)?, address.trim())
        }
        None => (None, text),
    };
    Ok(MailFrom { name, address: mail_address(address)? })
}

fn display_name(raw: &str) -> Result<Option<String>, String> {
    let name = raw.trim();
    let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(name).trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > FROM_NAME_MAX_CHARS {
        return Err(format!("the display name must have at most {FROM_NAME_MAX_CHARS} characters"));
    }
    // Quotes, angle brackets and backslashes would need quoting rules that differ between
    // readers; leaving them out keeps the header unambiguous.
    if name.chars().any(|c| matches!(c, '"' | '<' | '>' | '\\')) {
        return Err(
            "the display name must not contain quotes, angle brackets or backslashes".to_owned()
        );
    }
    Ok(Some(name.to_owned()))
}

fn mail_address(address: &str) -> Result<String, String> {
    let invalid = |e: String| format!("{address:?} is not a valid address: {e}");
    let (local, domain) =
        address.rsplit_once('@').ok_or_else(|| invalid("it has no @".to_owned()))?;
    if domain.eq_ignore_ascii_case("localhost") {
        // sec-core refuses single-label domains; the local part is checked on its own.
        sec_core::Email::parse(&format!("{local}@example.com"))
            .map_err(|e| invalid(e.to_string()))?;
        return Ok(format!("{local}@localhost"));
    }
    sec_core::Email::parse(address)
        .map(|e| e.as_str().to_owned())
        .map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
