//! Known-answer tests through the public API: the reference implementation's PHC vectors
//! (`src/test.c` of P-H-C/phc-winner-argon2) must verify with `PasswordHasher::verify`, and its
//! negative cases must fail the way the reference fails them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any error")]

use sec_core::{HashParams, PasswordHasher, SecretString, VerifyError};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/phc_vectors.json")).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn every_reference_phc_vector_verifies_and_asks_for_a_rehash() {
    let hasher = PasswordHasher::new(HashParams::default(), None);
    let json = vectors();
    let mut checked = 0;
    for v in json["vectors"].as_array().unwrap() {
        // The reference itself runs the 1 GiB vector only under TEST_LARGE_RAM; so do we.
        if v["large_ram"].as_bool().unwrap() {
            continue;
        }
        let phc = v["phc"].as_str().unwrap();
        let password = v["password"].as_str().unwrap();
        let verified = hasher.verify(&secret(password), phc);
        assert!(verified.is_ok(), "{phc}: {verified:?}");
        let verified = verified.unwrap();
        // Parameters and the 8-byte salt differ from the current configuration.
        assert!(verified.needs_rehash(), "{phc}");
        assert_eq!(
            hasher.verify(&secret("not the password"), phc),
            Err(VerifyError::Mismatch),
            "{phc}"
        );
        checked += 1;
    }
    assert_eq!(checked, 16);
}

#[test]
fn the_reference_negative_cases_are_rejected() {
    let hasher = PasswordHasher::new(HashParams::default(), None);
    let json = vectors();
    let negatives = json["negative"].as_array().unwrap();
    assert_eq!(negatives.len(), 4);
    for v in negatives {
        let phc = v["phc"].as_str().unwrap();
        let expect = v["expect"].as_str().unwrap();
        let got = hasher.verify(&secret(v["password"].as_str().unwrap()), phc);
        if expect.starts_with("VERIFY_MISMATCH") {
            assert_eq!(got, Err(VerifyError::Mismatch), "{phc}");
        } else {
            // DECODING_FAIL and SALT_TOO_SHORT: the string itself is unusable.
            assert!(matches!(got, Err(VerifyError::MalformedHash { .. })), "{phc}: {got:?}");
        }
    }
}

#[test]
fn the_raw_tags_match_the_phc_strings() {
    // Guards the vector file itself: each raw_hex is the tag encoded in its PHC string.
    use base64::Engine as _;
    let json = vectors();
    for v in json["vectors"].as_array().unwrap() {
        let phc = v["phc"].as_str().unwrap();
        let tag_b64 = phc.rsplit('$').next().unwrap();
        let tag = base64::engine::general_purpose::STANDARD_NO_PAD.decode(tag_b64).unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, v["raw_hex"].as_str().unwrap());
    }
}

#[test]
fn a_hash_made_by_libargon2_at_our_parameters_verifies_without_rehash() {
    // Produced by the reference implementation (Debian's `argon2` CLI, libargon2
    // 0~20171227): `echo -n password | argon2 somesalt16bytes! -id -t 2 -k 19456 -p 1 -l 32`.
    // A 16-byte salt and the default parameters: exactly what we write, so no re-hash.
    let phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$tPXA8KRaMxUDqoVFOkz5qceiysamiMSLxBrcC5sAtmo";
    let hasher = PasswordHasher::new(HashParams::default(), None);
    let verified = hasher.verify(&secret("password"), phc).unwrap();
    assert!(!verified.needs_rehash());
    assert_eq!(hasher.verify(&secret("passwore"), phc), Err(VerifyError::Mismatch));
}
