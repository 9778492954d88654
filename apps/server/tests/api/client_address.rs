//! The client address is resolved once per request and every consumer uses that one value:
//! behind a trusted proxy (configured as the deploy files configure it), the login throttle,
//! session records and the audit trail see the forwarded client, not the proxy; from an
//! untrusted peer, a forwarding header changes nothing anywhere.

use reqwest::Method;
use sec_auth::ThrottlePolicy;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, audit_of_request, manual_clock, register, session_token};
use crate::helpers::{Backend, TestApp, cases, json, spawn_app_with_env};

cases![
    behind_a_trusted_proxy_two_clients_have_separate_throttle_counters,
    behind_a_trusted_proxy_sessions_and_audit_record_the_forwarded_client,
    behind_a_trusted_proxy_the_account_wide_limit_holds_after_a_login_through_it,
    a_forwarded_for_from_an_untrusted_peer_is_ignored_everywhere,
];

const WRONG: &str = "definitely-not-the-password-000";

/// The systemd unit's settings: the local reverse proxy is trusted, and appends to
/// `X-Forwarded-For`. The tests' own connections come from 127.0.0.1: they play the proxy.
const BEHIND_PROXY: &[(&str, &str)] = &[
    ("APP__SERVER__TRUSTED_PROXIES", "127.0.0.1,::1"),
    ("APP__SERVER__CLIENT_IP_HEADER", "x-forwarded-for"),
];

/// The Kubernetes settings: the proxies are elsewhere, so 127.0.0.1 is an untrusted client.
const NOT_BEHIND_PROXY: &[(&str, &str)] = &[
    ("APP__SERVER__TRUSTED_PROXIES", "10.0.0.0/8"),
    ("APP__SERVER__CLIENT_IP_HEADER", "x-forwarded-for"),
];

async fn app(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    // A clock that stands still: no back-off ends while a case runs.
    let (_clock, overrides) = manual_clock();
    spawn_app_with_env(backend, overrides, vars).await
}

/// A login through the proxy on behalf of `forwarded_for` (`None`: the proxy's own request).
async fn login_via(
    app: &TestApp,
    forwarded_for: Option<&str>,
    identifier: &str,
    password: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "identifier": identifier, "password": password }));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// The `source_ip` of the one audit record of `event` written for the request `request_id`.
fn audited_ip(app: &TestApp, request_id: &str, event: &str) -> Value {
    let records = audit_of_request(app, request_id);
    let record = records.iter().find(|r| r["event"] == event);
    record.unwrap_or_else(|| panic!("no {event} for {request_id}: {records:?}"))["source_ip"]
        .clone()
}

/// The `ip` of every session of the account `token` belongs to, sorted.
async fn session_ips(app: &TestApp, token: &str) -> Vec<String> {
    let list = app
        .client
        .request(Method::GET, app.url("/api/v1/me/sessions"))
        .header("cookie", format!("{}={token}", server::http::cookies::SESSION_COOKIE))
        .send()
        .await
        .unwrap();
    let body = json(list).await;
    let mut ips: Vec<String> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ip"].as_str().unwrap_or("none").to_owned())
        .collect();
    ips.sort();
    ips
}

async fn behind_a_trusted_proxy_two_clients_have_separate_throttle_counters(backend: Backend) {
    let app = app(backend, BEHIND_PROXY).await;
    register(&app, "alice").await;
    let free = ThrottlePolicy::default().pair_free_failures;
    // One client behind the proxy uses up its free failures and is held back...
    for _ in 0..free {
        let r = login_via(&app, Some("203.0.113.1"), "alice", WRONG).await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = login_via(&app, Some("203.0.113.1"), "alice", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "the first client backs off");
    // ...which does not hold back another client of the same proxy.
    let r = login_via(&app, Some("198.51.100.2"), "alice", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 200, "the second client has its own counter");
}

async fn behind_a_trusted_proxy_sessions_and_audit_record_the_forwarded_client(backend: Backend) {
    let app = app(backend, BEHIND_PROXY).await;
    register(&app, "bob").await;
    // The proxy appends what it saw to what the client sent: the client's own claim (left of
    // it) is not believed.
    let first = login_via(&app, Some("192.0.2.99, 203.0.113.7"), "bob", PASSWORD).await;
    assert_eq!(first.status().as_u16(), 200);
    let second = login_via(&app, Some("2001:db8::42"), "bob", PASSWORD).await;
    assert_eq!(second.status().as_u16(), 200);
    assert_eq!(audited_ip(&app, &request_id(&first), "LoginSucceeded"), "203.0.113.7");
    assert_eq!(audited_ip(&app, &request_id(&second), "LoginSucceeded"), "2001:db8::42");
    let failed = login_via(&app, Some("198.51.100.9"), "bob", WRONG).await;
    assert_eq!(audited_ip(&app, &request_id(&failed), "LoginFailed"), "198.51.100.9");
    let token = session_token(&second).unwrap();
    assert_eq!(session_ips(&app, &token).await, ["2001:db8::42", "203.0.113.7"]);
}

async fn behind_a_trusted_proxy_the_account_wide_limit_holds_after_a_login_through_it(
    backend: Backend,
) {
    let app = app(backend, BEHIND_PROXY).await;
    register(&app, "carol").await;
    // The owner logs in through the proxy: their address, not the proxy's, becomes known.
    let r = login_via(&app, Some("198.51.100.7"), "carol", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 200);
    // A campaign through the same proxy, one try from each of many addresses: every try is
    // judged (no shared counter holds them back early)...
    let account_free = ThrottlePolicy::default().account_free_failures;
    for n in 0..account_free {
        let r = login_via(&app, Some(&format!("203.0.113.{}", n + 10)), "carol", WRONG).await;
        assert_eq!(r.status().as_u16(), 401, "try {n} is judged on its own address");
    }
    // ...until the account-wide back-off holds back every unknown address, the proxy's own
    // included, although logins have come through the proxy before.
    let r = login_via(&app, Some("203.0.113.200"), "carol", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "the account-wide limit applies");
    let r = login_via(&app, None, "carol", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "the proxy's own address is not known");
    // The owner's known address still gets in.
    let r = login_via(&app, Some("198.51.100.7"), "carol", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 200, "the owner is not locked out");
}

async fn a_forwarded_for_from_an_untrusted_peer_is_ignored_everywhere(backend: Backend) {
    let app = app(backend, NOT_BEHIND_PROXY).await;
    register(&app, "dave").await;
    register(&app, "erin").await;
    // Throttle: a fresh spoofed address on every try does not give fresh counters.
    let free = ThrottlePolicy::default().pair_free_failures;
    for n in 0..free {
        let r = login_via(&app, Some(&format!("203.0.113.{n}")), "dave", WRONG).await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = login_via(&app, Some("203.0.113.250"), "dave", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "the peer's counter, whatever the header says");
    // Session record and audit: the peer.
    let r = login_via(&app, Some("203.0.113.77"), "erin", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(audited_ip(&app, &request_id(&r), "LoginSucceeded"), "127.0.0.1");
    let token = session_token(&r).unwrap();
    assert_eq!(session_ips(&app, &token).await, ["127.0.0.1"]);
    let r = login_via(&app, Some("203.0.113.78"), "erin", WRONG).await;
    assert_eq!(audited_ip(&app, &request_id(&r), "LoginFailed"), "127.0.0.1");
}
