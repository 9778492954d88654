//! The outbox worker: sends the mail that the account rules queued in the database
//! (`db/outbox.rs`), on every replica, each message by one of them at a time.
//!
//! A message is queued in the same transaction as the change or token it reports, so a
//! committed change always has its mail waiting, whatever happens to the process afterwards
//! (a restart, a SIGKILL between the commit and the send). The worker claims due rows for a
//! lease ([`LEASE_SECS`]), sends each, and deletes a sent row; a send that fails for a
//! reason that may pass (the mail server down, a 4xx answer, a timeout) is tried again after a
//! back-off that doubles from `mail.outbox_retry_base_secs` up to `mail.outbox_retry_max_secs`,
//! until `mail.outbox_max_attempts`; a permanent refusal (5xx) or a payload that no key opens
//! is given up at once. Given-up rows stay for housekeeping
//! ([`crate::housekeeping::FAILED_MAIL_RETENTION_SECS`]) and are counted by `server mail
//! status`.
//!
//! Delivery is at least once: a worker that dies after the mail server accepted a message but
//! before it deleted the row leaves the row to be claimed again when the lease ends, and the
//! message goes out a second time, with the same Message-ID (the row's id), which mail
//! clients use to recognise it.
//!
//! The worker wakes when this replica queues mail ([`crate::db::Db::mail_queued`]) and
//! otherwise polls every `mail.outbox_poll_ms`, which is how mail queued by another replica,
//! or left by a stopped one, is found.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sec_auth::{AccountMail, Auth, Envelope};

use crate::db::{Db, outbox};
use crate::mail::{Mailer, Notice, SendError, render};

/// How long a claim holds, in seconds: longer than a send can take (the SMTP timeout is at
/// most a minute), so that no other worker takes a row that is still being sent.
pub const LEASE_SECS: i64 = 300;

/// Most rows one claim takes: a replica does not hold more than it sends soon.
const BATCH: i64 = 10;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It may pass (the mail server is down or busy, a 4xx answer, a timeout): try again.
    Transient(String),
    /// It will not pass (a 5xx answer, a message that cannot be rendered): give up.
    Permanent(String),
}

/// A future of one send.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + 'a>>;

/// What sends a message: the mail transport with the templates (`crate::mail`), or a test's
/// double.
pub trait Deliver: 'static {
    /// Renders and sends `envelope`; `message_id` is the same on every attempt.
    fn deliver<'a>(&'a self, envelope: &'a Envelope, message_id: &'a str) -> Sending<'a>;
}

/// The real [`Deliver`]: the notice's templates, then the configured transport.
pub struct MailDelivery {
    mailer: Mailer,
    /// The origin the links point at (`server.public_origin`, or the server's own address).
    origin: String,
    /// The service's name in subjects and greetings (`auth.totp_issuer`).
    product: String,
}

impl MailDelivery {
    /// Sends through `mailer`, with links under `origin` (no trailing slash needed).
    pub fn new(mailer: Mailer, origin: &str, product: &str) -> Self {
        Self {
            mailer,
            origin: origin.trim_end_matches('/').to_owned(),
            product: product.to_owned(),
        }
    }

    /// The link of a page that takes a token: the token goes in the fragment, which browsers
    /// never send to a server (no access log, no `Referer`); the page posts it.
    fn link(&self, page: &str, token: &str) -> String {
        format!("{}{page}#token={token}", self.origin)
    }

    /// The notice `envelope` asks for, with its links and circumstances written out.
    pub fn notice(&self, envelope: &Envelope) -> Notice {
        let username = envelope.username.clone();
        let when =
            crate::routes::views::rfc3339(envelope.at).replace('T', " ").replace('Z', " UTC");
        let ip = envelope.ip.clone().unwrap_or_else(|| "an unknown address".to_owned());
        let hours = |expires_at: i64| (expires_at - envelope.at).max(0) / 3600;
        match &envelope.mail {
            AccountMail::VerifyEmail { token, expires_at } => Notice::VerifyEmail {
                username,
                link: self.link(VERIFY_PAGE, token),
                expires_hours: hours(*expires_at),
            },
            AccountMail::ConfirmNewEmail { token, expires_at } => Notice::ConfirmNewEmail {
                username,
                link: self.link(VERIFY_PAGE, token),
                expires_hours: hours(*expires_at),
            },
            AccountMail::EmailChangeRequested { new_email } => {
                Notice::EmailChangeRequested { username, new_email: new_email.clone(), when, ip }
            }
            AccountMail::EmailChanged => Notice::EmailChanged { username, when, ip },
            AccountMail::RegistrationAttempt => Notice::RegistrationAttempt { username, when, ip },
            AccountMail::PasswordReset { token, expires_at } => Notice::PasswordReset {
                username,
                link: self.link(RESET_PAGE, token),
                expires_minutes: (expires_at - envelope.at).max(0) / 60,
                when,
                ip,
            },
            AccountMail::PasswordChanged => Notice::PasswordChanged { username, when, ip },
            AccountMail::SecondFactorAdded => Notice::SecondFactorAdded { username, when, ip },
            AccountMail::SecondFactorRemoved { by_operator } => {
                Notice::SecondFactorRemoved { username, when, ip, by_operator: *by_operator }
            }
            AccountMail::RecoveryCodesRegenerated => {
                Notice::RecoveryCodesRegenerated { username, when, ip }
            }
        }
    }
}

/// The page a verification link opens.
pub const VERIFY_PAGE: &str = "/account/verify-email";
/// The page a reset link opens.
pub const RESET_PAGE: &str = "/account/reset-password";

impl Deliver for MailDelivery {
    fn deliver<'a>(&'a self, envelope: &'a Envelope, message_id: &'a str) -> Sending<'a> {
        Box::pin(async move {
            let notice = self.notice(envelope);
            let mail = render(&notice, &envelope.to, &self.product)
                .map_err(|e| Failure::Permanent(e.to_string()))?;
            self.mailer.send(&mail, message_id).await.map_err(|e| match e {
                SendError::Transient(reason) => Failure::Transient(reason),
                SendError::Permanent(reason) => Failure::Permanent(reason),
            })
        })
    }
}

/// The worker's numbers (`mail.outbox_*`).
#[derive(Debug, Clone, Copy)]
pub struct OutboxConfig {
    /// How often to look for due mail when not woken.
    pub poll: Duration,
    /// Attempts before a message is given up.
    pub max_attempts: i64,
    /// The first retry's delay in seconds; it doubles per attempt.
    pub retry_base_secs: i64,
    /// The longest delay between attempts, in seconds.
    pub retry_max_secs: i64,
}

impl OutboxConfig {
    /// From the settings.
    pub fn from_settings(settings: &sec_config::Settings) -> Self {
        let mail = settings.mail();
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Self {
            poll: mail.outbox_poll(),
            max_attempts: i64::from(mail.outbox_max_attempts()),
            retry_base_secs: secs(mail.outbox_retry_base()).max(1),
            retry_max_secs: secs(mail.outbox_retry_max()).max(1),
        }
    }

    /// When the attempt after the `attempts`-th should run, from `now`.
    pub fn next_attempt(&self, now: i64, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let delay = self.retry_base_secs.saturating_mul(1_i64 << doublings);
        now.saturating_add(delay.min(self.retry_max_secs))
    }
}

/// What one pass over the due mail did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Sent and deleted.
    pub sent: u32,
    /// Failed, to be tried again.
    pub retried: u32,
    /// Given up.
    pub given_up: u32,
}

impl Pass {
    fn handled(&self) -> u32 {
        self.sent + self.retried + self.given_up
    }
}

/// Claims one batch of due mail and sends it. `auth` opens the payloads and tells the time.
///
/// # Errors
/// A database failure while claiming; rows already claimed wait for their lease to end.
pub async fn run_once(
    db: &Db,
    auth: &Auth,
    deliver: &dyn Deliver,
    config: &OutboxConfig,
) -> Result<Pass, crate::db::DbError> {
    let claim = uuid::Uuid::new_v4().to_string();
    let now = auth.now();
    let claimed = {
        let claim = claim.clone();
        db.run(move |conn| outbox::claim(conn, &claim, now, now.saturating_add(LEASE_SECS), BATCH))
            .await?
    };
    let mut pass = Pass::default();
    for row in claimed {
        let outcome = match auth.open_mail(&row.payload) {
            Ok(envelope) => {
                let sent = deliver.deliver(&envelope, &row.id).await;
                (sent, envelope.mail.kind())
            }
            Err(e) => (Err(Failure::Permanent(e.to_string())), "unreadable"),
        };
        let now = auth.now();
        let (id, claim) = (row.id.clone(), claim.clone());
        let finished = match outcome {
            (Ok(()), kind) => {
                tracing::info!(message_id = %row.id, kind, attempt = row.attempts, "mail sent");
                pass.sent += 1;
                db.run(move |conn| outbox::sent(conn, &id, &claim).map(|_| ())).await
            }
            (Err(failure), kind) => {
                let (reason, give_up) = match failure {
                    Failure::Transient(reason) => (reason, row.attempts >= config.max_attempts),
                    Failure::Permanent(reason) => (reason, true),
                };
                let next = config.next_attempt(now, row.attempts);
                let (why, id_for_log) = (reason.clone(), row.id.clone());
                let released = db
                    .run(move |conn| outbox::failed(conn, &id, &claim, now, next, give_up, &why))
                    .await;
                // Logged once the row is released, so the line means what it says.
                if give_up {
                    pass.given_up += 1;
                    tracing::error!(
                        message_id = %id_for_log, kind, attempt = row.attempts, %reason,
                        "mail given up"
                    );
                } else {
                    pass.retried += 1;
                    tracing::warn!(
                        message_id = %id_for_log, kind, attempt = row.attempts, %reason,
                        retry_in_secs = next - now, "mail not sent; will retry"
                    );
                }
                released
            }
        };
        if let Err(e) = finished {
            // The lease ends and the row is claimed again: sent twice at worst, never lost.
            tracing::warn!(message_id = %row.id, error = %e, "outbox row could not be updated");
        }
    }
    Ok(pass)
}

/// Starts the worker on the current runtime, until `stop` changes or is dropped, or `auth`
/// (the running app's rules) is dropped. The server awaits the returned task before it exits,
/// so the process never ends while the worker is inside a database call or a send.
pub fn spawn(
    db: Db,
    auth: &Arc<Auth>,
    deliver: Arc<dyn Deliver>,
    config: OutboxConfig,
    mut stop: tokio::sync::watch::Receiver<()>,
) -> actix_web::rt::task::JoinHandle<()> {
    let rules: Weak<Auth> = Arc::downgrade(auth);
    actix_web::rt::spawn(async move {
        loop {
            if stop.has_changed().unwrap_or(true) {
                break;
            }
            let Some(auth) = rules.upgrade() else { break };
            let outcome = run_once(&db, &auth, deliver.as_ref(), &config).await;
            drop(auth);
            match outcome {
                // A full batch: there may be more due at once.
                Ok(pass) if pass.handled() >= u32::try_from(BATCH).unwrap_or(u32::MAX) => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the outbox could not be read"),
            }
            tokio::select! {
                _ = stop.changed() => break,
                () = db.mail_queued().notified() => {}
                () = tokio::time::sleep(config.poll) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::OutboxConfig;

    #[test]
    fn the_delay_doubles_from_the_base_up_to_the_cap() {
        let config = OutboxConfig {
            poll: std::time::Duration::from_secs(1),
            max_attempts: 10,
            retry_base_secs: 5,
            retry_max_secs: 3600,
        };
        let delays: Vec<i64> = (1..=12).map(|a| config.next_attempt(1000, a) - 1000).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(config.next_attempt(i64::MAX - 1, 99), i64::MAX);
    }
}
