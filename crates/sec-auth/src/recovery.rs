//! One-time recovery codes: the way in when the authenticator is lost. Ten are issued at a
//! time, shown once, and stored only as their SHA-256.
//!
//! A plain, fast, unkeyed hash is right here for the same reason as for session tokens
//! (`token.rs`): each code is 80 bits from the OS CSPRNG, so a stolen table cannot be searched
//! offline (2^80 hashes per guessed code), and a slow or salted hash would only cost every
//! legitimate check without making a guess any less hopeless. Unlike a password, nothing about
//! the code is human-chosen. A keyed hash would add nothing against guessing and would tie the
//! codes to the MFA key, so that rotating the key would void every printed code.
//!
//! Online guessing is what remains, and the MFA throttle bounds it (a few tries per hour
//! against 10 × 2^-80).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use sec_core::{RandomnessError, fill_random};

/// Recovery codes issued at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Characters of a code, without separators: 16 × 5 bits = 80 bits.
const CODE_CHARS: usize = 16;

/// Crockford's Base32 alphabet: no I, L, O or U, so a code read aloud or copied by hand
/// survives (`parse` maps the look-alikes back).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery code as the user holds it: `XXXX-XXXX-XXXX-XXXX`. No `Debug` of the value.
pub struct RecoveryCode(SecretString);

impl RecoveryCode {
    /// A fresh code from the OS CSPRNG.
    ///
    /// # Errors
    /// [`RandomnessError`] if the OS generator fails.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut bytes = [0u8; CODE_CHARS];
        fill_random(&mut bytes)?;
        // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
        let raw: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
        secrecy::zeroize::Zeroize::zeroize(&mut bytes);
        Ok(Self(SecretString::from(raw)))
    }

    /// A code as typed: case, spaces and dashes do not matter, and `I`/`L` read as `1`, `O`
    /// as `0`. `None` for anything that cannot be a code (it then matches nothing).
    pub fn parse(typed: &str) -> Option<Self> {
        if typed.len() > 4 * CODE_CHARS {
            return None;
        }
        let mut raw = String::with_capacity(CODE_CHARS);
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return None;
            }
            raw.push(c);
        }
        (raw.len() == CODE_CHARS).then(|| Self(SecretString::from(raw)))
    }

    /// The code grouped in fours for display: `ABCD-EFGH-JKMN-PQRS`. Show it once; never log
    /// it.
    pub fn display(&self) -> SecretString {
        let raw = self.0.expose_secret();
        let groups: Vec<&str> =
            (0..CODE_CHARS / 4).filter_map(|i| raw.get(i * 4..i * 4 + 4)).collect();
        SecretString::from(groups.join("-"))
    }

    /// The stored form: hex SHA-256 of the 16 canonical characters.
    pub fn hash(&self) -> RecoveryCodeHash {
        RecoveryCodeHash(hex::encode(Sha256::digest(self.0.expose_secret().as_bytes())))
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

/// SHA-256 of a [`RecoveryCode`], hex: what the database stores and is searched by.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodeHash(String);

impl RecoveryCodeHash {
    /// The stored form (64 hex characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeHash(..)")
    }
}

/// A fresh set of [`RECOVERY_CODE_COUNT`] codes.
///
/// # Errors
/// [`RandomnessError`].
pub(crate) fn generate_set() -> Result<Vec<RecoveryCode>, RandomnessError> {
    (0..RECOVERY_CODE_COUNT).map(|_| RecoveryCode::generate()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn codes_are_distinct_display_in_groups_and_parse_back() {
        let set = generate_set().unwrap();
        assert_eq!(set.len(), RECOVERY_CODE_COUNT);
        let hashes: HashSet<String> = set.iter().map(|c| c.hash().as_str().to_owned()).collect();
        assert_eq!(hashes.len(), RECOVERY_CODE_COUNT);
        for code in &set {
            let shown = code.display();
            let shown = shown.expose_secret();
            assert_eq!(shown.len(), 19);
            assert_eq!(shown.matches('-').count(), 3);
            assert_eq!(RecoveryCode::parse(shown).unwrap().hash(), code.hash());
            let sloppy = shown.to_lowercase().replace('-', " ");
            assert_eq!(RecoveryCode::parse(&sloppy).unwrap().hash(), code.hash());
            assert!(!code.hash().as_str().contains(&shown.replace('-', "")));
            assert!(!format!("{code:?}").contains(&shown[..4]));
        }
    }

    #[test]
    fn look_alikes_are_read_as_digits() {
        let a = RecoveryCode::parse("1100-0000-0000-0000").unwrap();
        let b = RecoveryCode::parse("il0o-OOOO-0000-0000").unwrap();
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for bad in [
            "",
            "ABCD-EFGH-JKMN",
            "ABCD-EFGH-JKMN-PQRS-T",
            "ABCD-EFGH-JKMN-PQRU",
            "ÅBCD-EFGH-JKMN-PQRS",
        ] {
            assert!(RecoveryCode::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RecoveryCode::parse(&"A".repeat(10_000)).is_none());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = RecoveryCode::parse(&s);
        }
    }
}
