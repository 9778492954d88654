//! The password policy for *new* passwords (NIST SP 800-63B-4, OWASP ASVS): length bounds after
//! NFKC, the common-password list, repetition and sequences, context words. No composition
//! rules. Every reason is reported, not just the first.
//!
//! Passwords typed at login are never checked against this policy: an old password that a
//! newer policy would refuse must still verify.

use std::fmt;
use std::sync::Arc;

use icu_casemap::CaseMapper;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::nfkc::with_nfkc;
use crate::{Email, Username, blocklist};

/// The longest password accepted, in Unicode scalar values after NFKC.
pub const PASSWORD_MAX_CHARS: usize = 128;
/// The lowest minimum length the policy can be configured with (NIST: 8 when the password is
/// used only together with a second factor).
pub const PASSWORD_MIN_CHARS_FLOOR: usize = 8;
/// The default minimum length (NIST SP 800-63B-4: 15 when the password is the only factor).
pub const PASSWORD_MIN_CHARS_DEFAULT: usize = 15;
/// Context words (username, e-mail local part, extra words) shorter than this are only matched
/// against the whole password, not searched for inside it: `"jo"` would reject half of all
/// passwords.
const CONTEXT_WORD_MIN_CHARS: usize = 3;

/// Rules for new passwords. Construct with [`PasswordPolicy::new`] or [`Default`] (minimum 15),
/// or deserialise from `{ "min_chars": 15 }` (validated the same way).
#[derive(Clone, Deserialize)]
#[serde(try_from = "PolicySettings")]
pub struct PasswordPolicy {
    min_chars: usize,
    extra_checks: Vec<Arc<dyn PasswordCheck>>,
}

/// The configurable part of a [`PasswordPolicy`], as read from settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySettings {
    #[serde(default = "default_min_chars")]
    min_chars: usize,
}

fn default_min_chars() -> usize {
    PASSWORD_MIN_CHARS_DEFAULT
}

impl TryFrom<PolicySettings> for PasswordPolicy {
    type Error = PolicyConfigError;

    fn try_from(settings: PolicySettings) -> Result<Self, Self::Error> {
        Self::new(settings.min_chars)
    }
}

/// A policy that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyConfigError {
    /// The minimum is below [`PASSWORD_MIN_CHARS_FLOOR`] or above [`PASSWORD_MAX_CHARS`].
    #[error(
        "the minimum password length must be between {PASSWORD_MIN_CHARS_FLOOR} and \
         {PASSWORD_MAX_CHARS}, got {got}"
    )]
    MinCharsOutOfRange {
        /// The value that was refused.
        got: usize,
    },
}

/// An extra, pluggable check (for example a k-anonymity breach-corpus lookup). None is installed
/// by default. A check that does I/O blocks the caller: run policy checks off the async workers.
pub trait PasswordCheck: Send + Sync {
    /// A short stable name, reported in [`PolicyViolation::Rejected`].
    fn name(&self) -> &'static str;

    /// `password` is the NFKC form that would be hashed. Return `Err` with a user-facing reason
    /// to reject it.
    ///
    /// # Errors
    /// The reason the password is refused.
    fn check(&self, password: &str, context: &PasswordContext<'_>) -> Result<(), String>;
}

/// What the policy knows about the account, to refuse passwords built from it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    username: Option<&'a Username>,
    email: Option<&'a Email>,
    words: &'a [&'a str],
}

impl<'a> PasswordContext<'a> {
    /// No context: only the context-free rules apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuse passwords equal to or containing this username (case-insensitively).
    #[must_use]
    pub fn with_username(mut self, username: &'a Username) -> Self {
        self.username = Some(username);
        self
    }

    /// Refuse passwords equal to or containing this address's local part (case-insensitively).
    #[must_use]
    pub fn with_email(mut self, email: &'a Email) -> Self {
        self.email = Some(email);
        self
    }

    /// Refuse passwords equal to or containing any of these words, such as the service's name.
    #[must_use]
    pub fn with_words(mut self, words: &'a [&'a str]) -> Self {
        self.words = words;
        self
    }

    /// The username, if one was given.
    pub fn username(&self) -> Option<&'a Username> {
        self.username
    }

    /// The e-mail address, if one was given.
    pub fn email(&self) -> Option<&'a Email> {
        self.email
    }
}

/// One reason a new password is refused. The messages are safe to show to the user and never
/// include the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Fewer characters than the policy's minimum.
    #[error("the password must have at least {min} characters")]
    TooShort {
        /// The policy's minimum.
        min: usize,
    },
    /// More than [`PASSWORD_MAX_CHARS`] characters.
    #[error("the password must have at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// A control character (tabs and newlines included): it cannot be typed reliably.
    #[error("the password contains a control character")]
    ControlCharacter,
    /// On the list of commonly used passwords.
    #[error("the password is too common")]
    Common,
    /// A shorter pattern repeated, such as `abcabcabc…`: only as strong as the pattern.
    #[error("the password repeats a short pattern")]
    Repetitive,
    /// A run of consecutive characters, such as `abcdef…` or `987654…`.
    #[error("the password is a sequence of consecutive characters")]
    Sequential,
    /// Equal to or containing the username.
    #[error("the password must not contain the username")]
    ContainsUsername,
    /// Equal to or containing the e-mail address's local part.
    #[error("the password must not contain the e-mail address")]
    ContainsEmail,
    /// Equal to or containing a context word such as the service's name.
    #[error("the password must not contain the name of this service")]
    ContainsContextWord,
    /// The common-password list could not be loaded; the policy fails closed.
    #[error("the password cannot be checked right now")]
    BlocklistUnavailable,
    /// Refused by an extra [`PasswordCheck`].
    #[error("{reason}")]
    Rejected {
        /// The check's [`PasswordCheck::name`].
        check: &'static str,
        /// Its user-facing reason.
        reason: String,
    },
}

impl PolicyViolation {
    /// A stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "password_too_short",
            Self::TooLong { .. } => "password_too_long",
            Self::ControlCharacter => "password_control_character",
            Self::Common => "password_common",
            Self::Repetitive => "password_repetitive",
            Self::Sequential => "password_sequential",
            Self::ContainsUsername => "password_contains_username",
            Self::ContainsEmail => "password_contains_email",
            Self::ContainsContextWord => "password_contains_context_word",
            Self::BlocklistUnavailable => "password_check_unavailable",
            Self::Rejected { check, .. } => check,
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: PASSWORD_MIN_CHARS_DEFAULT, extra_checks: Vec::new() }
    }
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.extra_checks.iter().map(|c| c.name()).collect();
        f.debug_struct("PasswordPolicy")
            .field("min_chars", &self.min_chars)
            .field("max_chars", &PASSWORD_MAX_CHARS)
            .field("extra_checks", &names)
            .finish()
    }
}

impl PasswordPolicy {
    /// A policy with this minimum length (in characters after NFKC).
    ///
    /// # Errors
    /// [`PolicyConfigError::MinCharsOutOfRange`] below 8 or above 128.
    pub fn new(min_chars: usize) -> Result<Self, PolicyConfigError> {
        if !(PASSWORD_MIN_CHARS_FLOOR..=PASSWORD_MAX_CHARS).contains(&min_chars) {
            return Err(PolicyConfigError::MinCharsOutOfRange { got: min_chars });
        }
        Ok(Self { min_chars, extra_checks: Vec::new() })
    }

    /// Adds an extra check, run after the built-in ones.
    #[must_use]
    pub fn with_extra_check(mut self, check: Arc<dyn PasswordCheck>) -> Self {
        self.extra_checks.push(check);
        self
    }

    /// The minimum length in characters.
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// The maximum length in characters ([`PASSWORD_MAX_CHARS`]).
    pub fn max_chars(&self) -> usize {
        PASSWORD_MAX_CHARS
    }

    /// Decompresses the common-password list now rather than on the first registration, and
    /// returns its size (`None` if the embedded data are corrupt; every check then fails closed).
    pub fn preload_blocklist() -> Option<usize> {
        blocklist::len()
    }

    /// Checks a candidate new password and returns every reason it is refused.
    ///
    /// # Errors
    /// All the [`PolicyViolation`]s that apply, in a fixed order.
    pub fn check(
        &self,
        candidate: &SecretString,
        context: &PasswordContext<'_>,
    ) -> Result<(), Vec<PolicyViolation>> {
        with_nfkc(candidate.expose_secret(), |normalized| {
            self.check_normalized(normalized, context)
        })
    }

    /// The checks, on a password already in NFKC form.
    pub(crate) fn check_normalized(
        &self,
        password: &str,
        context: &PasswordContext<'_>,
    ) -> Result<(), Vec<PolicyViolation>> {
        let mut violations = Vec::new();
        let chars = password.chars().count();
        if chars < self.min_chars {
            violations.push(PolicyViolation::TooShort { min: self.min_chars });
        }
        if chars > PASSWORD_MAX_CHARS {
            violations.push(PolicyViolation::TooLong { max: PASSWORD_MAX_CHARS });
        }
        if password.chars().any(char::is_control) {
            violations.push(PolicyViolation::ControlCharacter);
        }

        // One case-folded copy for every comparison below; it is a secret too.
        let folded = SecretString::from(CaseMapper::new().fold_string(password).into_owned());
        let folded = folded.expose_secret();

        // Django's list holds `password.lower().strip()` forms.
        let lower = SecretString::from(password.to_lowercase());
        match blocklist::contains(lower.expose_secret().trim()) {
            Some(true) => violations.push(PolicyViolation::Common),
            Some(false) => {}
            None => violations.push(PolicyViolation::BlocklistUnavailable),
        }
        if is_repetitive(folded, self.min_chars) {
            violations.push(PolicyViolation::Repetitive);
        }
        if is_sequential(folded) {
            violations.push(PolicyViolation::Sequential);
        }
        if let Some(username) = context.username
            && contains_word(folded, username.canonical())
        {
            violations.push(PolicyViolation::ContainsUsername);
        }
        if let Some(email) = context.email
            && contains_word(folded, &fold(email.local_part()))
        {
            violations.push(PolicyViolation::ContainsEmail);
        }
        if context.words.iter().any(|w| contains_word(folded, &fold(w))) {
            violations.push(PolicyViolation::ContainsContextWord);
        }
        for check in &self.extra_checks {
            if let Err(reason) = check.check(password, context) {
                violations.push(PolicyViolation::Rejected { check: check.name(), reason });
            }
        }
        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }
}

fn fold(s: &str) -> String {
    with_nfkc(s, |n| CaseMapper::new().fold_string(n).into_owned())
}

/// Equal always counts; containment only for words long enough to be meaningful.
fn contains_word(folded_password: &str, folded_word: &str) -> bool {
    if folded_word.is_empty() {
        return false;
    }
    folded_password == folded_word
        || (folded_word.chars().count() >= CONTEXT_WORD_MIN_CHARS
            && folded_password.contains(folded_word))
}

/// The whole password is two or more copies of a unit shorter than the minimum length: such a
/// password is only as strong as its unit, which the length rule would have refused.
fn is_repetitive(password: &str, min_chars: usize) -> bool {
    let chars: Vec<char> = password.chars().collect();
    let n = chars.len();
    (1..min_chars.min(n / 2 + 1))
        .any(|unit| n.is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit]))
}

/// Every character is the next (or every one the previous) code point after the one before,
/// with `9` → `0` (and `0` → `9` going down) allowed for digit runs such as `1234567890`.
fn is_sequential(password: &str) -> bool {
    let chars: Vec<char> = password.chars().collect();
    if chars.len() < 3 {
        return false;
    }
    let step = |a: char, b: char, up: bool| -> bool {
        let (a, b) = (u32::from(a), u32::from(b));
        if up {
            b == a + 1 || (a == u32::from('9') && b == u32::from('0'))
        } else {
            a == b + 1 || (a == u32::from('0') && b == u32::from('9'))
        }
    };
    chars.windows(2).all(|w| step(w[0], w[1], true))
        || chars.windows(2).all(|w| step(w[0], w[1], false))
}

#[cfg(test)]
mod tests;
