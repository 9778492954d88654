//! The messages the server sends, rendered from askama templates in
//! `apps/server/templates/mail/`: for each [`Notice`] a `.txt` part (no escaping: it is plain
//! text) and an `.html` part (HTML-escaped, inside the one layout `mail/layout.html`, no
//! external images, fonts or styles).
//!
//! Every value is the caller's, and some (a user name, an address) were chosen by whoever
//! registered: control characters become spaces before rendering, so no value can start a new
//! line in the text part, and the HTML part escapes them. Subjects are fixed text and the
//! product's name, never a user's input. Links must be `https://` or `http://`, so a template
//! can never render a `javascript:` URL into an `href`.

use askama::Template;

use super::OutgoingMail;

/// What to tell an account's owner. The caller fills every field; `when` is a time the reader
/// understands (RFC 3339 in UTC, say) and `ip` the client address that caused the notice.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// After registration: the link that verifies the address.
    VerifyEmail {
        /// The account's user name.
        username: String,
        /// The verification link (one-time).
        link: String,
        /// Hours until the link expires.
        expires_hours: i64,
    },
    /// An address change, to the *new* address: the link that confirms it.
    ConfirmNewEmail {
        /// The account's user name.
        username: String,
        /// The confirmation link (one-time).
        link: String,
        /// Hours until the link expires.
        expires_hours: i64,
    },
    /// An address change was requested, to the *old* address.
    EmailChangeRequested {
        /// The account's user name.
        username: String,
        /// The address asked for.
        new_email: String,
        /// When it was asked.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// The address change took effect, to the old address.
    EmailChanged {
        /// The account's user name.
        username: String,
        /// When it took effect.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// Someone registered with an address that already has an account: to its owner.
    RegistrationAttempt {
        /// The user name of the account that has the address.
        username: String,
        /// When.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// A password reset was requested: the link that sets a new password.
    PasswordReset {
        /// The account's user name.
        username: String,
        /// The reset link (one-time).
        link: String,
        /// Minutes until the link expires.
        expires_minutes: i64,
        /// When it was requested.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// The password was changed (also after a reset).
    PasswordChanged {
        /// The account's user name.
        username: String,
        /// When.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// A second factor was added.
    SecondFactorAdded {
        /// The account's user name.
        username: String,
        /// When.
        when: String,
        /// From which client address.
        ip: String,
    },
    /// A second factor was removed, by the owner or by an operator.
    SecondFactorRemoved {
        /// The account's user name.
        username: String,
        /// When.
        when: String,
        /// From which client address (the operator's, when `by_operator`).
        ip: String,
        /// Whether an administrator (or `server users reset-mfa`) removed it.
        by_operator: bool,
    },
    /// New recovery codes were generated, voiding the old ones.
    RecoveryCodesRegenerated {
        /// The account's user name.
        username: String,
        /// When.
        when: String,
        /// From which client address.
        ip: String,
    },
}

/// A message could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The recipient is empty or holds a line break or another control character.
    #[error("the recipient address is empty or holds a control character")]
    Recipient,
    /// A link is not an `https://` or `http://` URL (the text is not shown: it holds a token).
    #[error("a link in the message is not an http(s) URL")]
    Link,
    /// The template failed.
    #[error("template: {0}")]
    Template(String),
}

/// Renders `notice` for `to`, naming the service `product` (e.g. `auth.totp_issuer`).
///
/// # Errors
/// [`RenderError`] when `to` or a link is unusable, or a template fails.
pub fn render(notice: &Notice, to: &str, product: &str) -> Result<OutgoingMail, RenderError> {
    if to.trim().is_empty() || to.chars().any(char::is_control) {
        return Err(RenderError::Recipient);
    }
    let notice = notice.cleaned();
    if notice.link().is_some_and(|l| !(l.starts_with("https://") || l.starts_with("http://"))) {
        return Err(RenderError::Link);
    }
    let product = one_line(product);
    let subject = notice.subject(&product);
    let text = TextPart { notice: &notice, product: &product }
        .render()
        .map_err(|e| RenderError::Template(e.to_string()))?;
    let html = HtmlPart { notice: &notice, product: &product, subject: &subject }
        .render()
        .map_err(|e| RenderError::Template(e.to_string()))?;
    Ok(OutgoingMail { to: to.trim().to_owned(), subject, text, html })
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextPart<'a> {
    notice: &'a Notice,
    product: &'a str,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlPart<'a> {
    notice: &'a Notice,
    product: &'a str,
    subject: &'a str,
}

/// `text` on one line: every control character (CR, LF, tab, ...) becomes a space.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

impl Notice {
    fn subject(&self, product: &str) -> String {
        let what = match self {
            Self::VerifyEmail { .. } => "confirm your e-mail address",
            Self::ConfirmNewEmail { .. } => "confirm your new e-mail address",
            Self::EmailChangeRequested { .. } => "a change of your e-mail address was requested",
            Self::EmailChanged { .. } => "your e-mail address was changed",
            Self::RegistrationAttempt { .. } => "someone tried to register with your address",
            Self::PasswordReset { .. } => "reset your password",
            Self::PasswordChanged { .. } => "your password was changed",
            Self::SecondFactorAdded { .. } => "a second factor was added to your account",
            Self::SecondFactorRemoved { .. } => "a second factor was removed from your account",
            Self::RecoveryCodesRegenerated { .. } => "new recovery codes were generated",
        };
        format!("{product}: {what}")
    }

    fn link(&self) -> Option<&str> {
        match self {
            Self::VerifyEmail { link, .. }
            | Self::ConfirmNewEmail { link, .. }
            | Self::PasswordReset { link, .. } => Some(link),
            _ => None,
        }
    }

    /// The same notice with every text on one line.
    fn cleaned(&self) -> Self {
        let c = |s: &String| one_line(s);
        match self {
            Self::VerifyEmail { username, link, expires_hours } => Self::VerifyEmail {
                username: c(username),
                link: c(link),
                expires_hours: *expires_hours,
            },
            Self::ConfirmNewEmail { username, link, expires_hours } => Self::ConfirmNewEmail {
                username: c(username),
                link: c(link),
                expires_hours: *expires_hours,
            },
            Self::EmailChangeRequested { username, new_email, when, ip } => {
                Self::EmailChangeRequested {
                    username: c(username),
                    new_email: c(new_email),
                    when: c(when),
                    ip: c(ip),
                }
            }
            Self::EmailChanged { username, when, ip } => {
                Self::EmailChanged { username: c(username), when: c(when), ip: c(ip) }
            }
            Self::RegistrationAttempt { username, when, ip } => {
                Self::RegistrationAttempt { username: c(username), when: c(when), ip: c(ip) }
            }
            Self::PasswordReset { username, link, expires_minutes, when, ip } => {
                Self::PasswordReset {
                    username: c(username),
                    link: c(link),
                    expires_minutes: *expires_minutes,
                    when: c(when),
                    ip: c(ip),
                }
            }
            Self::PasswordChanged { username, when, ip } => {
                Self::PasswordChanged { username: c(username), when: c(when), ip: c(ip) }
            }
            Self::SecondFactorAdded { username, when, ip } => {
                Self::SecondFactorAdded { username: c(username), when: c(when), ip: c(ip) }
            }
            Self::SecondFactorRemoved { username, when, ip, by_operator } => {
                Self::SecondFactorRemoved {
                    username: c(username),
                    when: c(when),
                    ip: c(ip),
                    by_operator: *by_operator,
                }
            }
            Self::RecoveryCodesRegenerated { username, when, ip } => {
                Self::RecoveryCodesRegenerated { username: c(username), when: c(when), ip: c(ip) }
            }
        }
    }
}
