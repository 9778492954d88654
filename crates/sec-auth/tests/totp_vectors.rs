//! Known-answer tests for TOTP: RFC 6238 Appendix B (SHA-1, SHA-256 and SHA-512, each with its
//! own seed) and RFC 4226 Appendix D, run through [`Totp::matching_steps`], the check the
//! server makes, with the time read from an injected clock as the rules read it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap is a failed test"
)]

use sec_auth::clock::{system_time, unix_now};
use sec_auth::{ManualClock, Totp, TotpAlgorithm, TotpParams, TotpSecret};
use secrecy::ExposeSecret;
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn algorithm(mode: &str) -> TotpAlgorithm {
    match mode {
        "SHA1" => TotpAlgorithm::Sha1,
        "SHA256" => TotpAlgorithm::Sha256,
        "SHA512" => TotpAlgorithm::Sha512,
        other => panic!("unknown mode {other}"),
    }
}

#[test]
fn rfc6238_appendix_b_vectors_match_for_every_mode_with_its_own_seed() {
    let doc = json(include_str!("vectors/rfc6238_vectors.json"));
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 18);
    let digits = u8::try_from(doc["params"]["digits"].as_u64().unwrap()).unwrap();
    let step_secs = doc["params"]["X_step_seconds"].as_u64().unwrap();
    for v in vectors {
        let mode = v["mode"].as_str().unwrap();
        let seed = hex::decode(doc["secrets"][mode]["hex"].as_str().unwrap()).unwrap();
        let expected = v["totp"].as_str().unwrap();
        let time = v["time"].as_i64().unwrap();
        let totp =
            Totp::new(TotpParams { algorithm: algorithm(mode), digits, step_secs, skew_steps: 1 })
                .unwrap();
        let secret = TotpSecret::from_bytes(seed);
        let clock = ManualClock::new(system_time(time));
        let now = unix_now(&clock);
        assert_eq!(now, time);

        let step = totp.step_at(now);
        assert_eq!(step, i64::from_str_radix(v["T_hex"].as_str().unwrap(), 16).unwrap());
        // The server's check: the code matches the step it was made for, and no other step
        // of the window (a neighbouring step's code differs).
        let steps = totp.matching_steps(&secret, expected, now).unwrap();
        assert_eq!(steps, vec![step], "{mode} at {time}");
        assert_eq!(totp.code_at(&secret, now).unwrap().expose_secret(), expected, "{mode} {time}");
        // One digit off is refused.
        let mut wrong = expected.as_bytes().to_vec();
        wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
        let wrong = String::from_utf8(wrong).unwrap();
        assert!(totp.matching_steps(&secret, &wrong, now).unwrap().is_empty(), "{mode} {time}");
    }
}

#[test]
fn the_20_byte_seed_does_not_reproduce_the_sha256_table() {
    // Erratum 2866: the prose's seed gives 32247374 at t = 59, not the table's 46119246.
    let totp = Totp::new(TotpParams {
        algorithm: TotpAlgorithm::Sha256,
        digits: 8,
        ..TotpParams::default()
    })
    .unwrap();
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    assert_eq!(totp.code_at(&secret, 59).unwrap().expose_secret(), "32247374");
    assert!(totp.matching_steps(&secret, "46119246", 59).unwrap().is_empty());
}

#[test]
fn rfc4226_hotp_vectors_are_the_server_configurations_codes_at_each_counter() {
    let doc = json(include_str!("vectors/rfc4226_hotp_vectors.json"));
    let secret = TotpSecret::from_bytes(hex::decode(doc["secret_hex"].as_str().unwrap()).unwrap());
    // The server's parameters: SHA-1, 6 digits, 30 s.
    let totp = Totp::new(TotpParams::default()).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let counter = v["counter"].as_i64().unwrap();
        let code = v["hotp"].as_str().unwrap();
        let clock = ManualClock::new(system_time(counter * 30 + 7));
        let steps = totp.matching_steps(&secret, code, unix_now(&clock)).unwrap();
        assert!(steps.contains(&counter), "counter {counter}: {steps:?}");
    }
}
