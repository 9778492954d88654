//! The flows the app and sec-auth build on, through the public API only: registration, login
//! with re-hash, unknown users, and the bounded pool.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any error")]

use std::num::NonZeroUsize;
use std::time::Duration;

use sec_core::{
    Email, HashParams, HashingPool, Password, PasswordContext, PasswordHasher, PasswordPolicy,
    PolicyViolation, PoolError, SecretString, Username, VerifyError,
};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn registration_then_login_then_rehash_after_a_parameter_change() {
    let username = Username::parse("Grace.Hopper").unwrap();
    let email = Email::parse("Amazing.Grace@Navy.MIL").unwrap();
    let policy = PasswordPolicy::default();
    let context = PasswordContext::new().with_username(&username).with_email(&email);

    // Registration: the policy refuses a weak password with every reason.
    let err = Password::new(secret("amazing.grace"), &policy, &context).unwrap_err();
    assert_eq!(
        err.violations(),
        &[PolicyViolation::TooShort { min: 15 }, PolicyViolation::ContainsEmail]
    );
    let err = Password::new(secret("grace.hopper and cobol"), &policy, &context).unwrap_err();
    assert_eq!(err.violations(), &[PolicyViolation::ContainsUsername]);
    let password =
        Password::new(secret("nanoseconds are 30 cm of wire"), &policy, &context).unwrap();

    let old_params = HashParams::new(12_288, 3, 1).unwrap();
    let old = HashingPool::new(PasswordHasher::new(old_params, None), NonZeroUsize::MIN);
    let wait = Duration::from_secs(60);
    let stored = old.hash(&password, wait).unwrap();

    // Later the configuration moves to the defaults; login still works and asks for a re-hash.
    let pool = HashingPool::with_default_bound(PasswordHasher::new(HashParams::default(), None));
    let verified =
        pool.verify(&secret("nanoseconds are 30 cm of wire"), stored.as_str(), wait).unwrap();
    assert!(verified.needs_rehash());
    let rehashed = pool.rehash_verified(&secret("nanoseconds are 30 cm of wire"), wait).unwrap();
    let again = pool.verify(&secret("nanoseconds are 30 cm of wire"), rehashed.as_str(), wait);
    assert!(!again.unwrap().needs_rehash());

    // Wrong password and unknown user look the same to the caller (both are failures).
    assert_eq!(
        pool.verify(&secret("nanoseconds are 31 cm of wire"), rehashed.as_str(), wait),
        Err(PoolError::Failed(VerifyError::Mismatch))
    );
    assert_eq!(pool.dummy_verify(&secret("nanoseconds are 31 cm of wire"), wait), Ok(()));
}

#[test]
fn the_shared_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send_static<T: Send + 'static>() {}
    send_sync::<PasswordHasher>();
    send_sync::<HashingPool>();
    send_sync::<PasswordPolicy>();
    send_sync::<Email>();
    send_sync::<Username>();
    send_static::<Password>();
}
