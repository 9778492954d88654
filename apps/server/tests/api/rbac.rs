//! Deny by default: every route in the table behaves as its declared access says, for an
//! anonymous client, a plain user and an administrator. And the admin API itself: disabling,
//! role changes that renew the target's token, and the last administrator kept.

use reqwest::Method;
use server::routes::{Access, endpoints};

use crate::accounts::{
    PASSWORD, admin, get_as, login, login_request, register, session_token, signed_in, with_session,
};
use crate::helpers::{Backend, TestApp, assert_error, cases, json, spawn_app};

cases![
    every_route_enforces_its_declared_access,
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
    let mut request = app
        .client
        .request(method.clone(), app.url(&concrete(path)))
        .header("origin", app.address.as_str());
    if let Some(token) = token {
        request = request.header("cookie", format!("__Host-session={token}"));
    }
    request.send().await.unwrap().status().as_u16()
}

async fn every_route_enforces_its_declared_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, user) = signed_in(&app, "plainuser").await;
    let (_, boss) = admin(&app, "bossuser").await;
    let routes = endpoints();
    assert!(routes.len() >= 10);
    // Logout and "revoke my other sessions" end sessions: they are walked last, after the
    // long-lived tokens above are checked, and every request uses a fresh login anyway.
    let (last, first): (Vec<_>, Vec<_>) = routes
        .iter()
        .partition(|e| e.path.ends_with("/logout") || e.path.ends_with("/me/sessions"));
    for e in &first {
        check(&app, e).await;
    }
    assert_eq!(get_as(&app, "/api/v1/me", &user).await.status().as_u16(), 200);
    assert_eq!(get_as(&app, "/api/v1/me", &boss).await.status().as_u16(), 200);
    for e in &last {
        check(&app, e).await;
    }
}

async fn check(app: &TestApp, e: &server::routes::Endpoint) {
    let m: Method = e.method.as_str().parse().unwrap();
    let anonymous = send(app, &m, e.path, None).await;
    let as_user = send(app, &m, e.path, Some(&login(app, "plainuser").await)).await;
    let as_admin = send(app, &m, e.path, Some(&login(app, "bossuser").await)).await;
    let what = format!("{} {}", e.method, e.path);
    match e.access {
        Access::Public => {
            assert!(![401, 403].contains(&anonymous), "{what}: public but refused ({anonymous})");
        }
        Access::Authenticated => {
            assert_eq!(anonymous, 401, "{what}: anonymous");
            assert!(![401, 403].contains(&as_user), "{what}: user refused ({as_user})");
        }
        Access::Permission(p) => {
            assert_eq!(anonymous, 401, "{what}: anonymous");
            assert_eq!(as_user, 403, "{what}: a plain user lacks {p}");
            assert!(![401, 403].contains(&as_admin), "{what}: admin refused ({as_admin})");
        }
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
    // ...after which the old token is dead and the new one carries the new role.
    assert_error(get_as(&app, "/api/v1/me", &old).await, 401, "unauthorized").await;
    assert_eq!(get_as(&app, "/api/v1/admin/users", &renewed).await.status().as_u16(), 200);
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
