//! Login: one answer for every wrong identifier or password, and the throttle in front of it.

use sec_audit::{AuditEvent, LoginFailure};

use super::{Harness, PASSWORD, from, home, secret};
use crate::error::AuthError;
use crate::service::LoginOutcome;
use crate::throttle::ThrottlePolicy;

const WRONG: &str = "a wrong guess at it";

#[test]
fn an_unknown_name_and_a_wrong_password_look_the_same_and_cost_the_same() {
    let h = Harness::new();
    h.register("alice");

    let before = h.hasher.verifications();
    let wrong_password = h.login("alice", WRONG);
    let after_wrong = h.hasher.verifications();
    let unknown_name = h.login("mallory", PASSWORD);
    let after_unknown = h.hasher.verifications();
    let unknown_email = h.login("nobody@example.com", PASSWORD);

    assert!(matches!(wrong_password, Err(AuthError::InvalidCredentials)));
    assert!(matches!(unknown_name, Err(AuthError::InvalidCredentials)));
    assert!(matches!(unknown_email, Err(AuthError::InvalidCredentials)));
    // One Argon2 verification each: a dummy one for a name with no account.
    assert_eq!(after_wrong - before, 1);
    assert_eq!(after_unknown - after_wrong, 1);
    // Only the audit trail tells them apart.
    let bad_password = h
        .audit
        .count(|e| matches!(e, AuditEvent::LoginFailed { reason: LoginFailure::BadPassword }));
    let unknown = h
        .audit
        .count(|e| matches!(e, AuditEvent::LoginFailed { reason: LoginFailure::UnknownUser }));
    assert_eq!((bad_password, unknown), (1, 2));
}

#[test]
fn a_disabled_account_with_the_right_password_gets_the_same_answer() {
    let h = Harness::new();
    h.admin("boss");
    let bob = h.register("bob");
    let admin = h.principal(&h.sign_in("boss"));
    h.auth.set_disabled(&admin, bob.id, true, &home()).unwrap();

    assert!(matches!(h.login("bob", PASSWORD), Err(AuthError::InvalidCredentials)));
    assert!(matches!(h.login("bob", WRONG), Err(AuthError::InvalidCredentials)));
}

#[test]
fn failures_from_one_address_back_off_until_the_clock_moves_and_a_success_resets() {
    let h = Harness::new();
    let alice = h.register("alice");
    let free = ThrottlePolicy::default().pair_free_failures;
    for _ in 0..free {
        assert!(matches!(h.login("alice", WRONG), Err(AuthError::InvalidCredentials)));
    }
    // The next attempt is refused before any hashing, even with the right password.
    let spent = h.hasher.verifications();
    assert!(matches!(
        h.login("alice", PASSWORD),
        Err(AuthError::Throttled { retry_after_secs: 1 })
    ));
    assert_eq!(h.hasher.verifications(), spent, "a refused attempt costs no hash");

    h.advance(1);
    assert!(matches!(h.login("alice", PASSWORD), Ok(LoginOutcome::Session(_))));
    let subject = format!("user:{}", alice.id);
    assert_eq!(h.store.throttle_failures(&subject, "192.0.2.1"), Some(0));
    assert_eq!(h.store.throttle_failures(&subject, ""), Some(0));
    // Back to the free tries: a wrong password is just wrong again.
    assert!(matches!(h.login("alice", WRONG), Err(AuthError::InvalidCredentials)));
}

#[test]
fn a_name_without_an_account_is_throttled_like_a_real_one() {
    let h = Harness::new();
    let free = ThrottlePolicy::default().pair_free_failures;
    for _ in 0..free {
        assert!(matches!(h.login("ghost", WRONG), Err(AuthError::InvalidCredentials)));
    }
    assert!(matches!(h.login("ghost", WRONG), Err(AuthError::Throttled { .. })));
    assert_eq!(h.store.throttle_failures("name:ghost", "192.0.2.1"), Some(free));
}

#[test]
fn a_campaign_from_many_addresses_backs_off_new_ones_but_not_the_owners() {
    let h = Harness::new();
    h.register("alice");
    // The owner signed in from home before: home is a known address for the account.
    h.sign_in("alice");
    let free = ThrottlePolicy::default().account_free_failures;
    for i in 0..free {
        let attacker = from(100 + u8::try_from(i).unwrap());
        let r = h.auth.login("alice", &secret(WRONG), None, &attacker);
        assert!(matches!(r, Err(AuthError::InvalidCredentials)));
    }
    // A fresh address now waits on the account-wide counter, right password or not...
    let fresh = from(250);
    let r = h.auth.login("alice", &secret(PASSWORD), None, &fresh);
    assert!(matches!(r, Err(AuthError::Throttled { .. })));
    // ...but the owner, from their known address, gets in, and that success resets it.
    assert!(matches!(h.login("alice", PASSWORD), Ok(LoginOutcome::Session(_))));
    let r = h.auth.login("alice", &secret(PASSWORD), None, &fresh);
    assert!(matches!(r, Ok(LoginOutcome::Session(_))));
}

#[test]
fn clearing_the_login_failures_lifts_the_back_off_at_once() {
    let h = Harness::new();
    let alice = h.register("alice");
    for _ in 0..ThrottlePolicy::default().pair_free_failures {
        assert!(h.login("alice", WRONG).is_err());
    }
    assert!(matches!(h.login("alice", PASSWORD), Err(AuthError::Throttled { .. })));

    let cleared = h.auth.clear_login_failures(None, alice.id, &home()).unwrap();
    assert_eq!(cleared, 2, "the address counter and the account-wide one");
    assert!(matches!(h.login("alice", PASSWORD), Ok(LoginOutcome::Session(_))));
}

#[test]
fn a_login_ends_the_session_the_client_already_held() {
    let h = Harness::new();
    h.register("alice");
    let before = h.sign_in("alice");
    let r = h.auth.login("alice", &secret(PASSWORD), Some(before.expose()), &home()).unwrap();
    let LoginOutcome::Session(after) = r else { panic!("no second factor here") };
    assert!(h.is_dead(&before), "no token from before the login survives it");
    h.principal(&after.token);
}
