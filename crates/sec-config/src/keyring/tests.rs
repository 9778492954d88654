//! Attacks on the token wrapper: forged timestamps, garbage, wrong keys, leaks through `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;

use super::*;

const NOW: u64 = 1_800_000_000;

fn ring() -> KeyRing {
    KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap()
}

#[test]
fn a_token_forged_with_timestamp_u64_max_is_refused_without_panic() {
    // Authentic: made with the right key, so only the timestamp check can stop it. The crate's
    // own TTL arithmetic (`timestamp + ttl`) overflows on exactly this token.
    let keys = ring();
    let forged = keys.encrypt_at(b"x", u64::MAX).unwrap();
    for ttl in [None, Some(0), Some(60), Some(u64::MAX)] {
        assert_eq!(keys.decrypt_at(&forged, NOW, ttl).err(), Some(TokenError::FromTheFuture));
    }
    assert_eq!(keys.decrypt(&forged).err(), Some(TokenError::FromTheFuture));
}

#[test]
fn a_clock_at_the_end_of_time_is_an_error_not_an_overflow() {
    let keys = ring();
    let token = keys.encrypt_at(b"x", NOW).unwrap();
    for now in [u64::MAX, u64::MAX - MAX_CLOCK_SKEW_SECS + 1] {
        assert_eq!(keys.decrypt_at(&token, now, Some(1)).err(), Some(TokenError::ClockOutOfRange));
    }
    assert!(keys.decrypt_at(&token, u64::MAX - MAX_CLOCK_SKEW_SECS, Some(u64::MAX)).is_ok());
}

#[test]
fn timestamps_within_the_skew_pass_and_beyond_it_fail() {
    let keys = ring();
    let at = |ts| keys.encrypt_at(b"x", ts).unwrap();
    assert!(keys.decrypt_at(&at(NOW + MAX_CLOCK_SKEW_SECS), NOW, None).is_ok());
    assert_eq!(
        keys.decrypt_at(&at(NOW + MAX_CLOCK_SKEW_SECS + 1), NOW, None).err(),
        Some(TokenError::FromTheFuture)
    );
    assert!(keys.decrypt_at(&at(0), NOW, None).is_ok(), "no TTL: old files stay readable");
    assert_eq!(keys.decrypt_at(&at(NOW - 61), NOW, Some(60)).err(), Some(TokenError::Expired));
}

proptest! {
    #[test]
    fn any_timestamp_is_judged_without_panic(ts in any::<u64>(), now in any::<u64>(), ttl in any::<Option<u64>>()) {
        let keys = ring();
        let token = keys.encrypt_at(b"payload", ts).unwrap();
        let _ = keys.decrypt_at(&token, now, ttl);
    }

    #[test]
    fn any_text_is_refused_without_panic(text in ".{0,200}") {
        prop_assert!(ring().decrypt_at(&text, NOW, None).is_err());
    }

    #[test]
    fn any_bytes_after_a_valid_header_are_refused_without_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut raw = vec![VERSION];
        raw.extend_from_slice(&NOW.to_be_bytes());
        raw.extend_from_slice(&body);
        let token = URL_SAFE.encode(&raw);
        prop_assert!(ring().decrypt_at(&token, NOW, None).is_err());
    }
}

#[test]
fn multifernet_encrypts_with_the_first_key_and_decrypts_with_any() {
    let old = MasterKey::generate().unwrap();
    let new = MasterKey::generate().unwrap();
    let old_only = KeyRing::new(vec![old.clone()]).unwrap();
    let new_only = KeyRing::new(vec![new.clone()]).unwrap();
    let both = old_only.with_newest(new);

    let from_old = old_only.encrypt_at(b"a", NOW).unwrap();
    let from_both = both.encrypt_at(b"b", NOW).unwrap();
    assert_eq!(both.decrypt_at(&from_old, NOW, None).unwrap().key_index(), 1);
    assert_eq!(both.decrypt_at(&from_both, NOW, None).unwrap().key_index(), 0);
    assert!(new_only.decrypt_at(&from_both, NOW, None).is_ok(), "encrypted with the newest");
    assert_eq!(
        old_only.decrypt_at(&from_both, NOW, None).err(),
        Some(TokenError::NotAuthentic),
        "an old-key-only process cannot read what the newest key wrote"
    );
    assert_eq!(new_only.decrypt_at(&from_old, NOW, None).err(), Some(TokenError::NotAuthentic));
}

#[test]
fn key_lists_parse_commas_lines_and_comments() {
    let a = MasterKey::generate().unwrap();
    let b = MasterKey::generate_development().unwrap();
    let text = format!(
        "# newest first\n{} ,\n\n{}\n",
        a.encoded().expose_secret(),
        b.encoded().expose_secret()
    );
    let keys = KeyRing::parse_list(&text).unwrap();
    assert_eq!(keys.keys().len(), 2);
    assert!(!keys.keys()[0].is_development());
    assert!(keys.keys()[1].is_development());
    assert!(keys.has_development_key());
    assert_eq!(KeyRing::parse_list(" , \n").err(), Some(KeyError::Empty));
    let back = KeyRing::parse_list(keys.to_key_file().expose_secret()).unwrap();
    assert_eq!(back.keys().len(), 2);
}

#[test]
fn a_bad_key_is_named_by_position_never_echoed() {
    let good = MasterKey::generate().unwrap();
    let text = format!("{},not-a-key-canary", good.encoded().expose_secret());
    let err = KeyRing::parse_list(&text).unwrap_err();
    assert_eq!(err, KeyError::NotAFernetKey { position: 2 });
    assert!(!err.to_string().contains("canary"));
    // 31 and 33 bytes are not keys.
    assert!(MasterKey::parse(&URL_SAFE.encode([7u8; 31])).is_err());
    assert!(MasterKey::parse(&URL_SAFE.encode([7u8; 33])).is_err());
    assert!(MasterKey::parse(&URL_SAFE.encode([7u8; 32])).is_ok());
}

#[test]
fn debug_output_never_shows_keys_or_plaintext() {
    let keys = ring();
    let encoded = keys.newest().encoded().expose_secret().to_owned();
    let token = keys.encrypt_at(b"plaintext-canary", NOW).unwrap();
    let opened = keys.decrypt_at(&token, NOW, None).unwrap();
    let shown = format!("{keys:?} {:?} {opened:?}", keys.newest());
    assert!(!shown.contains(&encoded), "{shown}");
    assert!(!shown.contains(&encoded[..20]), "{shown}");
    assert!(!shown.contains("plaintext-canary"), "{shown}");
}

#[test]
fn generated_keys_differ() {
    let a = MasterKey::generate().unwrap();
    let b = MasterKey::generate().unwrap();
    assert_ne!(a.encoded().expose_secret(), b.encoded().expose_secret());
    assert_eq!(a.encoded().expose_secret().len(), 44);
}
