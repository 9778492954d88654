//! Constant-time comparison and random tokens: the primitives sessions, CSRF tokens and
//! recovery codes are built on.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Bytes of randomness in a [`random_token`]: 256 bits.
pub const TOKEN_BYTES: usize = 32;

/// The operating system's random number generator failed. On Linux this cannot happen once
/// the kernel's pool is initialised; the caller should fail the request, never fall back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
#[non_exhaustive]
pub struct RandomnessError;

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ. Use it for every comparison of a secret (token, digest, code) with a guess.
///
/// Strings of different lengths compare unequal at once: lengths of tokens and digests are
/// public.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// [`RandomnessError`] if the OS generator fails.
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomnessError> {
    getrandom::fill(buf).map_err(|_| RandomnessError)
}

/// A fresh 256-bit token from the OS CSPRNG, URL-safe Base64 without padding (43 characters):
/// fit for cookies, URLs and form fields as is.
///
/// # Errors
/// [`RandomnessError`] if the OS generator fails.
pub fn random_token() -> Result<String, RandomnessError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_decode_to_32_bytes() {
        let token = random_token().unwrap();
        assert_eq!(token.len(), 43);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), TOKEN_BYTES);
    }

    #[test]
    fn tokens_do_not_repeat() {
        let tokens: HashSet<String> = (0..1000).map(|_| random_token().unwrap()).collect();
        assert_eq!(tokens.len(), 1000);
    }

    #[test]
    fn constant_time_eq_tells_equal_from_different() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"same token", b"same token"));
        assert!(!constant_time_eq(b"same token", b"same tokeN"));
        assert!(!constant_time_eq(b"short", b"shorter"));
    }

    proptest! {
        #[test]
        fn constant_time_eq_agrees_with_eq(a: Vec<u8>, b: Vec<u8>) {
            prop_assert_eq!(constant_time_eq(&a, &b), a == b);
            prop_assert!(constant_time_eq(&a, &a.clone()));
        }
    }
}
