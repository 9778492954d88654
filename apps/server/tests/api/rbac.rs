//! Deny by default: every route in the table behaves as its declared access says, for an
//! anonymous client, a login waiting for its second factor, a plain user and an administrator,
//! twin routes (`DELETE /x` and `DELETE /x/{id}`) share their rule, and every route that
//! demands a recent authentication refuses a stale session until it re-authenticates. And the admin API itself: disabling, role changes that renew the target's
//! token, and the last administrator kept.

use std::time::Duration;

use reqwest::Method;
use sec_auth::ManualClock;
use serde_json::json;
use server::http::cookies::MFA_COOKIE;
use server::routes::{Access, endpoints};

use crate::accounts::{
    PASSWORD, admin, admin_enrolled, get_as, login, login_request, login_with_totp, manual_clock,
    password_step, register, send_as, session_token, signed_in, totp_code, with_session,
};
use crate::helpers::{
    Backend, TestApp, assert_error, cases, json, spawn_app, spawn_app_with_overrides,
};

/// The re-authentication window of the test servers (the default).
const WINDOW: Duration = Duration::from_secs(600);

cases![
    every_route_enforces_its_declared_access,
    every_route_that_demands_recent_authentication_refuses_a_stale_session_until_reauth,
    disabling_an_account_ends_its_sessions_at_once,
    a_role_change_renews_the_targets_token_and_takes_effect,
    the_last_administrator_cannot_be_removed_or_disabled,
    the_admin_list_shows_accounts_and_their_roles,
];

/// A concrete path for a pattern: parameters get well-formed values that match nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000").replace("{role}", "user")
}

async fn send(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> u16 {
    let cookie = token.map(|t| format!("__Host-session={t}"));
    send_with(app, method, path, cookie.as_deref()).await.status().as_u16()
}

async fn send_with(
    app: &TestApp,
    method: &Method,
    path: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method.clone(), app.url(&concrete(path)))
        .header("origin", app.address.as_str());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

async fn every_route_enforces_its_declared_access(backend: Backend) {
    // A manual clock: each administrator login needs a TOTP code of a new time step.
    let (clock, overrides) = manual_clock();
    // The walk logs both accounts in once per route while checking their first tokens at
    // the end: a session cap above the number of routes keeps those first tokens alive.
    let app = crate::helpers::spawn_app_with_env(
        backend,
        overrides,
        &[("APP__AUTH__MAX_SESSIONS_PER_ACCOUNT", "1000")],
    )
    .await;
    let (_, user) = signed_in(&app, "plainuser").await;
    let (_, boss) = admin_enrolled(&app, "bossuser").await;
    let routes = endpoints();
    assert!(routes.len() >= 10);
    assert_twins_share_their_access_rule(&routes);
    // Logout and "revoke my other sessions" end sessions: they are walked last, after the
    // long-lived tokens above are checked, and every request uses a fresh login anyway.
    let (last, first): (Vec<_>, Vec<_>) = routes.iter().partition(|e| {
        e.path.ends_with("/logout")
            || e.path.ends_with("/me/sessions")
            || e.path.ends_with("/sessions/end-others")
    });
    for e in &first {
        check(&app, &clock, &boss.secret, e).await;
        let user_status = get_as(&app, "/api/v1/me", &user).await.status().as_u16();
        let boss_status = get_as(&app, "/api/v1/me", &boss.token).await.status().as_u16();
        assert_eq!((user_status, boss_status), (200, 200), "after {} {}", e.method, e.path);
    }
    for e in &last {
        check(&app, &clock, &boss.secret, e).await;
    }
}

async fn check(app: &TestApp, clock: &ManualClock, secret: &str, e: &server::routes::Endpoint) {
    let m: Method = e.method.as_str().parse().unwrap();
    let anonymous = send(app, &m, e.path, None).await;
    let as_user = send(app, &m, e.path, Some(&login(app, "plainuser").await)).await;
    clock.advance(Duration::from_secs(30));
    let as_admin =
        send(app, &m, e.path, Some(&login_with_totp(app, "bossuser", secret).await)).await;
    // A login that passed its password step holds only the pending-MFA cookie.
    let pending = format!("{MFA_COOKIE}={}", password_step(app, "bossuser").await);
    let as_pending = send_with(app, &m, e.path, Some(&pending)).await.status().as_u16();
    let what = format!("{} {}", e.method, e.path);
    match e.access {
        Access::Public => {
            assert!(![401, 403].contains(&anonymous), "{what}: public but refused ({anonymous})");
        }
        Access::MfaPending => {
            assert_eq!(anonymous, 401, "{what}: anonymous");
            assert_eq!(as_user, 401, "{what}: a session is not a pending second factor");
            assert_eq!(as_admin, 401, "{what}: a session is not a pending second factor");
            assert!(![401, 403].contains(&as_pending), "{what}: pending refused ({as_pending})");
        }
        // The plain user has no second factor: a factor change needs no proof of one.
        Access::Authenticated | Access::RecentAuthentication | Access::FactorChange => {
            assert_eq!(anonymous, 401, "{what}: anonymous");
            assert_eq!(as_pending, 401, "{what}: the pending-MFA cookie authenticates nothing");
            assert!(![401, 403].contains(&as_user), "{what}: user refused ({as_user})");
        }
        Access::Permission(p) => {
            assert_eq!(anonymous, 401, "{what}: anonymous");
            assert_eq!(as_pending, 401, "{what}: the pending-MFA cookie authenticates nothing");
            assert_eq!(as_user, 403, "{what}: a plain user lacks {p}");
            assert!(![401, 403].contains(&as_admin), "{what}: admin refused ({as_admin})");
        }
    }
}

/// True when `item` is `collection` followed by one parameter segment (`/x` and `/x/{id}`).
fn is_item_of(item: &str, collection: &str) -> bool {
    item.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix("/{"))
        .is_some_and(|rest| rest.ends_with('}') && !rest.contains('/'))
}

/// The same action on a collection and on one of its items (`DELETE /x` and `DELETE /x/{id}`)
/// must not differ in their rule: the weaker twin would be a way around the stronger (ending
/// the other sessions one at a time without the re-authentication that ending them all needs).
fn assert_twins_share_their_access_rule(routes: &[server::routes::Endpoint]) {
    let mut twins = 0;
    for collection in routes {
        for item in routes.iter().filter(|i| i.method == collection.method) {
            if is_item_of(item.path, collection.path) {
                twins += 1;
                assert_eq!(
                    item.access, collection.access,
                    "{} {} and {} {} are twins with different access rules",
                    item.method, item.path, collection.method, collection.path
                );
            }
        }
    }
    assert!(is_item_of("/api/v1/me/sessions/{id}", "/api/v1/me/sessions"));
    assert!(!is_item_of("/api/v1/me/sessions/{id}/end", "/api/v1/me/sessions"));
    assert!(!is_item_of("/api/v1/me/mfa/totp/confirm", "/api/v1/me/mfa/totp"));
    assert!(twins >= 2, "the walk saw the session and user twins ({twins})");
    // A page's form does what an API route does: it has the API route's rule, or the form is
    // the way around it (ending the owner's sessions one by one without re-authenticating);
    // and where the API route counts against the authentication rate limit, so does the form.
    let rule = |method: &str, path: &str| {
        let found = routes.iter().find(|e| e.method.as_str() == method && e.path == path);
        found.unwrap_or_else(|| panic!("{method} {path} is in the table")).access
    };
    let twins = page_twins();
    for ((form_method, form), (api_method, api)) in &twins {
        assert_eq!(
            rule(form_method, form),
            rule(api_method, api),
            "the form {form_method} {form} and {api_method} {api} differ in their rule"
        );
        let limited =
            |m: &str, p: &str| server::http::rate_limit::is_auth_request(&m.parse().unwrap(), p);
        assert_eq!(
            limited(form_method, form),
            limited(api_method, api),
            "{form_method} {form} and {api_method} {api} differ in their rate-limit bucket"
        );
    }
    // Every page route that acts (not a GET, not an API route) has its twin in the list, so a
    // new form cannot be added without saying which API route's rule it follows.
    for e in routes.iter().filter(|e| e.method.as_str() != "GET" && !e.path.starts_with("/api/")) {
        let known = twins.iter().any(|((m, p), _)| *m == e.method.as_str() && *p == e.path);
        assert!(
            known || e.path == "/csp-report",
            "{} {} has no API twin in page_twins()",
            e.method,
            e.path
        );
    }
}

/// A route by method and path.
type RouteName = (&'static str, &'static str);

/// Each form of the pages, and the API route it does the same as.
fn page_twins() -> Vec<(RouteName, RouteName)> {
    vec![
        (("POST", "/signup"), ("POST", "/api/v1/auth/register")),
        (("POST", "/login"), ("POST", "/api/v1/auth/login")),
        (("POST", "/login/mfa"), ("POST", "/api/v1/auth/mfa")),
        (("POST", "/forgot-password"), ("POST", "/api/v1/auth/password-reset")),
        (("POST", "/resend-verification"), ("POST", "/api/v1/auth/verify-email/resend")),
        (("POST", "/account/verify-email"), ("POST", "/api/v1/auth/verify-email")),
        (("POST", "/account/reset-password"), ("POST", "/api/v1/auth/password-reset/complete")),
        (("POST", "/account/confirm"), ("POST", "/api/v1/auth/reauth")),
        (("POST", "/account/sign-out"), ("POST", "/api/v1/auth/logout")),
        (("POST", "/account/password"), ("PUT", "/api/v1/me/password")),
        (("POST", "/account/email"), ("PUT", "/api/v1/me/email")),
        (("POST", "/account/sessions/end-others"), ("DELETE", "/api/v1/me/sessions")),
        (("POST", "/account/sessions/{id}/end"), ("DELETE", "/api/v1/me/sessions/{id}")),
        (("POST", "/account/mfa/totp"), ("POST", "/api/v1/me/mfa/totp")),
        (("POST", "/account/mfa/totp/confirm"), ("POST", "/api/v1/me/mfa/totp/confirm")),
        (("POST", "/account/mfa/totp/off"), ("DELETE", "/api/v1/me/mfa/totp")),
        (("POST", "/account/mfa/recovery-codes"), ("POST", "/api/v1/me/mfa/recovery-codes")),
        (("POST", "/admin/users/{id}/disable"), ("POST", "/api/v1/admin/users/{id}/disable")),
        (("POST", "/admin/users/{id}/enable"), ("POST", "/api/v1/admin/users/{id}/enable")),
        (
            ("POST", "/admin/users/{id}/roles/grant"),
            ("PUT", "/api/v1/admin/users/{id}/roles/{role}"),
        ),
        (
            ("POST", "/admin/users/{id}/roles/revoke"),
            ("DELETE", "/api/v1/admin/users/{id}/roles/{role}"),
        ),
        (("GET", "/account/mfa"), ("GET", "/api/v1/me/mfa")),
        (("GET", "/admin/users"), ("GET", "/api/v1/admin/users")),
    ]
}

async fn every_route_that_demands_recent_authentication_refuses_a_stale_session_until_reauth(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "plainuser").await;
    let (_, boss) = admin_enrolled(&app, "bossuser").await;
    let routes = endpoints();
    let demanding: Vec<_> = routes.iter().filter(|e| e.access.requires_recent_auth()).collect();
    for path in [
        "/api/v1/me/password",
        "/api/v1/me/sessions",
        "/api/v1/me/sessions/{id}",
        "/api/v1/me/mfa/totp",
        "/api/v1/me/mfa/totp/confirm",
        "/api/v1/me/mfa/recovery-codes",
    ] {
        assert!(demanding.iter().any(|e| e.path == path), "{path} demands recent auth");
    }
    assert!(demanding.iter().any(|e| matches!(e.access, Access::Permission(_))));
    for e in &routes {
        let m: Method = e.method.as_str().parse().unwrap();
        let what = format!("{} {}", e.method, e.path);
        // Fresh sessions (each time step works once: move on before the admin's login).
        clock.advance(Duration::from_secs(30));
        let admin_token = login_with_totp(&app, "bossuser", &boss.secret).await;
        let user_token = login(&app, "plainuser").await;
        let token =
            if matches!(e.access, Access::Permission(_)) { admin_token } else { user_token };
        // Older than the window, but well within the idle timeout.
        clock.advance(WINDOW + Duration::from_secs(1));
        let stale = send_with(&app, &m, e.path, Some(&format!("__Host-session={token}"))).await;
        if !e.access.requires_recent_auth() {
            if matches!(e.access, Access::Authenticated) {
                let status = stale.status().as_u16();
                assert!(
                    ![401, 403].contains(&status),
                    "{what}: refused a stale session ({status})"
                );
            }
            continue;
        }
        assert_error(stale, 401, "reauth_required").await;
        // Re-authenticate: the password for the user, a TOTP code for the administrator.
        let body = if matches!(e.access, Access::Permission(_)) {
            json!({ "code": totp_code(&app, &boss.secret) })
        } else {
            json!({ "password": PASSWORD })
        };
        let reauth = send_as(&app, Method::POST, "/api/v1/auth/reauth", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reauth.status().as_u16(), 200, "{what}: reauth");
        let fresh = session_token(&reauth).expect("a new session token after reauth");
        assert_ne!(fresh, token);
        assert_error(get_as(&app, "/api/v1/me", &token).await, 401, "unauthorized").await;
        let status = send(&app, &m, e.path, Some(&fresh)).await;
        assert!(![401, 403].contains(&status), "{what}: refused after reauth ({status})");
    }
}

async fn disabling_an_account_ends_its_sessions_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, boss) = admin(&app, "boss").await;
    let (victim_id, victim) = signed_in(&app, "victim").await;
    let r = with_session(
        &app,
        Method::POST,
        &format!("/api/v1/admin/users/{victim_id}/disable"),
        &boss,
    )
    .header("origin", app.address.as_str())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_error(get_as(&app, "/api/v1/me", &victim).await, 401, "unauthorized").await;
    assert_error(login_request(&app, "victim", PASSWORD).await, 401, "invalid_credentials").await;
    let r =
        with_session(&app, Method::POST, &format!("/api/v1/admin/users/{victim_id}/enable"), &boss)
            .header("origin", app.address.as_str())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(login_request(&app, "victim", PASSWORD).await.status().as_u16(), 200);
}

async fn a_role_change_renews_the_targets_token_and_takes_effect(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, boss) = admin(&app, "boss").await;
    let (target_id, old) = signed_in(&app, "target").await;
    assert_eq!(get_as(&app, "/api/v1/admin/users", &old).await.status().as_u16(), 403);
    let r = with_session(
        &app,
        Method::PUT,
        &format!("/api/v1/admin/users/{target_id}/roles/admin"),
        &boss,
    )
    .header("origin", app.address.as_str())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let audited = crate::accounts::audit_of_request(&app, &request_id);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["event"], "RoleGranted");
    assert_eq!(audited[0]["detail"]["role"], "admin");
    assert_eq!(audited[0]["subject"]["user"], target_id.as_str());
    // The next request with the old token is served once, with a replacement cookie...
    let r = get_as(&app, "/api/v1/me", &old).await;
    assert_eq!(r.status().as_u16(), 200);
    let renewed = session_token(&r).expect("a new token after the role change");
    assert_ne!(renewed, old);
    // ...after which the old token is dead and the new one carries the new role: no longer
    // `forbidden`, but administration needs a second factor, which the account lacks.
    assert_error(get_as(&app, "/api/v1/me", &old).await, 401, "unauthorized").await;
    assert_error(get_as(&app, "/api/v1/admin/users", &renewed).await, 403, "mfa_required").await;
    let roles = json(get_as(&app, "/api/v1/me", &renewed).await).await["roles"].clone();
    assert_eq!(roles, serde_json::json!(["admin", "user"]));
}

async fn the_last_administrator_cannot_be_removed_or_disabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (boss_id, boss) = admin(&app, "boss").await;
    let revoke = with_session(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/users/{boss_id}/roles/admin"),
        &boss,
    )
    .header("origin", app.address.as_str())
    .send()
    .await
    .unwrap();
    assert_error(revoke, 409, "last_admin").await;
    let disable =
        with_session(&app, Method::POST, &format!("/api/v1/admin/users/{boss_id}/disable"), &boss)
            .header("origin", app.address.as_str())
            .send()
            .await
            .unwrap();
    assert_error(disable, 409, "last_admin").await;
    assert_eq!(get_as(&app, "/api/v1/admin/users", &boss).await.status().as_u16(), 200);
    // With a second administrator, the first may step down.
    let (second_id, _) = admin(&app, "second").await;
    let revoke = with_session(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/users/{boss_id}/roles/admin"),
        &boss,
    )
    .header("origin", app.address.as_str())
    .send()
    .await
    .unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    let _ = second_id;
}

async fn the_admin_list_shows_accounts_and_their_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, boss) = admin(&app, "boss").await;
    register(&app, "member").await;
    let list = json(get_as(&app, "/api/v1/admin/users?limit=10", &boss).await).await;
    let users = list["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let member = users.iter().find(|u| u["username"] == "member").unwrap();
    assert_eq!(member["roles"], serde_json::json!(["user"]));
    assert_eq!(member["disabled"], false);
    assert!(member.get("password_hash").is_none());
    let bad = get_as(&app, "/api/v1/admin/users?limit=ten", &boss).await;
    assert_error(bad, 400, "bad_request").await;
}
