//! Tests for `Password`: NFKC, length in scalar values, no leaks.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use proptest::prelude::*;

use super::*;
use crate::nfkc::with_nfkc;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn new(s: &str) -> Result<Password, PasswordRejected> {
    Password::new(secret(s), &PasswordPolicy::default(), &PasswordContext::new())
}

#[test]
fn length_is_counted_in_scalar_values_after_nfkc() {
    // 15 two-byte characters: 15 characters.
    assert_eq!(new("éàüöäïçñøåæœßðþ").unwrap().char_count(), 15);
    // "ﬀ" (one character) becomes "ff" (two): 14 typed characters are 15 after NFKC.
    assert_eq!("ﬀ rivers tango".chars().count(), 14);
    assert_eq!(new("ﬀ rivers tango").unwrap().char_count(), 15);
    assert_eq!(
        new("ﬀ rivers tang").unwrap_err().violations(),
        &[PolicyViolation::TooShort { min: 15 }]
    );
    // "e" + combining acute is one character after NFKC.
    assert_eq!(new("cafe\u{301} au lait, s'il vous plait").unwrap().char_count(), 29);
}

#[test]
fn the_hashed_bytes_are_the_nfkc_form() {
    let composed = new("caf\u{e9} crème brûlée!").unwrap();
    let decomposed = new("cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e!").unwrap();
    assert_eq!(composed.normalized_bytes(), decomposed.normalized_bytes());
    let fullwidth = new("ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ").unwrap();
    assert_eq!(fullwidth.normalized_bytes(), "correct horse battery".as_bytes());
}

#[test]
fn debug_never_shows_the_password() {
    let p = new("a perfectly fine passphrase").unwrap();
    let shown = format!("{p:?}");
    assert!(!shown.contains("passphrase"), "{shown}");
    assert_eq!(shown, "Password([REDACTED])");
}

#[test]
fn rejection_lists_every_reason() {
    let err = new("password").unwrap_err();
    assert_eq!(err.violations(), &[PolicyViolation::TooShort { min: 15 }, PolicyViolation::Common]);
    assert!(!err.to_string().contains("password\""));
}

proptest! {
    #[test]
    fn new_never_panics(s in "\\PC*") {
        let _ = new(&s);
    }

    #[test]
    fn nfkc_is_idempotent(s in "\\PC{0,40}") {
        let once = with_nfkc(&s, str::to_owned);
        let twice = with_nfkc(&once, str::to_owned);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn accepted_passwords_hash_their_own_normal_form(s in "[a-zA-Zéﬁ０-９ ]{15,40}") {
        if let Ok(p) = new(&s) {
            let again = new(std::str::from_utf8(p.normalized_bytes()).unwrap()).unwrap();
            prop_assert_eq!(again.normalized_bytes(), p.normalized_bytes());
        }
    }
}
