//! The `Username` newtype: NFKC-normalised, 3–32 characters from a documented allowed set, one
//! script, with a case-insensitive uniqueness key.
//!
//! Allowed set: letters and digits (any script) whose UTS #39 Identifier_Status is `Allowed`,
//! plus the separators `.`, `_` and `-`. The name starts and ends with a letter or digit, and
//! two separators never touch. The letters and digits must all belong to one script (UTS #39
//! single-script resolution: `Common`/`Inherited` characters such as ASCII digits go with any
//! script), which rejects mixed-script look-alikes such as `pаypal` with a Cyrillic `а`.

use std::fmt;

use icu_casemap::CaseMapper;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::{IsNormalized, is_nfkc_quick};
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// Fewest characters (Unicode scalar values, after NFKC) in a username.
pub const USERNAME_MIN_CHARS: usize = 3;
/// Most characters (Unicode scalar values, after NFKC) in a username.
pub const USERNAME_MAX_CHARS: usize = 32;
/// Raw input longer than this is refused before normalisation (NFKC can expand a character up
/// to 18 times, so this bounds the work while leaving room for any name that could fit).
const RAW_INPUT_MAX_BYTES: usize = USERNAME_MAX_CHARS * 4 * 4;

/// A validated username.
///
/// Equality and hashing use the displayed (NFKC) form; use [`Username::canonical`] as the
/// uniqueness key so that `Alice` and `alice` cannot both be registered.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username {
    display: String,
    canonical: String,
}

/// Why a string is not an acceptable username. The messages are safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameError {
    /// Fewer than [`USERNAME_MIN_CHARS`] characters.
    #[error("the username must have at least {min} characters")]
    TooShort {
        /// The limit.
        min: usize,
    },
    /// More than [`USERNAME_MAX_CHARS`] characters.
    #[error("the username must have at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("the username contains a character that is not allowed: {character:?}")]
    InvalidCharacter {
        /// The first offending character (after normalisation).
        character: char,
    },
    /// Starts or ends with `.`, `_` or `-`, or has two of them in a row.
    #[error(
        "the username must start and end with a letter or digit, with no two of . _ - in a row"
    )]
    Separator,
    /// Letters from more than one script, such as Latin mixed with Cyrillic.
    #[error("the username mixes letters from different scripts")]
    MixedScript,
}

impl Username {
    /// Normalises (NFKC) and validates a username. Never panics, whatever the input.
    ///
    /// # Errors
    /// Returns the first [`UsernameError`] found.
    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        if input.len() > RAW_INPUT_MAX_BYTES {
            return Err(UsernameError::TooLong { max: USERNAME_MAX_CHARS });
        }
        let display: String = match is_nfkc_quick(input.chars()) {
            IsNormalized::Yes => input.to_owned(),
            IsNormalized::No | IsNormalized::Maybe => input.nfkc().collect(),
        };
        let chars = display.chars().count();
        if chars < USERNAME_MIN_CHARS {
            return Err(UsernameError::TooShort { min: USERNAME_MIN_CHARS });
        }
        if chars > USERNAME_MAX_CHARS {
            return Err(UsernameError::TooLong { max: USERNAME_MAX_CHARS });
        }
        if let Some(character) = display.chars().find(|&c| !is_allowed(c)) {
            return Err(UsernameError::InvalidCharacter { character });
        }
        if !separators_ok(&display) {
            return Err(UsernameError::Separator);
        }
        // ASCII letters are all Latin and ASCII digits and separators are Common, so an ASCII
        // name is single-script by construction; skip the table look-ups.
        if !display.is_ascii() && !display.as_str().is_single_script() {
            return Err(UsernameError::MixedScript);
        }
        let canonical = canonical_key(&display);
        Ok(Self { display, canonical })
    }

    /// The username as the user chose it, after NFKC normalisation.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The uniqueness key: full Unicode case folding of the NFKC form, normalised again
    /// (NFKC_Casefold in effect), so `Straße`, `STRASSE` and `strasse` share one key.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Consumes the username and returns the displayed form.
    pub fn into_string(self) -> String {
        self.display
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '.' | '_' | '-')
}

fn is_allowed(c: char) -> bool {
    if c.is_ascii() {
        // Every ASCII letter and digit has Identifier_Status=Allowed.
        return c.is_ascii_alphanumeric() || is_separator(c);
    }
    c.is_alphanumeric() && c.identifier_allowed()
}

fn separators_ok(s: &str) -> bool {
    let mut previous_was_separator = true; // so a leading separator fails
    for c in s.chars() {
        let separator = is_separator(c);
        if separator && previous_was_separator {
            return false;
        }
        previous_was_separator = separator;
    }
    !previous_was_separator
}

fn canonical_key(display: &str) -> String {
    if display.is_ascii() {
        return display.to_ascii_lowercase();
    }
    let folded = CaseMapper::new().fold_string(display);
    match is_nfkc_quick(folded.chars()) {
        IsNormalized::Yes => folded.into_owned(),
        IsNormalized::No | IsNormalized::Maybe => folded.nfkc().collect(),
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.display
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.display).finish()
    }
}

impl std::str::FromStr for Username {
    type Err = UsernameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Username {
    type Error = UsernameError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl Serialize for Username {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.display)
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = crate::serde_str::deserialize_str(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
