//! Where the in-memory store must do what the database store does and the trait's words alone
//! leave room: each test pins one such behaviour of `apps/server/src/db/auth_store.rs`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use super::MemoryStore;
use crate::account::UserId;
use crate::mfa::{Aal, PendingTotp, TotpRecord};
use crate::permission::{Permission, ROLE_ADMIN, ROLE_USER};
use crate::session::{SessionId, SessionRecord};
use crate::store::{Activation, AuthStore, Change, NewAccount, NewSession};
use crate::throttle::{Decision, DenyReason};
use crate::token::SessionToken;

fn account(store: &MemoryStore, name: &str, role: &str) -> UserId {
    let id = UserId::random();
    let email = format!("{name}@example.com");
    let account = NewAccount {
        id,
        username: name,
        username_canonical: name,
        email: &email,
        email_canonical: &email,
        password_hash: "$argon2id$not-checked-here",
        role,
        email_verified: false,
        now: 0,
    };
    store.create_user(&account).unwrap();
    id
}

fn session(store: &MemoryStore, user: UserId, created_at: i64, cap: u32) -> (SessionId, u64) {
    let record = SessionRecord {
        id: SessionId::random(),
        user_id: user,
        created_at,
        last_seen_at: created_at,
        authenticated_at: created_at,
        aal: Aal::One,
        second_factor_at: None,
        privilege_epoch: 0,
        ip: None,
        user_agent: None,
    };
    let hash = SessionToken::generate().unwrap().hash();
    let ended = store
        .create_session(&NewSession { record: &record, token_hash: &hash, max_per_account: cap })
        .unwrap();
    (record.id, ended)
}

#[test]
fn a_reserved_attempt_counts_on_both_counters_and_a_decayed_one_starts_again_at_one() {
    let store = MemoryStore::new();
    let allow = |_: &_| Decision::Allow;
    for now in 1..=3 {
        store.throttle_reserve("user:x", "ip", now, 0, &allow).unwrap();
    }
    assert_eq!(store.throttle_failures("user:x", "ip"), Some(3));
    assert_eq!(store.throttle_failures("user:x", ""), Some(3));
    // Forgotten once the last failure is at or before `forget_before`.
    store.throttle_reserve("user:x", "ip", 100, 3, &allow).unwrap();
    assert_eq!(store.throttle_failures("user:x", "ip"), Some(1));
    // A refusal counts nothing.
    let deny = |_: &_| Decision::Deny { reason: DenyReason::AddressBackoff, retry_after_secs: 1 };
    store.throttle_reserve("user:x", "ip", 101, 0, &deny).unwrap();
    assert_eq!(store.throttle_failures("user:x", "ip"), Some(1));
}

#[test]
fn a_success_resets_the_counters_it_finds_and_creates_none() {
    let store = MemoryStore::new();
    store.throttle_success("user:x", "ip", 5).unwrap();
    assert_eq!(store.throttle_failures("user:x", "ip"), None);
    store.throttle_reserve("user:x", "ip", 6, 0, &|_| Decision::Allow).unwrap();
    store.throttle_success("user:x", "ip", 7).unwrap();
    assert_eq!(store.throttle_failures("user:x", "ip"), Some(0));
    assert_eq!(store.throttle_failures("user:x", ""), Some(0));
    // The address is now known: the next decision sees its success.
    let seen = std::cell::Cell::new(None);
    store
        .throttle_reserve("user:x", "ip", 8, 0, &|view| {
            seen.set(view.pair.and_then(|p| p.last_success_at));
            Decision::Allow
        })
        .unwrap();
    assert_eq!(seen.get(), Some(7));
}

#[test]
fn the_session_cap_ends_the_oldest_sessions_first() {
    let store = MemoryStore::new();
    let user = account(&store, "alice", ROLE_USER);
    let (oldest, _) = session(&store, user, 10, 2);
    let (middle, _) = session(&store, user, 20, 2);
    let (_, ended) = session(&store, user, 30, 2);
    assert_eq!(ended, 1);
    let left: Vec<_> = store.sessions_of(user).unwrap().iter().map(|s| s.id).collect();
    assert!(!left.contains(&oldest));
    assert!(left.contains(&middle));
    assert_eq!(left.len(), 2);
}

#[test]
fn disabling_the_last_admin_is_refused_and_changes_nothing() {
    let store = MemoryStore::new();
    let admin = account(&store, "boss", ROLE_ADMIN);
    session(&store, admin, 1, 10);
    assert_eq!(store.set_disabled(admin, true, 2).unwrap(), Change::LastAdmin);
    let user = store.find_user(crate::store::UserLookup::Id(admin)).unwrap().unwrap();
    assert!(!user.disabled);
    assert_eq!(store.sessions_of(admin).unwrap().len(), 1);
    // Role changes move the privilege epoch; disabling does not (it deletes the sessions).
    let other = account(&store, "bob", ROLE_USER);
    assert_eq!(store.grant_role(other, ROLE_ADMIN, 3).unwrap(), Change::Done);
    assert_eq!(store.set_disabled(admin, true, 4).unwrap(), Change::Done);
    assert!(store.sessions_of(admin).unwrap().is_empty());
    let epoch = |id| store.find_user(crate::store::UserLookup::Id(id)).unwrap().unwrap();
    assert_eq!((epoch(other).privilege_epoch, epoch(admin).privilege_epoch), (1, 0));
}

#[test]
fn a_totp_step_is_accepted_only_forward() {
    let store = MemoryStore::new();
    let user = account(&store, "alice", ROLE_USER);
    assert!(!store.accept_totp_step(user, 5).unwrap(), "no factor, no step");
    let pending =
        PendingTotp { sealed_secret: "sealed".to_owned(), created_at: 0, expires_at: 100 };
    store.put_pending_totp(user, &pending).unwrap();
    let active = TotpRecord { sealed_secret: "sealed".to_owned(), last_step: 5, enabled_at: 1 };
    let activation = Activation {
        pending_sealed: "sealed",
        replacing: false,
        active: &active,
        codes: &[],
        keep: SessionId::random(),
        now: 1,
    };
    assert_eq!(store.activate_totp(user, &activation).unwrap(), Some(0));
    assert!(!store.accept_totp_step(user, 5).unwrap());
    assert!(store.accept_totp_step(user, 6).unwrap());
    assert!(!store.accept_totp_step(user, 6).unwrap());
    assert!(!store.accept_totp_step(user, 4).unwrap());
}

#[test]
fn an_activation_that_no_longer_fits_writes_nothing() {
    let store = MemoryStore::new();
    let user = account(&store, "alice", ROLE_USER);
    let pending = PendingTotp { sealed_secret: "new".to_owned(), created_at: 0, expires_at: 100 };
    store.put_pending_totp(user, &pending).unwrap();
    let active = TotpRecord { sealed_secret: "new".to_owned(), last_step: 1, enabled_at: 1 };
    // The rules saw a factor to replace; there is none: refused, the enrollment stays.
    let activation = Activation {
        pending_sealed: "new",
        replacing: true,
        active: &active,
        codes: &[],
        keep: SessionId::random(),
        now: 1,
    };
    assert_eq!(store.activate_totp(user, &activation).unwrap(), None);
    assert!(store.totp_of(user).unwrap().is_none());
    assert!(store.pending_totp_of(user).unwrap().is_some());
}

#[test]
fn permissions_are_the_union_of_the_roles_and_unknown_names_are_ignored() {
    let store = MemoryStore::new();
    let user = account(&store, "alice", ROLE_USER);
    assert!(store.permissions_of(user).unwrap().iter().next().is_none());
    store.define_role("support", &["users:read", "written:by-a-newer-release"]);
    assert_eq!(store.grant_role(user, "support", 1).unwrap(), Change::Done);
    assert_eq!(store.grant_role(user, "support", 2).unwrap(), Change::Unchanged);
    assert_eq!(store.grant_role(user, "no-such-role", 3).unwrap(), Change::NotFound);
    let held: Vec<_> = store.permissions_of(user).unwrap().iter().collect();
    assert_eq!(held, vec![Permission::UsersRead]);
    assert_eq!(store.roles_of(user).unwrap(), vec!["support".to_owned(), "user".to_owned()]);
}
