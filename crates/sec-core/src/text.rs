//! `BoundedText`: the generic validated type for free-text fields (names, titles, comments), so
//! application code never writes ad-hoc validation.
//!
//! It rejects, it never mangles: text that passes is stored byte for byte as given (no
//! trimming, no stripping of `<>&'"()`, no normalisation), and escaping happens on output
//! (see [`crate::html_escape`]). Being a Rust `String`, it cannot hold an unpaired surrogate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Free text of `MIN..=MAX` characters (Unicode scalar values).
///
/// Rejected characters: every control character (general category `Cc`), the Unicode line
/// and paragraph separators U+2028/U+2029, and the bidirectional embedding, override and isolate
/// controls U+202A–U+202E and U+2066–U+2069 (the "Trojan Source" reordering characters). With
/// `MULTILINE = true`, line feed, carriage return and tab are allowed.
///
/// Define one alias per field so the bounds live in the type, and deserialising validates:
///
/// ```
/// use sec_core::BoundedText;
/// type DisplayName = BoundedText<1, 64>;
/// type Comment = BoundedText<1, 2000, true>;
///
/// assert!(DisplayName::parse("O'Brien <ob@example.com>").is_ok());
/// assert!(DisplayName::parse("two\nlines").is_err());
/// assert!(Comment::parse("two\nlines").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedText<const MIN: usize, const MAX: usize, const MULTILINE: bool = false> {
    text: String,
}

/// Why a string is not acceptable free text. The messages are safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Fewer characters than the field's minimum.
    #[error("the text must have at least {min} characters")]
    TooShort {
        /// The limit.
        min: usize,
    },
    /// More characters than the field's maximum.
    #[error("the text must have at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A control or invisible formatting character that is not allowed in this field.
    #[error("the text contains a character that is not allowed: {character:?}")]
    DisallowedCharacter {
        /// The first offending character.
        character: char,
    },
}

impl TextError {
    /// A stable machine-readable code for an API's field error, the same for every field:
    /// `too_short`, `too_long` or `disallowed_character`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::DisallowedCharacter { .. } => "disallowed_character",
        }
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> BoundedText<MIN, MAX, MULTILINE> {
    /// Evaluated at compile time for each alias that is used: `BoundedText<10, 5>` does not build.
    const BOUNDS_ARE_ORDERED: () = assert!(MIN <= MAX, "BoundedText needs MIN <= MAX");

    /// Validates `input` and keeps it exactly as given. Never panics, whatever the input.
    ///
    /// # Errors
    /// [`TextError::DisallowedCharacter`] first, then the length bounds.
    pub fn parse(input: &str) -> Result<Self, TextError> {
        let () = Self::BOUNDS_ARE_ORDERED;
        // Bytes bound chars from above, so a huge input is refused without scanning it.
        if input.len() > MAX.saturating_mul(4) {
            return Err(TextError::TooLong { max: MAX });
        }
        let mut chars = 0usize;
        for c in input.chars() {
            if !is_allowed(c, MULTILINE) {
                return Err(TextError::DisallowedCharacter { character: c });
            }
            chars += 1;
        }
        if chars < MIN {
            return Err(TextError::TooShort { min: MIN });
        }
        if chars > MAX {
            return Err(TextError::TooLong { max: MAX });
        }
        Ok(Self { text: input.to_owned() })
    }

    /// The text exactly as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Consumes the value and returns the text.
    pub fn into_string(self) -> String {
        self.text
    }
}

fn is_allowed(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\r' | '\t' => multiline,
        '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => false,
        c => !c.is_control(),
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> AsRef<str>
    for BoundedText<MIN, MAX, MULTILINE>
{
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> fmt::Display
    for BoundedText<MIN, MAX, MULTILINE>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> fmt::Debug
    for BoundedText<MIN, MAX, MULTILINE>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoundedText").field(&self.text).finish()
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> std::str::FromStr
    for BoundedText<MIN, MAX, MULTILINE>
{
    type Err = TextError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> TryFrom<&str>
    for BoundedText<MIN, MAX, MULTILINE>
{
    type Error = TextError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> Serialize
    for BoundedText<MIN, MAX, MULTILINE>
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, const MIN: usize, const MAX: usize, const MULTILINE: bool> Deserialize<'de>
    for BoundedText<MIN, MAX, MULTILINE>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = crate::serde_str::deserialize_str(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
