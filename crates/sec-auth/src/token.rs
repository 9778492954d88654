//! Session tokens: 256 random bits handed to the client once, stored only as their SHA-256.
//!
//! A plain hash (no salt, no key, no slow function) is right here: the token is uniformly
//! random with 256 bits of entropy, so nothing is gained by slowing down a guess, and the hash
//! must be deterministic to be looked up. What it buys: a copy of the sessions table (backup,
//! replica, SQL injection elsewhere) holds no token that would let its reader act as a user.
//!
//! A session's *form token* ([`SessionToken::form_token`]) is what server-rendered pages put in
//! a hidden field of their forms (the synchronizer token of the CSRF defence): URL-safe Base64
//! of HMAC-SHA-256 keyed with the raw session token over a fixed label. It is stable for the
//! life of the token, so no state is stored for it; another site cannot compute it without the
//! session token (which the browser keeps in an HttpOnly cookie); it reveals nothing about the
//! session token (a MAC output does not give away its key); and it dies with the token (a
//! logout, a re-authentication or a reissue after a role change makes it worthless).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// What the form token MACs: a fixed label, so that the same key used for anything else in
/// the future gives unrelated values (domain separation). Changing it invalidates every open
/// form.
const FORM_TOKEN_LABEL: &[u8] = b"sec-auth form token v1";

/// Characters of a form token: URL-safe Base64 of a 32-byte MAC, without padding.
pub const FORM_TOKEN_CHARS: usize = 43;

impl SessionToken {
    /// The form token of this session: the value a page puts in the hidden `csrf_token` field
    /// of its forms, and [`Self::verify_form_token`] accepts. Not a secret as strong as the
    /// session token (it is in the page), but useless without the session cookie.
    pub fn form_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.form_mac().finalize().into_bytes())
    }

    /// Whether `presented` is this session's form token. The comparison takes the same time
    /// wherever the first difference is, so timing tells an attacker nothing about how much
    /// of a guess was right.
    pub fn verify_form_token(&self, presented: &str) -> bool {
        let expected = self.form_token();
        // `ct_eq` on slices of different lengths is false at once; the length of a form token
        // is public.
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// HMAC-SHA-256 keyed with the session token, fed the label.
    fn form_mac(&self) -> Hmac<Sha256> {
        // HMAC pads a key shorter than the hash's 64-byte block with zeros; doing it here lets
        // the infallible constructor take it (a token is 43 bytes by construction), and the
        // padded copy is zeroed on drop.
        let mut padded = SecretBox::new(Box::new([0u8; 64]));
        for (slot, byte) in padded.expose_secret_mut().iter_mut().zip(self.expose().as_bytes()) {
            *slot = *byte;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new(padded.expose_secret().into());
        mac.update(FORM_TOKEN_LABEL);
        mac
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

    /// Known answer, computed independently (Python's `hmac` and `base64` modules).
    #[test]
    fn form_token_is_hmac_sha256_of_the_label_keyed_with_the_session_token() {
        let token = SessionToken::parse("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ").unwrap();
        assert_eq!(token.form_token(), "J4MY-48cD6QgmjRIHT9au-yBoNn74jbQZF_UXzyqXFc");
    }

    #[test]
    fn form_token_is_stable_for_a_session_and_differs_between_sessions() {
        let token = SessionToken::generate().unwrap();
        let same = SessionToken::parse(token.expose()).unwrap();
        let other = SessionToken::generate().unwrap();
        let form = token.form_token();
        assert_eq!(form.len(), FORM_TOKEN_CHARS);
        assert_eq!(form, token.form_token());
        assert_eq!(form, same.form_token());
        assert_ne!(form, other.form_token());
        assert!(!form.contains(token.expose()) && !token.expose().contains(&form));
        assert!(token.verify_form_token(&form));
        assert!(same.verify_form_token(&form));
    }

    #[test]
    fn form_token_verification_refuses_anything_but_the_exact_token_of_this_session() {
        let token = SessionToken::generate().unwrap();
        let other = SessionToken::generate().unwrap();
        let form = token.form_token();
        assert!(!token.verify_form_token(""));
        assert!(!token.verify_form_token(&other.form_token()), "another session's token");
        assert!(!other.verify_form_token(&form));
        assert!(!token.verify_form_token(&form[..FORM_TOKEN_CHARS - 1]), "truncated");
        assert!(!token.verify_form_token(&format!("{form}A")), "extended");
        assert!(!token.verify_form_token(&format!("{form}=")), "padded");
        assert!(!token.verify_form_token(&format!(" {form}")), "surrounded by space");
        assert!(!token.verify_form_token(token.expose()), "the session token itself");
        // Every one-character change, in every position: the last character included, where
        // a lenient Base64 decoder would ignore the two bits it does not use.
        for i in 0..form.len() {
            for c in ['A', 'B', 'C', 'D', 'g', 'w', '-', '_'] {
                let mut altered = form.clone().into_bytes();
                altered[i] = c as u8;
                let altered = String::from_utf8(altered).unwrap();
                if altered != form {
                    assert!(!token.verify_form_token(&altered), "{altered} at {i}");
                }
            }
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let token = SessionToken::generate().unwrap();
        assert!(!format!("{token:?}").contains(token.expose()));
        assert!(!format!("{:?}", token.hash()).contains(&token.hash().to_hex()));
    }
}
