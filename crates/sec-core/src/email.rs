//! The `Email` newtype: one documented grammar, RFC length limits, IDN domains stored as punycode.
//!
//! Grammar (stricter than the WHATWG HTML "valid e-mail address" rule, never looser):
//!
//! ```text
//! email      = local-part "@" domain
//! local-part = 1*atext *("." 1*atext)          ; RFC 5322 dot-atom-text, ASCII only
//! atext      = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "/"
//!            / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
//! domain     = label 1*("." label)              ; after UTS #46 ToASCII, at least two labels
//! label      = 1*63(ALPHA / DIGIT / "-")        ; no leading or trailing "-"
//! ```
//!
//! Rejected on purpose: quoted local parts (`"john doe"@example.com`), comments, domain
//! literals (`user@[192.0.2.1]`), non-ASCII local parts (RFC 6531), single-label domains
//! (`user@localhost`) and all-numeric top-level labels. `docs/sec-core.md` gives the reasons.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest address accepted, in octets of the stored (punycode) form: RFC 5321 path limit of 256
/// minus the two angle brackets (RFC 5321 erratum 1690).
pub const EMAIL_MAX_LEN: usize = 254;
/// Longest local part accepted, in octets (RFC 5321 §4.5.3.1.1).
pub const EMAIL_LOCAL_PART_MAX_LEN: usize = 64;
/// Raw input longer than this many bytes is refused before any Unicode processing, so a huge
/// input cannot buy expensive IDNA work. Four bytes per stored octet covers every input whose
/// ASCII form could fit in [`EMAIL_MAX_LEN`] short of padding with characters IDNA deletes.
const RAW_INPUT_MAX_BYTES: usize = 4 * EMAIL_MAX_LEN;
const LABEL_MAX_LEN: usize = 63;

/// A syntactically valid e-mail address.
///
/// The local part keeps its case (RFC 5321 lets the receiving server treat it as
/// case-sensitive); the domain is lower-cased and internationalised names are stored in their
/// ASCII (punycode, `xn--`) form, so two spellings of one domain compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email {
    address: String,
    at: usize,
}

/// Why a string is not an acceptable e-mail address. The messages are safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// Nothing was given.
    #[error("the e-mail address is empty")]
    Empty,
    /// Longer than [`EMAIL_MAX_LEN`] octets.
    #[error("the e-mail address is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A control character (U+0000–U+001F, U+007F–U+009F) anywhere in the input.
    #[error("the e-mail address contains a control character")]
    ControlCharacter,
    /// A space or other whitespace anywhere in the input (it is rejected, not trimmed).
    #[error("the e-mail address contains whitespace")]
    Whitespace,
    /// No `@`.
    #[error("the e-mail address has no @")]
    MissingAt,
    /// More than one `@` (only possible inside a quoted local part, which is not accepted).
    #[error("the e-mail address has more than one @")]
    MultipleAt,
    /// Nothing before the `@`.
    #[error("the part before the @ is empty")]
    LocalPartEmpty,
    /// The part before the `@` is longer than [`EMAIL_LOCAL_PART_MAX_LEN`] octets.
    #[error("the part before the @ is longer than {max} characters")]
    LocalPartTooLong {
        /// The limit.
        max: usize,
    },
    /// A quoted local part such as `"john doe"@example.com`.
    #[error("quoted e-mail addresses are not accepted")]
    QuotedLocalPart,
    /// A character outside the allowed set in the local part.
    #[error("the part before the @ contains a character that is not allowed: {character:?}")]
    LocalPartInvalidCharacter {
        /// The first offending character.
        character: char,
    },
    /// The local part starts or ends with a dot, or has two dots in a row.
    #[error("the part before the @ starts or ends with a dot or has two dots in a row")]
    LocalPartDots,
    /// Nothing after the `@`.
    #[error("the domain is empty")]
    DomainEmpty,
    /// An address literal such as `user@[192.0.2.1]`.
    #[error("IP address literals are not accepted as e-mail domains")]
    DomainLiteral,
    /// The domain has a single label, such as `localhost`.
    #[error("the domain must have at least two parts, like example.com")]
    DomainNotQualified,
    /// The domain is not a valid (internationalised) host name.
    #[error("the domain is not a valid host name")]
    DomainInvalid,
}

impl Email {
    /// Parses and normalises an e-mail address. Never panics, whatever the input.
    ///
    /// # Errors
    /// Returns the first [`EmailError`] found, checking the whole input, then the local part,
    /// then the domain, then the final length.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.len() > RAW_INPUT_MAX_BYTES {
            return Err(EmailError::TooLong { max: EMAIL_MAX_LEN });
        }
        for c in input.chars() {
            if c.is_control() {
                return Err(EmailError::ControlCharacter);
            }
            if c.is_whitespace() {
                return Err(EmailError::Whitespace);
            }
        }
        let (local, domain) = input.split_once('@').ok_or(EmailError::MissingAt)?;
        check_local_part(local)?;
        if domain.contains('@') {
            return Err(EmailError::MultipleAt);
        }
        let domain = normalize_domain(domain)?;
        let len = local.len() + 1 + domain.len();
        if len > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong { max: EMAIL_MAX_LEN });
        }
        let mut address = String::with_capacity(len);
        address.push_str(local);
        address.push('@');
        address.push_str(&domain);
        Ok(Self { address, at: local.len() })
    }

    /// The whole address in its stored form: `local@ascii-domain`.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The part before the `@`, case preserved.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The domain in ASCII (punycode) form, lower-cased.
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// Consumes the address and returns the stored string.
    pub fn into_string(self) -> String {
        self.address
    }
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::LocalPartEmpty);
    }
    if local.starts_with('"') {
        return Err(EmailError::QuotedLocalPart);
    }
    if let Some(character) =
        local.chars().find(|&c| !(c == '.' || (c.is_ascii() && is_atext(c as u8))))
    {
        return Err(EmailError::LocalPartInvalidCharacter { character });
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::LocalPartDots);
    }
    if local.len() > EMAIL_LOCAL_PART_MAX_LEN {
        return Err(EmailError::LocalPartTooLong { max: EMAIL_LOCAL_PART_MAX_LEN });
    }
    Ok(())
}

/// UTS #46 ToASCII (non-transitional, STD3 ASCII rules, DNS lengths checked), then the LDH label
/// rule checked again on the result: the IDNA step maps and lower-cases, the label rule decides.
fn normalize_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError::DomainEmpty);
    }
    if domain.starts_with('[') {
        return Err(EmailError::DomainLiteral);
    }
    let ascii = Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| EmailError::DomainInvalid)?;
    let mut labels = 0usize;
    let mut last = "";
    for label in ascii.split('.') {
        if !is_ldh_label(label) {
            return Err(EmailError::DomainInvalid);
        }
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err(EmailError::DomainNotQualified);
    }
    // An all-numeric top-level label makes `1.2.3.4` look like a domain; no TLD is numeric
    // (RFC 3696 §2).
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmailError::DomainInvalid);
    }
    Ok(ascii.into_owned())
}

fn is_ldh_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= LABEL_MAX_LEN
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.address
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.address).finish()
    }
}

impl std::str::FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Email {
    type Error = EmailError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.address
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.address)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = crate::serde_str::deserialize_str(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
