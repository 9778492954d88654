//! Sessions: timeouts, privilege changes, the per-account cap, logout and revocation.

use sec_audit::{AuditEvent, RevocationReason};

use super::{Harness, PASSWORD, home, secret};
use crate::error::AuthError;
use crate::permission::{Permission, RoleName};
use crate::service::{AuthConfig, LoginOutcome};
use crate::session::SessionPolicy;
use crate::store::AuthStore;

#[test]
fn an_unused_session_ends_at_the_idle_timeout() {
    let h = Harness::new();
    h.register("alice");
    let used = h.sign_in("alice");
    let unused = h.sign_in("alice");
    let idle = SessionPolicy::default().idle_secs.unsigned_abs();

    h.advance(idle - 1);
    h.principal(&used);
    h.advance(1);
    assert!(h.is_dead(&unused), "a full idle timeout without use ends it");
    h.principal(&used);
    let expired = h
        .audit
        .count(|e| matches!(e, AuditEvent::SessionRevoked { reason: RevocationReason::Expired }));
    assert_eq!(expired, 1);
}

#[test]
fn use_extends_the_idle_timeout_but_never_the_absolute_lifetime() {
    let h = Harness::new();
    h.register("alice");
    let token = h.sign_in("alice");
    let policy = SessionPolicy::default();
    let pace = policy.idle_secs - 100;
    let mut alive_for = 0;
    while alive_for + pace < policy.absolute_secs {
        h.advance(pace.unsigned_abs());
        alive_for += pace;
        h.principal(&token);
    }
    h.advance(pace.unsigned_abs());
    assert!(h.is_dead(&token), "busy for {} s, past the absolute lifetime", alive_for + pace);
}

#[test]
fn last_seen_is_written_at_most_once_per_touch_interval() {
    let h = Harness::new();
    h.register("alice");
    let token = h.sign_in("alice");
    let signed_in_at = h.auth.now();
    let interval = SessionPolicy::default().touch_interval_secs.unsigned_abs();

    h.advance(interval - 1);
    assert_eq!(h.principal(&token).session.last_seen_at, signed_in_at);
    h.advance(1);
    assert_eq!(h.principal(&token).session.last_seen_at, h.auth.now());
    let stored = h.store.sessions_of(h.principal(&token).user.id).unwrap();
    assert_eq!(stored[0].last_seen_at, h.auth.now());
}

#[test]
fn a_revoked_role_renews_the_token_once_and_takes_effect_at_once() {
    let h = Harness::new();
    h.admin("boss");
    let bob = h.register("bob");
    let boss = h.principal(&h.sign_in("boss"));
    h.store.define_role("support", &["users:read"]);
    let support = RoleName::parse("support").unwrap();
    h.auth.grant_role(&boss, bob.id, &support, &home()).unwrap();
    let old = h.sign_in("bob");
    let before = h.principal(&old);
    assert!(h.auth.require(&before, Permission::UsersRead, &home()).is_ok());

    h.auth.revoke_role(&boss, bob.id, &support, &home()).unwrap();

    // The old token is served once more, with a replacement and the account's roles now...
    let renewed = h.auth.authenticate(old.expose()).unwrap();
    let fresh = renewed.reissued.expect("a new token after the role change");
    assert_eq!(renewed.principal.roles, vec!["user".to_owned()]);
    let denied = h.auth.require(&renewed.principal, Permission::UsersRead, &home());
    assert!(matches!(denied, Err(AuthError::Forbidden)));
    // ...then it is dead, and the replacement works without further renewal.
    assert!(h.is_dead(&old));
    assert_eq!(h.principal(&fresh).session.privilege_epoch, 2, "granted, then revoked");
}

#[test]
fn disabling_an_account_ends_its_sessions_for_good() {
    let h = Harness::new();
    h.admin("boss");
    let bob = h.register("bob");
    let boss = h.principal(&h.sign_in("boss"));
    let token = h.sign_in("bob");

    h.auth.set_disabled(&boss, bob.id, true, &home()).unwrap();
    assert!(h.is_dead(&token));
    assert!(h.store.sessions_of(bob.id).unwrap().is_empty());
    // Enabling the account again does not bring an old session back.
    h.auth.set_disabled(&boss, bob.id, false, &home()).unwrap();
    assert!(h.is_dead(&token));
}

#[test]
fn the_last_administrator_cannot_disable_themselves() {
    let h = Harness::new();
    let boss_record = h.admin("boss");
    let boss = h.principal(&h.sign_in("boss"));
    let r = h.auth.set_disabled(&boss, boss_record.id, true, &home());
    assert!(matches!(r, Err(AuthError::LastAdmin)));
    let admin = RoleName::parse("admin").unwrap();
    let r = h.auth.revoke_role(&boss, boss_record.id, &admin, &home());
    assert!(matches!(r, Err(AuthError::LastAdmin)));
    h.principal(&h.sign_in("boss"));
}

#[test]
fn a_new_password_ends_every_other_session_and_renews_this_one() {
    let h = Harness::new();
    h.register("bob");
    let here = h.sign_in("bob");
    let elsewhere = h.sign_in("bob");
    let principal = h.principal(&here);
    let new = secret("an entirely new passphrase");

    let wrong = h.auth.change_password(&principal, &secret("not it at all"), &new, &home());
    assert!(matches!(wrong, Err(AuthError::Invalid(p)) if p[0].field == "current_password"));
    h.principal(&elsewhere);

    let renewed = h.auth.change_password(&principal, &secret(PASSWORD), &new, &home()).unwrap();
    assert!(h.is_dead(&here));
    assert!(h.is_dead(&elsewhere));
    h.principal(&renewed);
    assert!(matches!(h.login("bob", PASSWORD), Err(AuthError::InvalidCredentials)));
    assert!(matches!(h.login("bob", "an entirely new passphrase"), Ok(LoginOutcome::Session(_))));
}

#[test]
fn a_login_beyond_the_session_cap_ends_the_oldest_session() {
    let config = AuthConfig {
        sessions: SessionPolicy { max_per_account: 2, ..SessionPolicy::default() },
        ..AuthConfig::default()
    };
    let h = Harness::with_config(config);
    h.register("alice");
    let first = h.sign_in("alice");
    h.advance(1);
    let second = h.sign_in("alice");
    h.advance(1);
    let third = h.sign_in("alice");

    assert!(h.is_dead(&first));
    h.principal(&second);
    h.principal(&third);
    let limited = h.audit.count(|e| {
        matches!(e, AuditEvent::SessionRevoked { reason: RevocationReason::SessionLimit })
    });
    assert_eq!(limited, 1);
}

#[test]
fn logout_ends_the_session() {
    let h = Harness::new();
    h.register("alice");
    let token = h.sign_in("alice");
    h.auth.logout(&h.principal(&token), &home()).unwrap();
    assert!(h.is_dead(&token));
}

#[test]
fn revoking_the_other_sessions_keeps_only_this_one() {
    let h = Harness::new();
    h.register("alice");
    let here = h.sign_in("alice");
    let others = [h.sign_in("alice"), h.sign_in("alice")];
    let principal = h.principal(&here);

    assert_eq!(h.auth.revoke_other_sessions(&principal, &home()).unwrap(), 2);
    assert!(others.iter().all(|t| h.is_dead(t)));
    assert_eq!(h.auth.sessions(&principal).unwrap().len(), 1);
    h.principal(&here);
}

#[test]
fn someone_elses_session_cannot_be_revoked() {
    let h = Harness::new();
    h.register("alice");
    h.register("mallory");
    let alices = h.sign_in("alice");
    let alice_session = h.principal(&alices).session.id;
    let mallory = h.principal(&h.sign_in("mallory"));

    let r = h.auth.revoke_session(&mallory, alice_session, &home());
    assert!(matches!(r, Err(AuthError::NotFound)));
    h.principal(&alices);
}
