//! Session tokens: 256 random bits handed to the client once, stored only as their SHA-256.
//!
//! A plain hash (no salt, no key, no slow function) is right here: the token is uniformly
//! random with 256 bits of entropy, so nothing is gained by slowing down a guess, and the hash
//! must be deterministic to be looked up. What it buys: a copy of the sessions table (backup,
//! replica, SQL injection elsewhere) holds no token that would let its reader act as a user.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use sec_core::{RandomnessError, random_token};

/// Characters of a token: URL-safe Base64 of 32 bytes, without padding.
pub const TOKEN_CHARS: usize = 43;

/// A session token as the client holds it. No `Debug` output of the value.
pub struct SessionToken(SecretString);

impl SessionToken {
    /// A fresh token from the OS CSPRNG.
    ///
    /// # Errors
    /// [`RandomnessError`] if the OS generator fails; the login must fail rather than fall back.
    pub fn generate() -> Result<Self, RandomnessError> {
        Ok(Self(SecretString::from(random_token()?)))
    }

    /// Accepts a token presented by a client if it has the shape of one (43 URL-safe Base64
    /// characters). Anything else cannot be a token this server issued, and is refused before
    /// any lookup.
    pub fn parse(presented: &str) -> Option<Self> {
        let well_formed = presented.len() == TOKEN_CHARS
            && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(SecretString::from(presented.to_owned())))
    }

    /// The token, to put in the cookie. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.expose_secret().as_bytes()).into())
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

/// SHA-256 of a [`SessionToken`]: what the sessions table stores and is searched by.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Lower-case hex, 64 characters: the stored form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but a lookup key: keep it out of logs all the same.
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_to_64_hex_characters() {
        let token = SessionToken::generate().unwrap();
        let again = SessionToken::parse(token.expose()).unwrap();
        assert_eq!(token.hash(), again.hash());
        let hex = token.hash().to_hex();
        assert_eq!(hex.len(), 64);
        assert!(!hex.contains(token.expose()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let long = "a".repeat(TOKEN_CHARS + 1);
        let bad =
            ["", "short", &long, &format!("{}=", "a".repeat(TOKEN_CHARS - 1)), &"é".repeat(22)];
        for t in bad {
            assert!(SessionToken::parse(t).is_none(), "{t:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let token = SessionToken::generate().unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
        assert!(!format!("{:?}", token.hash()).contains(&token.hash().to_hex()));
    }
}
