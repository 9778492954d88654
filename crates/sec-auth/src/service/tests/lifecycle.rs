//! The account lifecycle's rules: registration that tells nothing, verification links,
//! password reset (single use, short-lived, never past a second factor), address changes, an
//! operator's reset of a lost factor, and the notices each step queues.

use sec_audit::{AuditEvent, LoginFailure};

use super::{Harness, PASSWORD, home, secret, totp};
use crate::error::AuthError;
use crate::lifecycle::{AccountMail, Envelope};
use crate::service::{AuthConfig, Registered, Registration, Verified};
use crate::store::{AuthStore, UserLookup};

const NEW_PASSWORD: &str = "a different and longer passphrase";

impl Harness {
    /// Every queued message, opened.
    fn mails(&self) -> Vec<Envelope> {
        self.store.outbox().iter().map(|m| self.auth.open_mail(&m.payload).unwrap()).collect()
    }

    /// The token of the newest queued link to `to`.
    fn link_to(&self, to: &str) -> String {
        self.mails()
            .into_iter()
            .rev()
            .filter(|m| m.to == to)
            .find_map(|m| match m.mail {
                AccountMail::VerifyEmail { token, .. }
                | AccountMail::ConfirmNewEmail { token, .. }
                | AccountMail::PasswordReset { token, .. } => Some(token),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no link was sent to {to}"))
    }

    fn kinds_to(&self, to: &str) -> Vec<&'static str> {
        self.mails().iter().filter(|m| m.to == to).map(|m| m.mail.kind()).collect()
    }

    fn reset(&self, token: &str, password: &str) -> Result<(), AuthError> {
        self.auth.complete_password_reset(token, &secret(password), None, &home())
    }
}

#[test]
fn registering_a_taken_address_makes_no_account_tells_its_owner_and_does_the_same_work() {
    let h = Harness::new();
    h.register("alice");
    let hashes = h.hasher.hashes();
    let password = secret(PASSWORD);
    let input =
        Registration { username: "mallory", email: "ALICE@example.com", password: &password };
    let outcome = h.auth.register(&input, &home()).unwrap();
    assert!(matches!(outcome, Registered::AddressInUse));
    assert_eq!(h.hasher.hashes(), hashes + 1, "the password is hashed as for a new account");
    assert!(h.store.find_user(UserLookup::Username("mallory")).unwrap().is_none());
    assert_eq!(h.kinds_to("alice@example.com"), ["verify_email", "registration_attempt"]);
    assert_eq!(h.audit.count(|e| *e == AuditEvent::RegistrationAddressInUse), 1);
}

#[test]
fn a_verification_link_works_once_and_not_after_it_expired() {
    let h = Harness::new();
    let alice = h.register("alice");
    assert!(alice.email_verified_at.is_none());
    let token = h.link_to("alice@example.com");
    assert_eq!(h.auth.verify_email(&token, &home()).unwrap(), Verified::Address);
    let stored = h.store.find_user(UserLookup::Id(alice.id)).unwrap().unwrap();
    assert_eq!(stored.email_verified_at, Some(h.auth.now()));
    assert!(matches!(h.auth.verify_email(&token, &home()), Err(AuthError::InvalidToken)));

    let bob = h.register("bob");
    let token = h.link_to("bob@example.com");
    h.advance(24 * 3600);
    assert!(matches!(h.auth.verify_email(&token, &home()), Err(AuthError::InvalidToken)));
    let stored = h.store.find_user(UserLookup::Id(bob.id)).unwrap().unwrap();
    assert!(stored.email_verified_at.is_none());
    // Malformed and unknown tokens get the same answer.
    for wrong in ["", "short", &"A".repeat(43)] {
        assert!(matches!(h.auth.verify_email(wrong, &home()), Err(AuthError::InvalidToken)));
    }
}

#[test]
fn a_reset_link_cannot_verify_an_address_nor_a_verification_link_reset_a_password() {
    let h = Harness::new();
    h.register("alice");
    let verify = h.link_to("alice@example.com");
    assert!(matches!(h.reset(&verify, NEW_PASSWORD), Err(AuthError::InvalidToken)));
    h.auth.send_password_reset("alice", &home()).unwrap();
    let reset = h.link_to("alice@example.com");
    assert!(matches!(h.auth.verify_email(&reset, &home()), Err(AuthError::InvalidToken)));
}

#[test]
fn with_verification_required_only_the_right_password_learns_that_the_address_is_unverified() {
    let mut config = AuthConfig::default();
    config.lifecycle.require_verified_email = true;
    let h = Harness::with_config(config);
    h.register("alice");
    assert!(matches!(
        h.login("alice", "wrong password, long enough"),
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(h.login("alice", PASSWORD), Err(AuthError::EmailUnverified)));
    let failures =
        h.audit.count(|e| *e == AuditEvent::LoginFailed { reason: LoginFailure::EmailUnverified });
    assert_eq!(failures, 1);
    let token = h.link_to("alice@example.com");
    h.auth.verify_email(&token, &home()).unwrap();
    h.sign_in("alice");
}

#[test]
fn a_reset_sets_the_password_ends_every_session_and_the_link_works_once() {
    let h = Harness::new();
    h.register("alice");
    let first = h.sign_in("alice");
    let second = h.sign_in("alice");
    h.auth.send_password_reset("alice@example.com", &home()).unwrap();
    let token = h.link_to("alice@example.com");
    h.reset(&token, NEW_PASSWORD).unwrap();
    assert!(h.is_dead(&first) && h.is_dead(&second));
    assert!(matches!(h.login("alice", PASSWORD), Err(AuthError::InvalidCredentials)));
    assert!(h.login("alice", NEW_PASSWORD).is_ok());
    assert!(matches!(h.reset(&token, "yet another long passphrase"), Err(AuthError::InvalidToken)));
    assert_eq!(
        h.kinds_to("alice@example.com"),
        ["verify_email", "password_reset", "password_changed"]
    );
    // The link reached the address: it counts as verified.
    let alice = h.store.find_user(UserLookup::Username("alice")).unwrap().unwrap();
    assert!(alice.email_verified_at.is_some());
}

#[test]
fn a_reset_link_expires_after_thirty_minutes_and_a_newer_one_voids_it() {
    let h = Harness::new();
    h.register("alice");
    h.auth.send_password_reset("alice", &home()).unwrap();
    let old = h.link_to("alice@example.com");
    h.auth.send_password_reset("alice", &home()).unwrap();
    let new = h.link_to("alice@example.com");
    assert_ne!(old, new);
    assert!(matches!(h.reset(&old, NEW_PASSWORD), Err(AuthError::InvalidToken)));
    h.advance(30 * 60);
    assert!(matches!(h.reset(&new, NEW_PASSWORD), Err(AuthError::InvalidToken)));
}

#[test]
fn changing_the_password_voids_a_reset_link() {
    let h = Harness::new();
    h.register("alice");
    h.auth.send_password_reset("alice", &home()).unwrap();
    let token = h.link_to("alice@example.com");
    let session = h.sign_in("alice");
    let principal = h.principal(&session);
    h.auth.change_password(&principal, &secret(PASSWORD), &secret(NEW_PASSWORD), &home()).unwrap();
    assert!(matches!(h.reset(&token, "yet another long passphrase"), Err(AuthError::InvalidToken)));
    assert_eq!(h.kinds_to("alice@example.com").last(), Some(&"password_changed"));
}

#[test]
fn a_reset_never_bypasses_the_second_factor() {
    let h = Harness::new();
    h.register("alice");
    let session = h.sign_in("alice");
    let (_, _, totp_secret) = h.enroll(&session);
    h.auth.send_password_reset("alice", &home()).unwrap();
    let token = h.link_to("alice@example.com");
    let Err(AuthError::Invalid(problems)) = h.reset(&token, NEW_PASSWORD) else {
        panic!("a reset without the second factor went through");
    };
    assert_eq!((problems[0].field, problems[0].code), ("code", "second_factor_required"));
    let wrong = totp(secret("000000"));
    let refused =
        h.auth.complete_password_reset(&token, &secret(NEW_PASSWORD), Some(&wrong), &home());
    assert!(matches!(refused, Err(AuthError::Invalid(_))));
    assert!(h.login("alice", PASSWORD).is_ok(), "the password did not change");
    h.advance(30);
    let code = totp(h.code(&totp_secret, 0));
    h.auth.complete_password_reset(&token, &secret(NEW_PASSWORD), Some(&code), &home()).unwrap();
    assert!(matches!(
        h.login("alice", NEW_PASSWORD).unwrap(),
        crate::service::LoginOutcome::MfaRequired(_)
    ));
}

#[test]
fn a_reset_for_an_unknown_or_disabled_account_sends_nothing() {
    let h = Harness::new();
    h.admin("root");
    let bob = h.register("bob");
    h.store.set_disabled(bob.id, true, h.auth.now()).unwrap();
    let before = h.mails().len();
    h.auth.send_password_reset("nobody", &home()).unwrap();
    h.auth.send_password_reset("nobody@example.com", &home()).unwrap();
    h.auth.send_password_reset("bob", &home()).unwrap();
    assert_eq!(h.mails().len(), before);
    assert_eq!(h.audit.count(|e| *e == AuditEvent::PasswordResetRequested), 3);
}

#[test]
fn reset_requests_are_throttled_per_identifier_whatever_the_account() {
    let h = Harness::new();
    h.register("alice");
    for identifier in ["alice", "nobody"] {
        let mut refused = None;
        for attempt in 0..40 {
            if let Err(e) = h.auth.reserve_password_reset(identifier, &super::from(attempt)) {
                refused = Some(e);
                break;
            }
        }
        assert!(
            matches!(refused, Some(AuthError::Throttled { .. })),
            "{identifier}: never throttled"
        );
    }
}

#[test]
fn a_new_address_takes_effect_only_through_its_link_and_both_addresses_hear_of_it() {
    let h = Harness::new();
    h.register("alice");
    let session = h.sign_in("alice");
    let principal = h.principal(&session);
    h.auth.request_email_change(&principal, "alice@new.example", &home()).unwrap();
    let alice = h.store.find_user(UserLookup::Username("alice")).unwrap().unwrap();
    assert_eq!(alice.email, "alice@example.com", "nothing changes before the link is used");
    assert_eq!(h.kinds_to("alice@new.example"), ["confirm_new_email"]);
    assert_eq!(h.kinds_to("alice@example.com").last(), Some(&"email_change_requested"));
    let token = h.link_to("alice@new.example");
    assert_eq!(h.auth.verify_email(&token, &home()).unwrap(), Verified::NewAddress);
    let alice = h.store.find_user(UserLookup::Username("alice")).unwrap().unwrap();
    assert_eq!(alice.email, "alice@new.example");
    assert!(alice.email_verified_at.is_some());
    assert_eq!(h.kinds_to("alice@example.com").last(), Some(&"email_changed"));
    assert!(matches!(h.auth.verify_email(&token, &home()), Err(AuthError::InvalidToken)));
}

#[test]
fn an_address_another_account_has_gets_no_link() {
    let h = Harness::new();
    h.register("alice");
    h.register("bob");
    let session = h.sign_in("alice");
    let principal = h.principal(&session);
    h.auth.request_email_change(&principal, "bob@example.com", &home()).unwrap();
    assert_eq!(h.kinds_to("bob@example.com"), ["verify_email"], "only bob's own link");
}

#[test]
fn an_operator_reset_of_the_second_factor_ends_every_session_and_tells_the_owner() {
    let h = Harness::new();
    h.register("alice");
    let session = h.sign_in("alice");
    let (token, _, _) = h.enroll(&session);
    let alice = h.principal(&token).user;
    let ended = h.auth.reset_second_factor(None, alice.id, &home()).unwrap();
    assert_eq!(ended, 1);
    assert!(h.is_dead(&token));
    assert!(h.store.totp_of(alice.id).unwrap().is_none());
    assert!(
        h.mails().iter().any(|m| m.mail == AccountMail::SecondFactorRemoved { by_operator: true })
    );
    assert_eq!(h.audit.count(|e| *e == AuditEvent::SecondFactorReset), 1);
    assert!(matches!(
        h.auth.reset_second_factor(None, alice.id, &home()),
        Err(AuthError::MfaNotEnabled)
    ));
}

#[test]
fn notices_name_the_time_and_the_client_address() {
    let h = Harness::new();
    h.register("alice");
    let session = h.sign_in("alice");
    h.enroll(&session);
    let added = h
        .mails()
        .into_iter()
        .find(|m| m.mail == AccountMail::SecondFactorAdded)
        .expect("a notice of the new factor");
    assert_eq!(added.at, h.auth.now());
    assert_eq!(added.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(added.username, "alice");
}

#[test]
fn a_queued_link_is_sealed_and_its_debug_output_shows_no_token() {
    let h = Harness::new();
    h.register("alice");
    let token = h.link_to("alice@example.com");
    let stored = h.store.outbox();
    assert!(stored.iter().all(|m| m.payload.starts_with("sealed:") && !m.payload.contains(&token)));
    let printed = format!("{:?} {:?}", stored, h.mails());
    assert!(!printed.contains(&token), "{printed}");
}

#[test]
fn registering_with_an_address_again_and_again_does_not_fill_its_owners_inbox() {
    let h = Harness::new();
    h.register("alice");
    let password = secret(PASSWORD);
    for i in 0..30 {
        let name = format!("mallory{i}");
        let input =
            Registration { username: &name, email: "alice@example.com", password: &password };
        let outcome = h.auth.register(&input, &super::from(u8::try_from(i).unwrap())).unwrap();
        assert!(matches!(outcome, Registered::AddressInUse), "the same answer every time");
    }
    let told =
        h.kinds_to("alice@example.com").iter().filter(|k| **k == "registration_attempt").count();
    assert!((1..=10).contains(&told), "{told} notices for 30 attempts");
    assert_eq!(h.audit.count(|e| *e == AuditEvent::RegistrationAddressInUse), 30);
}
