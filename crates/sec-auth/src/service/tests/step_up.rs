//! Step-up: sensitive actions demand a recent proof, factor changes a recent second factor,
//! administration a session established with one.

use super::{Harness, PASSWORD, home, secret, totp};
use crate::error::AuthError;
use crate::mfa::Aal;
use crate::service::{AuthConfig, Reauthentication};

/// One second past the default re-authentication window.
const STALE: u64 = 601;

#[test]
fn a_stale_session_must_reauthenticate_with_the_password_before_a_sensitive_action() {
    let h = Harness::new();
    h.register("alice");
    let token = h.sign_in("alice");
    assert!(h.auth.require_recent_auth(&h.principal(&token)).is_ok());

    h.advance(STALE);
    let stale = h.principal(&token);
    assert!(matches!(h.auth.require_recent_auth(&stale), Err(AuthError::ReauthRequired)));
    // Without a factor, changing factors asks for the same fresh proof.
    assert!(matches!(h.auth.require_factor_change(&stale), Err(AuthError::ReauthRequired)));

    let wrong = Reauthentication::Password(secret("not the password"));
    let r = h.auth.reauthenticate(&stale, &wrong, &home());
    assert!(matches!(r, Err(AuthError::Invalid(p)) if p[0].field == "password"));
    assert!(matches!(h.auth.require_recent_auth(&stale), Err(AuthError::ReauthRequired)));

    let right = Reauthentication::Password(secret(PASSWORD));
    let (renewed, proof) = h.auth.reauthenticate(&stale, &right, &home()).unwrap();
    assert_eq!((proof.aal, proof.second_factor), (Aal::One, false));
    assert!(h.is_dead(&token), "re-authentication replaces the token");
    let fresh = h.principal(&renewed);
    assert!(h.auth.require_recent_auth(&fresh).is_ok());
    assert!(h.auth.require_factor_change(&fresh).is_ok());
}

#[test]
fn a_password_alone_never_changes_an_existing_factor() {
    let h = Harness::new();
    h.register("alice");
    let (token, _, secret_key) = h.enroll(&h.sign_in("alice"));
    assert!(h.auth.require_factor_change(&h.principal(&token)).is_ok());

    h.advance(STALE);
    let stale = h.principal(&token);
    assert!(matches!(h.auth.require_factor_change(&stale), Err(AuthError::MfaRequired)));

    let password = Reauthentication::Password(secret(PASSWORD));
    let (after_password, _) = h.auth.reauthenticate(&stale, &password, &home()).unwrap();
    let recent = h.principal(&after_password);
    assert!(h.auth.require_recent_auth(&recent).is_ok());
    assert!(matches!(h.auth.require_factor_change(&recent), Err(AuthError::MfaRequired)));

    let code = Reauthentication::SecondFactor(totp(h.code(&secret_key, 0)));
    let (after_code, proof) = h.auth.reauthenticate(&recent, &code, &home()).unwrap();
    assert_eq!((proof.aal, proof.second_factor), (Aal::Two, true));
    assert!(h.auth.require_factor_change(&h.principal(&after_code)).is_ok());
}

#[test]
fn a_code_cannot_step_up_an_account_without_a_factor() {
    let h = Harness::new();
    h.register("alice");
    let principal = h.principal(&h.sign_in("alice"));
    let code = Reauthentication::SecondFactor(totp(secret("123456")));
    let r = h.auth.reauthenticate(&principal, &code, &home());
    assert!(matches!(r, Err(AuthError::Invalid(p)) if p[0].code == "mfa_not_enabled"));
}

#[test]
fn administration_needs_a_session_established_with_a_second_factor() {
    let h = Harness::new();
    h.admin("boss");
    let password_only = h.sign_in("boss");
    let r = h.auth.require_admin_mfa(&h.principal(&password_only));
    assert!(matches!(r, Err(AuthError::MfaRequired)));

    let (two_factors, _, key) = h.enroll(&password_only);
    assert!(h.auth.require_admin_mfa(&h.principal(&two_factors)).is_ok());

    // Turning the factor off keeps this session, still marked as established with two
    // factors; without a factor on the account, that mark no longer opens administration.
    h.advance(30);
    let principal = h.principal(&two_factors);
    h.auth.disable_totp(&principal, &totp(h.code(&key, 0)), &home()).unwrap();
    let r = h.auth.require_admin_mfa(&h.principal(&two_factors));
    assert!(matches!(r, Err(AuthError::MfaRequired)));
}

#[test]
fn the_admin_factor_rule_can_be_turned_off() {
    let h = Harness::with_config(AuthConfig { admin_requires_mfa: false, ..AuthConfig::default() });
    h.admin("boss");
    assert!(h.auth.require_admin_mfa(&h.principal(&h.sign_in("boss"))).is_ok());
}
