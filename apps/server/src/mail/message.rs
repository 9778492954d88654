//! An [`OutgoingMail`] as an RFC 5322 message: sender, recipient, subject, a stable
//! `Message-ID` and a `multipart/alternative` body of the text and HTML parts.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use super::{OutgoingMail, SendError};

/// Longest message id accepted from the outbox.
const MAX_ID_CHARS: usize = 128;

/// `<id@domain>`, once `id` is known to hold nothing but letters, digits, `.`, `_` and `-`:
/// it goes into a header and (by the file transport) into a file name.
pub(super) fn header_id(id: &str, domain: &str) -> Result<String, SendError> {
    let plain = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !id.starts_with('.');
    if !plain {
        return Err(SendError::Permanent(
            "the message id must be 1 to 128 letters, digits, '.', '_' or '-'".to_owned(),
        ));
    }
    Ok(format!("<{id}@{domain}>"))
}

/// The message. Line breaks in the subject become spaces (lettre encodes the header, and the
/// renderer never puts one there, but a subject is never where a header may start).
pub(super) fn build(
    from: &Mailbox,
    mail: &OutgoingMail,
    header_id: &str,
) -> Result<Message, SendError> {
    if mail.to.chars().any(char::is_control) {
        return Err(SendError::Permanent("the recipient contains a control character".into()));
    }
    let to: Mailbox = mail
        .to
        .trim()
        .parse()
        .map_err(|e| SendError::Permanent(format!("the recipient is not an address: {e}")))?;
    let subject: String =
        mail.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject.trim())
        .message_id(Some(header_id.to_owned()))
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))
}
