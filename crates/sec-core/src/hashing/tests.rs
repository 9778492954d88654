//! Tests for `PasswordHasher`: the RFC 9106 known answers, PHC output, verification and
//! re-hash reporting, peppers, and the dummy verification's work (counted, not timed).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any error")]

use secrecy::SecretString;

use super::*;
use crate::{PasswordContext, PasswordPolicy};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn password(s: &str) -> Password {
    Password::new(secret(s), &PasswordPolicy::default(), &PasswordContext::new()).unwrap()
}

fn pepper(id: &str, byte: u8) -> Pepper {
    Pepper::new(id, SecretSlice::from(vec![byte; 32])).unwrap()
}

fn default_hasher() -> PasswordHasher {
    PasswordHasher::new(HashParams::default(), None)
}

/// RFC 9106 §5's three vectors: (password, salt, secret, associated data) and, per
/// algorithm, the expected tag. They use a secret (8 × 0x03) and associated data (12 × 0x04),
/// which a PHC string cannot carry, so they go through the same `Work` that every hash and
/// verification uses.
#[allow(clippy::type_complexity, reason = "a test fixture")]
fn rfc9106_vectors() -> ([Vec<u8>; 4], Vec<(Algorithm, Vec<u8>)>) {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/rfc9106_vectors.json")).unwrap();
    let common = &json["common"];
    let field = |name: &str| hex(common[name].as_str().unwrap());
    let inputs = [field("password_hex"), field("salt_hex"), field("secret_hex"), field("ad_hex")];
    let vectors = json["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    let expected = vectors
        .iter()
        .map(|v| {
            let algorithm = match v["type"].as_str().unwrap() {
                "argon2d" => Algorithm::Argon2d,
                "argon2i" => Algorithm::Argon2i,
                "argon2id" => Algorithm::Argon2id,
                other => unreachable!("unknown type {other}"),
            };
            (algorithm, hex(v["tag_hex"].as_str().unwrap()))
        })
        .collect();
    (inputs, expected)
}

fn rfc9106_work<'a>(algorithm: Algorithm, key: &'a [u8], ad: &'a [u8]) -> Work<'a> {
    Work {
        algorithm,
        version: Version::V0x13,
        m_cost: 32,
        t_cost: 3,
        p_cost: 4,
        secret: Some(key),
        data: Some(ad),
    }
}

#[test]
fn rfc9106_known_answers_with_secret_and_associated_data() {
    let ([pwd, salt, key, ad], expected) = rfc9106_vectors();
    for (algorithm, tag_expected) in expected {
        let mut tag = [0u8; 32];
        rfc9106_work(algorithm, &key, &ad).run(&pwd, &salt, &mut tag).unwrap();
        assert_eq!(tag.to_vec(), tag_expected, "{algorithm:?}");
    }
}

#[test]
fn a_reused_work_area_gives_the_known_answers() {
    // A hashing thread's area: larger than these vectors need, and full of what an earlier
    // computation (another password, other parameters) left in it.
    let params = HashParams::new(7_168, 5, 1).unwrap();
    let mut area = WorkArea::for_params(params);
    let hasher = PasswordHasher::new(params, None);
    let earlier = hasher.hash_normalized(b"an earlier password", &mut area).unwrap();
    let ([pwd, salt, key, ad], expected) = rfc9106_vectors();
    for _ in 0..2 {
        for (algorithm, tag_expected) in &expected {
            let mut tag = [0u8; 32];
            rfc9106_work(*algorithm, &key, &ad).run_in(&pwd, &salt, &mut tag, &mut area).unwrap();
            assert_eq!(&tag.to_vec(), tag_expected, "{algorithm:?}");
        }
    }
    // And a hash made in the area verifies with fresh memory, and the other way round.
    assert!(hasher.verify(&secret("an earlier password"), earlier.as_str()).is_ok());
    let fresh = hasher.hash_normalized(b"made in fresh memory", &mut WorkArea::default()).unwrap();
    assert!(hasher.verify_normalized(b"made in fresh memory", fresh.as_str(), &mut area).is_ok());
    assert_eq!(area.len(), 7_168, "the area neither grew nor shrank");
}

#[test]
fn a_new_hash_is_a_phc_string_naming_its_parameters() {
    let params = HashParams::new(12_288, 3, 1).unwrap();
    let hasher = PasswordHasher::new(params, None);
    let hash = hasher.hash(&password("correct horse battery staple")).unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{}", hash.as_str());
    let parsed = phc::parse(hash.as_str()).unwrap();
    assert_eq!((parsed.m_cost, parsed.t_cost, parsed.p_cost), (12_288, 3, 1));
    assert_eq!(parsed.salt.len(), SALT_LEN);
    assert_eq!(parsed.hash.len(), HASH_LEN);
    // And it verifies with the parameters it names, by the same hasher, without re-hash.
    let verified = hasher.verify(&secret("correct horse battery staple"), hash.as_str()).unwrap();
    assert!(!verified.needs_rehash());
}

#[test]
fn each_hash_gets_a_fresh_salt() {
    let hasher = default_hasher();
    let pw = password("correct horse battery staple");
    let (a, b) = (hasher.hash(&pw).unwrap(), hasher.hash(&pw).unwrap());
    assert_ne!(a, b);
    assert_ne!(phc::parse(a.as_str()).unwrap().salt, phc::parse(b.as_str()).unwrap().salt);
}

#[test]
fn a_wrong_password_is_a_mismatch() {
    let hasher = default_hasher();
    let hash = hasher.hash(&password("correct horse battery staple")).unwrap();
    assert_eq!(
        hasher.verify(&secret("correct horse battery stapler"), hash.as_str()),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(hasher.verify(&secret(""), hash.as_str()), Err(VerifyError::Mismatch));
}

#[test]
fn a_hash_with_old_parameters_verifies_and_asks_for_a_rehash() {
    let old = PasswordHasher::new(HashParams::new(12_288, 3, 1).unwrap(), None);
    let current = default_hasher();
    let hash = old.hash(&password("correct horse battery staple")).unwrap();
    let verified = current.verify(&secret("correct horse battery staple"), hash.as_str()).unwrap();
    assert!(verified.needs_rehash());
    // The verification used the stored parameters, not the current ones.
    work_log::take();
    current.verify(&secret("correct horse battery staple"), hash.as_str()).unwrap();
    let log = work_log::take();
    assert_eq!((log[0].m_cost, log[0].t_cost), (12_288, 3));
    // The re-hash then needs none.
    let rehashed = current.hash(&password("correct horse battery staple")).unwrap();
    assert!(
        !current
            .verify(&secret("correct horse battery staple"), rehashed.as_str())
            .unwrap()
            .needs_rehash()
    );
}

#[test]
fn login_verification_ignores_the_policy_and_normalizes() {
    // Set under an older, laxer policy (minimum 8)...
    let lax = PasswordPolicy::new(8).unwrap();
    let old = Password::new(secret("Tr0ub4dor&3"), &lax, &PasswordContext::new()).unwrap();
    let hasher = default_hasher();
    let hash = hasher.hash(&old).unwrap();
    // ...it still verifies although today's policy would refuse it.
    assert!(
        PasswordPolicy::default().check(&secret("Tr0ub4dor&3"), &PasswordContext::new()).is_err()
    );
    assert!(hasher.verify(&secret("Tr0ub4dor&3"), hash.as_str()).is_ok());
    // Composed at registration, decomposed at login: the same password.
    let hash = hasher.hash(&password("crème brûlée for dessert")).unwrap();
    assert!(
        hasher
            .verify(&secret("cre\u{300}me bru\u{302}le\u{301}e for dessert"), hash.as_str())
            .is_ok()
    );
}

#[test]
fn dummy_verify_does_the_work_of_a_failed_verify() {
    for pepper in [None, Some(pepper("k1", 7))] {
        let hasher = PasswordHasher::new(HashParams::default(), pepper);
        let stored = hasher.hash(&password("correct horse battery staple")).unwrap();
        work_log::take();

        assert_eq!(
            hasher.verify(&secret("wrong guess"), stored.as_str()),
            Err(VerifyError::Mismatch)
        );
        let failed = work_log::take();
        hasher.dummy_verify(&secret("wrong guess"));
        let dummy = work_log::take();

        assert_eq!(failed.len(), 1);
        assert_eq!(dummy, failed);
        let current = HashParams::default();
        assert_eq!(
            (dummy[0].algorithm, dummy[0].m_cost, dummy[0].t_cost, dummy[0].p_cost),
            (Algorithm::Argon2id, current.m_cost_kib(), current.t_cost(), current.p_cost())
        );
        assert_eq!(dummy[0].peppered, hasher.pepper.is_some());
    }
}

#[test]
fn dummy_verify_follows_the_current_parameters() {
    let params = HashParams::new(9_216, 4, 1).unwrap();
    let hasher = PasswordHasher::new(params, None);
    work_log::take();
    hasher.dummy_verify(&secret("anything"));
    let log = work_log::take();
    assert_eq!((log[0].m_cost, log[0].t_cost, log[0].p_cost), (9_216, 4, 1));
    assert_eq!((log[0].salt_len, log[0].out_len), (SALT_LEN, HASH_LEN));
}

#[test]
fn a_peppered_hash_needs_its_pepper() {
    let with_k1 = PasswordHasher::new(HashParams::default(), Some(pepper("k1", 1)));
    let hash = with_k1.hash(&password("correct horse battery staple")).unwrap();
    assert!(hash.as_str().contains(",keyid="));
    assert!(
        !with_k1
            .verify(&secret("correct horse battery staple"), hash.as_str())
            .unwrap()
            .needs_rehash()
    );
    // No pepper configured, or another pepper under another id: cannot verify.
    let none = default_hasher();
    assert_eq!(
        none.verify(&secret("correct horse battery staple"), hash.as_str()),
        Err(VerifyError::UnknownPepper)
    );
    // The right id with the wrong key: the tag does not match (the pepper is really used).
    let wrong_key = PasswordHasher::new(HashParams::default(), Some(pepper("k1", 2)));
    assert_eq!(
        wrong_key.verify(&secret("correct horse battery staple"), hash.as_str()),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn pepper_rotation_keeps_old_hashes_verifying_with_a_rehash() {
    let before = PasswordHasher::new(HashParams::default(), Some(pepper("k1", 1)));
    let old_hash = before.hash(&password("correct horse battery staple")).unwrap();
    let plain_hash = default_hasher().hash(&password("correct horse battery staple")).unwrap();
    let after = PasswordHasher::new(HashParams::default(), Some(pepper("k2", 2)))
        .with_retired_pepper(pepper("k1", 1))
        .unwrap();
    assert!(
        after
            .verify(&secret("correct horse battery staple"), old_hash.as_str())
            .unwrap()
            .needs_rehash()
    );
    // A hash from before any pepper was configured also verifies, and asks for a re-hash.
    assert!(
        after
            .verify(&secret("correct horse battery staple"), plain_hash.as_str())
            .unwrap()
            .needs_rehash()
    );
    let new_hash = after.hash(&password("correct horse battery staple")).unwrap();
    assert!(
        !after
            .verify(&secret("correct horse battery staple"), new_hash.as_str())
            .unwrap()
            .needs_rehash()
    );
    assert_eq!(
        PasswordHasher::new(HashParams::default(), Some(pepper("k1", 1)))
            .with_retired_pepper(pepper("k1", 3))
            .err(),
        Some(HashConfigError::DuplicatePepperId)
    );
}

#[test]
fn parameters_are_validated_at_construction() {
    assert!(HashParams::new(19_456, 2, 1).is_ok());
    assert!(HashParams::new(47_104, 1, 1).is_ok());
    assert!(HashParams::new(7_168, 5, 1).is_ok());
    assert_eq!(
        HashParams::new(19_455, 2, 1),
        Err(HashConfigError::MemoryCostOutOfRange { got: 19_455, min: 19_456 })
    );
    assert!(matches!(
        HashParams::new(47_103, 1, 1),
        Err(HashConfigError::MemoryCostOutOfRange { .. })
    ));
    assert!(matches!(
        HashParams::new(MAX_M_COST_KIB + 1, 2, 1),
        Err(HashConfigError::MemoryCostOutOfRange { .. })
    ));
    assert_eq!(HashParams::new(19_456, 0, 1), Err(HashConfigError::TimeCostOutOfRange { got: 0 }));
    assert_eq!(
        HashParams::new(19_456, 65, 1),
        Err(HashConfigError::TimeCostOutOfRange { got: 65 })
    );
    assert_eq!(
        HashParams::new(19_456, 2, 0),
        Err(HashConfigError::ParallelismOutOfRange { got: 0 })
    );
    assert_eq!(
        HashParams::new(19_456, 2, 17),
        Err(HashConfigError::ParallelismOutOfRange { got: 17 })
    );
    assert_eq!(HashParams::default(), HashParams::new(19_456, 2, 1).unwrap());

    let p: HashParams =
        serde_json::from_str(r#"{"m_cost_kib": 65536, "t_cost": 3, "p_cost": 1}"#).unwrap();
    assert_eq!(p.m_cost_kib(), 65_536);
    assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"m_cost_kib":65536,"t_cost":3,"p_cost":1}"#);
    assert!(
        serde_json::from_str::<HashParams>(r#"{"m_cost_kib": 1024, "t_cost": 2, "p_cost": 1}"#)
            .is_err()
    );

    assert_eq!(
        Pepper::new("", SecretSlice::from(vec![0; 32])).err().map(|e| e.to_string()),
        Some(HashConfigError::PepperId.to_string())
    );
    assert!(matches!(
        Pepper::new("toolongid", SecretSlice::from(vec![0; 32])),
        Err(HashConfigError::PepperId)
    ));
    assert!(matches!(
        Pepper::new("k$", SecretSlice::from(vec![0; 32])),
        Err(HashConfigError::PepperId)
    ));
    assert!(matches!(
        Pepper::new("k1", SecretSlice::from(vec![0; 15])),
        Err(HashConfigError::PepperLength)
    ));
    assert!(matches!(
        Pepper::new("k1", SecretSlice::from(vec![0; 129])),
        Err(HashConfigError::PepperLength)
    ));
}

#[test]
fn unusable_stored_hashes_are_typed_errors_not_panics() {
    let hasher = default_hasher();
    let pw = secret("whatever");
    let tail = "$c29tZXNhbHRzYWx0$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    assert!(matches!(hasher.verify(&pw, ""), Err(VerifyError::MalformedHash { .. })));
    assert!(matches!(hasher.verify(&pw, "plaintext"), Err(VerifyError::MalformedHash { .. })));
    assert_eq!(
        hasher.verify(&pw, &format!("$bcrypt$v=19$m=19456,t=2,p=1{tail}")),
        Err(VerifyError::UnsupportedAlgorithm)
    );
    assert_eq!(
        hasher.verify(&pw, &format!("$argon2id$v=19$m=4194304,t=2,p=1{tail}")),
        Err(VerifyError::ParamsOutOfRange)
    );
    assert_eq!(
        hasher.verify(&pw, &format!("$argon2id$v=19$m=19456,t=1000,p=1{tail}")),
        Err(VerifyError::ParamsOutOfRange)
    );
    assert_eq!(
        hasher.verify(&pw, &format!("$argon2id$v=19$m=19456,t=0,p=1{tail}")),
        Err(VerifyError::ParamsOutOfRange)
    );
    assert_eq!(
        hasher.verify(&pw, &format!("$argon2id$v=19$m=7,t=2,p=1{tail}")),
        Err(VerifyError::ParamsOutOfRange)
    );
}

#[test]
fn debug_output_leaks_neither_pepper_nor_salt() {
    let hasher = PasswordHasher::new(HashParams::default(), Some(pepper("k1", 0xAB)));
    let shown = format!("{hasher:?}");
    assert!(shown.contains("k1") && shown.contains("REDACTED"), "{shown}");
    assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "), "{shown}");
    let hash = hasher.hash(&password("correct horse battery staple")).unwrap();
    let shown = format!("{hash:?}");
    let salt_b64 = hash.as_str().rsplit('$').nth(1).unwrap();
    assert!(shown.starts_with("PasswordHash(\"$argon2id$v=19$m=19456,t=2,p=1,keyid="), "{shown}");
    assert!(!shown.contains(salt_b64), "{shown}");
}
