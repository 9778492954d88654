//! The second factor: a TOTP step works once, a recovery code works once, and the pending
//! login step is neither a session nor reusable.

use sec_audit::AuditEvent;

use super::{Harness, PASSWORD, home, recovery, totp};
use crate::error::AuthError;
use crate::mfa::Aal;
use crate::service::LoginOutcome;

/// Seconds per TOTP step (the default parameters).
const STEP: u64 = 30;

#[test]
fn a_totp_code_signs_in_once() {
    let h = Harness::new();
    h.register("alice");
    let (_, _, key) = h.enroll(&h.sign_in("alice"));
    // The code that confirmed the enrollment was used up by it.
    let confirming = h.code(&key, 0);
    assert!(matches!(
        h.sign_in_with("alice", &totp(confirming)),
        Err(AuthError::InvalidCredentials)
    ));

    h.advance(STEP);
    let code = h.code(&key, 0);
    let token = h.sign_in_with("alice", &totp(code.clone())).unwrap();
    assert_eq!(h.principal(&token).session.aal, Aal::Two);
    let replay = h.sign_in_with("alice", &totp(code));
    assert!(matches!(replay, Err(AuthError::InvalidCredentials)));
    assert_eq!(h.audit.count(|e| matches!(e, AuditEvent::TotpReplayRejected)), 2);
}

#[test]
fn an_earlier_step_is_refused_after_a_later_one() {
    let h = Harness::new();
    h.register("alice");
    let (_, _, key) = h.enroll(&h.sign_in("alice"));
    h.advance(2 * STEP);
    // Both codes are inside the accepted window (one step of drift either side).
    let later = h.code(&key, 0);
    let earlier = h.code(&key, -1);
    h.sign_in_with("alice", &totp(later)).unwrap();
    let r = h.sign_in_with("alice", &totp(earlier));
    assert!(matches!(r, Err(AuthError::InvalidCredentials)));
}

#[test]
fn a_wrong_code_is_refused_and_audited() {
    let h = Harness::new();
    h.register("alice");
    let (_, _, key) = h.enroll(&h.sign_in("alice"));
    h.advance(STEP);
    // A code from well outside the window.
    let stale = h.code(&key, -10);
    let r = h.sign_in_with("alice", &totp(stale));
    assert!(matches!(r, Err(AuthError::InvalidCredentials)));
    assert_eq!(h.audit.count(|e| matches!(e, AuditEvent::MfaFailed)), 1);
}

#[test]
fn each_recovery_code_works_once_and_the_count_goes_down() {
    let h = Harness::new();
    h.register("alice");
    let (token, codes, _) = h.enroll(&h.sign_in("alice"));
    let left = || h.auth.mfa_status(&h.principal(&token)).unwrap().recovery_codes_left;
    assert_eq!(left(), 10);

    h.sign_in_with("alice", &recovery(&codes[0])).unwrap();
    assert_eq!(left(), 9);
    let again = h.sign_in_with("alice", &recovery(&codes[0]));
    assert!(matches!(again, Err(AuthError::InvalidCredentials)));
    assert_eq!(left(), 9);
    h.sign_in_with("alice", &recovery(&codes[1])).unwrap();
    assert_eq!(left(), 8);
    let used = h.audit.count(|e| matches!(e, AuditEvent::RecoveryCodeUsed { .. }));
    assert_eq!(used, 2);
}

#[test]
fn new_recovery_codes_void_the_old_set() {
    let h = Harness::new();
    h.register("alice");
    let (token, old, _) = h.enroll(&h.sign_in("alice"));
    let new = h.auth.regenerate_recovery_codes(&h.principal(&token), &home()).unwrap();
    let r = h.sign_in_with("alice", &recovery(&old[0]));
    assert!(matches!(r, Err(AuthError::InvalidCredentials)));
    h.sign_in_with("alice", &recovery(&new[0])).unwrap();
}

#[test]
fn the_pending_login_step_is_no_session_and_works_once() {
    let h = Harness::new();
    h.register("alice");
    let (_, _, key) = h.enroll(&h.sign_in("alice"));
    h.advance(STEP);
    let LoginOutcome::MfaRequired(pending) = h.login("alice", PASSWORD).unwrap() else {
        panic!("alice has a second factor");
    };
    assert!(h.is_dead(&pending.token), "a password alone gives no session");

    let first =
        h.auth.complete_mfa_login(pending.token.expose(), &totp(h.code(&key, 0)), None, &home());
    assert!(first.is_ok());
    h.advance(STEP);
    let second =
        h.auth.complete_mfa_login(pending.token.expose(), &totp(h.code(&key, 0)), None, &home());
    assert!(matches!(second, Err(AuthError::Unauthenticated)));
}

#[test]
fn an_expired_login_step_cannot_be_completed() {
    let h = Harness::new();
    h.register("alice");
    let (_, _, key) = h.enroll(&h.sign_in("alice"));
    let LoginOutcome::MfaRequired(pending) = h.login("alice", PASSWORD).unwrap() else {
        panic!("alice has a second factor");
    };
    h.advance(h.auth.config().mfa.challenge_ttl_secs.unsigned_abs());
    let r =
        h.auth.complete_mfa_login(pending.token.expose(), &totp(h.code(&key, 0)), None, &home());
    assert!(matches!(r, Err(AuthError::Unauthenticated)));
}

#[test]
fn turning_totp_off_ends_the_other_sessions_and_pending_logins() {
    let h = Harness::new();
    h.register("alice");
    let (token, codes, key) = h.enroll(&h.sign_in("alice"));
    let other = h.sign_in_with("alice", &recovery(&codes[0])).unwrap();
    let LoginOutcome::MfaRequired(pending) = h.login("alice", PASSWORD).unwrap() else {
        panic!("alice has a second factor");
    };
    h.advance(STEP);

    let principal = h.principal(&token);
    let ended = h.auth.disable_totp(&principal, &totp(h.code(&key, 0)), &home()).unwrap();
    assert_eq!(ended, 1);
    assert!(h.is_dead(&other));
    let r = h.auth.complete_mfa_login(pending.token.expose(), &recovery(&codes[1]), None, &home());
    assert!(matches!(r, Err(AuthError::Unauthenticated)));
    // The password alone signs in again.
    assert!(matches!(h.login("alice", PASSWORD), Ok(LoginOutcome::Session(_))));
}
