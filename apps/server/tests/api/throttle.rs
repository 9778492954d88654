//! Login throttling through the API: back-off with `Retry-After`, the owner's known address
//! keeps a way in, counters shared by two instances on one database, and every refusal
//! audited.

use std::sync::Arc;
use std::time::Duration;

use server::auth::AuthOverrides;

use reqwest::Method;

use crate::accounts::{
    CountingHasher, PASSWORD, admin, audit_records, client_from, login_from, manual_clock,
    register, with_session,
};
use crate::helpers::{
    Backend, TestApp, assert_error, cases, spawn_app_with_env, spawn_app_with_overrides,
};

cases![
    wrong_passwords_then_the_right_one_get_429_until_the_back_off_ends,
    a_throttled_attempt_costs_no_hash,
    a_campaign_from_many_addresses_does_not_lock_out_the_owners_address,
    two_instances_on_one_database_share_the_counters,
    after_a_distributed_campaign_the_owner_gets_in_from_a_new_address_once_it_decays,
    an_administrator_unlock_lets_the_owner_in_at_once,
];

const WRONG: &str = "definitely-not-the-password-000";

async fn wrong_passwords_then_the_right_one_get_429_until_the_back_off_ends(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "alice").await;
    let url = app.url("/api/v1/auth/login");
    // Five failures are free; the fifth earns a 1 s wait, the sixth 2 s, and so on.
    for _ in 0..5 {
        let r = login_from(&app.client, &url, "alice", WRONG, None).await;
        assert_error(r, 401, "invalid_credentials").await;
    }
    let refused = login_from(&app.client, &url, "alice", PASSWORD, None).await;
    assert_eq!(refused.status().as_u16(), 429, "the fifth failure earned a wait");
    let request_id = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    let audited = crate::accounts::audit_of_request(&app, &request_id);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["event"], "LoginThrottled");
    assert_eq!(audited[0]["outcome"], "denied");
    assert!(audited[0]["detail"]["retry_after_secs"].as_u64().unwrap() >= 1);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(crate::helpers::json(refused).await["error"], "too_many_requests");
    clock.advance(Duration::from_secs(retry_after));
    let admitted = login_from(&app.client, &url, "alice", PASSWORD, None).await;
    assert_eq!(admitted.status().as_u16(), 200, "the owner gets in after the back-off");
    // The success reset this address's counter: five free tries again.
    for _ in 0..5 {
        let r = login_from(&app.client, &url, "alice", WRONG, None).await;
        assert_eq!(r.status().as_u16(), 401);
    }
}

async fn a_throttled_attempt_costs_no_hash(backend: Backend) {
    let hasher = CountingHasher::new();
    let (_clock, mut overrides) = manual_clock();
    overrides.hasher = Some(hasher.clone());
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "bob").await;
    let url = app.url("/api/v1/auth/login");
    for _ in 0..7 {
        login_from(&app.client, &url, "bob", WRONG, None).await;
    }
    let before = hasher.verifications();
    for _ in 0..20 {
        let r = login_from(&app.client, &url, "bob", WRONG, None).await;
        assert_eq!(r.status().as_u16(), 429);
    }
    assert_eq!(hasher.verifications(), before, "refused before any Argon2 work");
}

async fn a_campaign_from_many_addresses_does_not_lock_out_the_owners_address(backend: Backend) {
    let (_clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "carol").await;
    let url = app.url("/api/v1/auth/login");
    let owner = client_from("127.0.0.1");
    let r = login_from(&owner, &url, "carol", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 200, "the owner has logged in from here before");

    // Attackers on four other addresses, three tries each: 12 account-wide failures.
    let mut throttled = 0;
    for last in 2..=5 {
        let attacker = client_from(&format!("127.0.0.{last}"));
        for _ in 0..3 {
            let r = login_from(&attacker, &url, "carol", WRONG, None).await;
            if r.status().as_u16() == 429 {
                throttled += 1;
            }
        }
    }
    assert!(throttled > 0, "the account-wide counter slows the campaign down");
    // A fresh address is held back too...
    let stranger = client_from("127.0.0.9");
    let r = login_from(&stranger, &url, "carol", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 429);
    // ...but the owner's known address gets straight in with the right password.
    let r = login_from(&owner, &url, "carol", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 200);
}

async fn two_instances_on_one_database_share_the_counters(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let sibling_overrides = AuthOverrides {
        clock: Some(clock.clone() as Arc<dyn sec_auth::Clock>),
        ..AuthOverrides::default()
    };
    let other = app.sibling(sibling_overrides).await;
    register(&app, "dave").await;
    // Three failures on one instance and two on the other: the five free ones, in all.
    for (url, n) in [(app.url("/api/v1/auth/login"), 3), (other.url("/api/v1/auth/login"), 2)] {
        for _ in 0..n {
            let r = login_from(&app.client, &url, "dave", WRONG, None).await;
            assert_eq!(r.status().as_u16(), 401);
        }
    }
    for url in [app.url("/api/v1/auth/login"), other.url("/api/v1/auth/login")] {
        let r = login_from(&app.client, &url, "dave", PASSWORD, None).await;
        assert_eq!(r.status().as_u16(), 429, "either instance sees all five failures ({url})");
    }
    other.handle.stop(false).await;
}

/// Short throttle settings: back-off capped at 4 s, the hard limit at 12 account-wide
/// failures, and counters forgotten after 60 s without a failure.
const SHORT_THROTTLE: &[(&str, &str)] = &[
    ("APP__AUTH__THROTTLE_MAX_DELAY_SECS", "4"),
    ("APP__AUTH__THROTTLE_HARD_LIMIT", "12"),
    ("APP__AUTH__THROTTLE_RESET_SECS", "60"),
];

/// Wrong passwords for `username` from ever-new addresses (127.0.0.2, .3, ...), waiting out
/// each back-off on the manual clock, until the account has `failures` counted failures.
/// Returns the next unused address number.
async fn campaign(
    app: &TestApp,
    clock: &sec_auth::ManualClock,
    username: &str,
    failures: u32,
) -> u8 {
    let url = app.url("/api/v1/auth/login");
    let mut counted = 0;
    let mut last = 2;
    while counted < failures {
        let attacker = client_from(&format!("127.0.0.{last}"));
        last += 1;
        let r = login_from(&attacker, &url, username, WRONG, None).await;
        match r.status().as_u16() {
            401 => counted += 1,
            429 => {
                let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                clock.advance(Duration::from_secs(wait));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    last
}

async fn after_a_distributed_campaign_the_owner_gets_in_from_a_new_address_once_it_decays(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_env(backend, overrides, SHORT_THROTTLE).await;
    register(&app, "erin").await;
    let url = app.url("/api/v1/auth/login");
    let next = campaign(&app, &clock, "erin", 12).await;
    let attacked_until = app.now();

    // The hard limit: past every back-off, a new address is still refused, with the right
    // password too...
    clock.advance(Duration::from_secs(5));
    let owner = client_from(&format!("127.0.0.{next}"));
    let r = login_from(&owner, &url, "erin", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 429, "the account is at its hard limit");
    // ...and the attacker's further tries, refused, do not prolong it.
    for n in 0..5 {
        let attacker = client_from(&format!("127.0.0.{}", next + 1 + n));
        let r = login_from(&attacker, &url, "erin", WRONG, None).await;
        assert_eq!(r.status().as_u16(), 429);
        clock.advance(Duration::from_secs(10));
    }
    // One quiet period after the last counted failure, the owner gets in from an address
    // the account has never seen.
    let wait = attacked_until + 60 - app.now();
    clock.advance(Duration::from_secs(u64::try_from(wait).unwrap()));
    let r = login_from(&owner, &url, "erin", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 200, "the lock ended once the failures decayed");
}

async fn an_administrator_unlock_lets_the_owner_in_at_once(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_env(backend, overrides, SHORT_THROTTLE).await;
    let (_, boss) = admin(&app, "boss").await;
    let victim_id = register(&app, "frank").await;
    let url = app.url("/api/v1/auth/login");
    let next = campaign(&app, &clock, "frank", 12).await;
    clock.advance(Duration::from_secs(5));
    let owner = client_from(&format!("127.0.0.{next}"));
    let r = login_from(&owner, &url, "frank", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 429, "the account is at its hard limit");

    let r =
        with_session(&app, Method::POST, &format!("/api/v1/admin/users/{victim_id}/unlock"), &boss)
            .header("origin", app.address.as_str())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = login_from(&owner, &url, "frank", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 200, "unlocked at once, no waiting");

    let cleared: Vec<_> =
        audit_records(&app).into_iter().filter(|r| r["event"] == "LoginFailuresCleared").collect();
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_eq!(cleared[0]["subject"]["user"], victim_id.as_str(), "{cleared:?}");
    assert!(cleared[0]["detail"]["counters"].as_u64().unwrap() >= 1, "{cleared:?}");
    assert!(cleared[0]["actor"]["user"].is_string(), "the administrator is named: {cleared:?}");

    // An unknown account is 404, and nothing is audited for it.
    let unknown = uuid::Uuid::new_v4();
    let r =
        with_session(&app, Method::POST, &format!("/api/v1/admin/users/{unknown}/unlock"), &boss)
            .header("origin", app.address.as_str())
            .send()
            .await
            .unwrap();
    assert_error(r, 404, "not_found").await;
}
