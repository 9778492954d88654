//! Mail delivery: [`Mailer`] sends a rendered [`OutgoingMail`] through the transport the
//! settings name (an SMTP relay over TLS, or one file per message in development), and
//! [`render`] turns a [`Notice`] into one.
//!
//! The mailer knows nothing of accounts or the outbox: the outbox worker calls
//! [`Mailer::send`] once per attempt with the row's stable id, and reads [`SendError`] to
//! decide between a retry ([`SendError::Transient`]) and giving up ([`SendError::Permanent`]).
//! Neither error, nor any log line here, ever holds a message body: bodies carry one-time
//! links.

use std::fmt;
use std::sync::Arc;

use lettre::message::Mailbox;
use sec_config::{MailTransportSetting, Settings};

mod file;
mod message;
mod smtp;
mod templates;

pub use templates::{Notice, RenderError, render};

/// A message ready to send: rendered, addressed, not yet sent. The outbox stores it (sealed)
/// as JSON, hence `Serialize`/`Deserialize`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct OutgoingMail {
    /// The recipient's address.
    pub to: String,
    /// The subject, plain text without line breaks.
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part (escaped by its template).
    pub html: String,
}

// By hand: the parts may carry a one-time link, which must never reach a log line.
impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a send failed. The text names the cause (the relay's reply code, a refused
/// certificate, a full disk), never the message's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Worth another attempt later: the relay could not be reached, timed out, failed the TLS
    /// handshake or answered 4xx, the relay refused our credentials (an operator's fix, not
    /// the message's fault), or the disk of the file transport is full.
    #[error("mail delivery failed, will retry: {0}")]
    Transient(String),
    /// Will fail again: the relay refused the message or its recipient (5xx), or the message
    /// cannot be built (an invalid address).
    #[error("mail delivery failed for good: {0}")]
    Permanent(String),
}

/// The mailer cannot be built from the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailSetupError {
    /// `mail.smtp_ca_file` cannot be read or holds no certificate.
    #[error("mail.smtp_ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No CA file is configured and the system has no trusted root certificates.
    #[error(
        "no trusted root certificates found on this system for the SMTP relay: install the \
         CA bundle (ca-certificates) or set mail.smtp_ca_file"
    )]
    NoSystemRoots,
    /// The TLS configuration or the sender cannot be built.
    #[error("mail settings: {0}")]
    Invalid(String),
}

/// Sends mail through the configured transport. Cheap to clone: clones share one transport.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: Mailbox,
    /// The right-hand side of every Message-ID.
    domain: String,
    transport: Transport,
}

enum Transport {
    File(file::FileSink),
    Smtp(smtp::SmtpRelay),
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("transport", &self.describe()).finish()
    }
}

impl Mailer {
    /// Builds the mailer of `settings.mail()`: reads the relay's CA file (or the system's
    /// roots) once, here, so that a bad file stops start-up instead of every send.
    ///
    /// # Errors
    /// [`MailSetupError`] when the CA file or the system roots cannot be used.
    pub fn from_settings(settings: &Settings) -> Result<Self, MailSetupError> {
        let mail = settings.mail();
        let address = mail
            .from_address()
            .parse()
            .map_err(|e| MailSetupError::Invalid(format!("mail.from: {e}")))?;
        let from = Mailbox::new(mail.from_name().map(str::to_owned), address);
        let transport = match mail.transport() {
            MailTransportSetting::File { dir } => Transport::File(file::FileSink::new(dir)),
            MailTransportSetting::Smtp(smtp) => Transport::Smtp(smtp::SmtpRelay::new(smtp)?),
        };
        Ok(Self {
            inner: Arc::new(Inner { from, domain: mail.from_domain().to_owned(), transport }),
        })
    }

    /// Sends `mail`. `message_id` is stable per outbox row (letters, digits, `.`, `_`, `-`),
    /// so that every attempt carries the same `Message-ID: <message_id@domain of mail.from>`
    /// and a receiver can drop a duplicate of a retried send.
    ///
    /// # Errors
    /// [`SendError::Transient`] when a later attempt may succeed, [`SendError::Permanent`]
    /// when it will not.
    pub async fn send(&self, mail: &OutgoingMail, message_id: &str) -> Result<(), SendError> {
        let header_id = message::header_id(message_id, &self.inner.domain)?;
        let message = message::build(&self.inner.from, mail, &header_id)?;
        match &self.inner.transport {
            Transport::File(sink) => sink.write(message, message_id).await,
            Transport::Smtp(relay) => relay.send(message).await,
        }
    }

    /// The transport in a few words, for the start-up log: `smtp mail.example.com:587
    /// (STARTTLS)` or `file var/mail`.
    pub fn describe(&self) -> String {
        match &self.inner.transport {
            Transport::File(sink) => sink.describe(),
            Transport::Smtp(relay) => relay.describe(),
        }
    }
}

#[cfg(test)]
mod tests;
