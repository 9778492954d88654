//! The SMTP transport: lettre on tokio over rustls (ring), one connection per message.
//!
//! Security rationale:
//! - TLS is required in both modes. `starttls` is lettre's `Tls::Required`: a relay that does
//!   not offer STARTTLS (or an attacker who strips it from the EHLO answer) fails the send
//!   before any credential or message is written; there is no opportunistic mode. `implicit`
//!   speaks TLS from the first byte and fails against a plaintext port.
//! - The relay's certificate must chain to `mail.smtp_ca_file` when set (then the only roots
//!   trusted: a private relay has no business with a public CA's certificate), else to the
//!   operating system's roots, and must name `mail.smtp_host`. No setting turns either check
//!   off.
//! - Credentials go out only inside TLS (lettre authenticates after the handshake). lettre's
//!   `Credentials` keep a plain copy of the password for the transport's life: the one place
//!   it leaves its `SecretString`, and it is never formatted.
//! - The whole conversation is bounded: lettre's timeout bounds each step, and
//!   [`CONVERSATION_STEPS`] of them bound the send, so a stalled relay cannot hold the outbox
//!   worker.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sec_config::{SmtpSettings, SmtpTls};
use secrecy::ExposeSecret;

use super::{MailSetupError, SendError};

/// Steps of one SMTP conversation, each bounded by `mail.smtp_timeout_secs` (connect,
/// greeting, EHLO, STARTTLS and the handshake, EHLO again, AUTH, MAIL, RCPT, DATA, the
/// message): the whole send may take this many timeouts at most.
const CONVERSATION_STEPS: u32 = 10;

pub(super) struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    deadline: Duration,
    description: String,
}

impl SmtpRelay {
    pub(super) fn new(smtp: &SmtpSettings) -> Result<Self, MailSetupError> {
        let params = tls_parameters(smtp)?;
        let tls = match smtp.tls() {
            SmtpTls::StartTls => Tls::Required(params),
            SmtpTls::Implicit => Tls::Wrapper(params),
        };
        // `builder_dangerous` only means "no TLS unless you set it": it is set on the next
        // line, in both modes.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host())
            .tls(tls)
            .port(smtp.port())
            .timeout(Some(smtp.timeout()));
        if let (Some(user), Some(password)) = (smtp.username(), smtp.password()) {
            builder = builder.credentials(Credentials::new(
                user.to_owned(),
                password.expose_secret().to_owned(),
            ));
        }
        let mode = match smtp.tls() {
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Implicit => "implicit TLS",
        };
        Ok(Self {
            transport: builder.build(),
            deadline: smtp.timeout().saturating_mul(CONVERSATION_STEPS),
            description: format!("smtp {}:{} ({mode})", smtp.host(), smtp.port()),
        })
    }

    pub(super) fn describe(&self) -> String {
        self.description.clone()
    }

    pub(super) async fn send(&self, message: Message) -> Result<(), SendError> {
        match tokio::time::timeout(self.deadline, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(SendError::Transient(format!(
                "the relay did not finish within {} s",
                self.deadline.as_secs()
            ))),
        }
    }
}

/// The roots the relay's certificate must chain to, and the name it must carry.
fn tls_parameters(smtp: &SmtpSettings) -> Result<TlsParameters, MailSetupError> {
    let roots = match smtp.ca_file() {
        Some(path) => ca_file_roots(path)?,
        None => system_roots()?,
    };
    let mut builder =
        TlsParameters::builder(smtp.host().to_owned()).certificate_store(CertificateStore::None);
    for der in roots {
        let cert = Certificate::from_der(der.to_vec())
            .map_err(|e| MailSetupError::Invalid(format!("a trusted root: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| MailSetupError::Invalid(format!("TLS: {e}")))
}

fn ca_file_roots(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, MailSetupError> {
    let problem =
        |reason: String| MailSetupError::CaFile { path: path.display().to_string(), reason };
    let pem = std::fs::read(path).map_err(|e| problem(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(problem("holds no certificate (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

fn system_roots() -> Result<Vec<CertificateDer<'static>>, MailSetupError> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(error = %error, "a system root certificate store could not be read");
    }
    if found.certs.is_empty() {
        return Err(MailSetupError::NoSystemRoots);
    }
    Ok(found.certs)
}

/// Reply codes that refuse our credentials rather than the message (RFC 4954: 530
/// authentication required, 534 mechanism too weak, 535 credentials invalid, 538 encryption
/// required): the operator fixes the settings and the message goes, so it waits.
const CREDENTIAL_CODES: [u16; 4] = [530, 534, 535, 538];

/// 5xx refusing the message or its recipient is permanent; everything else (4xx, no
/// connection, timeouts, a failed handshake, a relay without STARTTLS, refused credentials)
/// may pass on a later attempt. The text is lettre's: the kind, the reply code and the relay's
/// reply, which never quotes the message.
pub(super) fn classify(error: &lettre::transport::smtp::Error) -> SendError {
    let text = error.to_string();
    if is_permanent(error.status().map(u16::from)) {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// Whether a failure with this reply code (none: no reply, e.g. a network error) will fail
/// again.
pub(super) fn is_permanent(code: Option<u16>) -> bool {
    code.is_some_and(|c| (500..600).contains(&c) && !CREDENTIAL_CODES.contains(&c))
}
