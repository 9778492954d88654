//! Session lifetimes with a hand-moved clock, throttled `last_seen` writes, revocation, and
//! password changes that end every other session.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::accounts::{
    PASSWORD, get_as, login, login_request, manual_clock, register, session_token, signed_in,
    with_session,
};
use crate::helpers::{Backend, assert_error, cases, json, spawn_app, spawn_app_with_overrides};

cases![
    an_idle_session_ends_after_thirty_minutes,
    a_busy_session_ends_after_twelve_hours,
    last_seen_is_written_at_most_once_a_minute,
    changing_the_password_ends_every_other_session_at_once,
    a_wrong_current_password_changes_nothing,
    sessions_can_be_listed_and_revoked_one_or_all_others,
    a_revoked_session_of_someone_else_is_not_found,
    a_login_beyond_the_session_cap_ends_the_oldest_session,
    ending_one_session_needs_a_recent_authentication_as_ending_all_others_does,
];

fn last_seen(app: &crate::helpers::TestApp) -> i64 {
    use server::db::schema::sessions;
    app.db
        .run_blocking(|conn| Ok(sessions::table.select(sessions::last_seen_at).first(conn)?))
        .unwrap()
}

async fn an_idle_session_ends_after_thirty_minutes(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "alice").await;
    clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    // That request counted as activity: another 29 minutes are fine again.
    clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    clock.advance(Duration::from_secs(30 * 60));
    assert_error(get_as(&app, "/api/v1/me", &token).await, 401, "unauthorized").await;
    // Deleted on the server, not only refused.
    use server::db::schema::sessions;
    let left: i64 =
        app.db.run_blocking(|conn| Ok(sessions::table.count().get_result(conn)?)).unwrap();
    assert_eq!(left, 0);
}

async fn a_busy_session_ends_after_twelve_hours(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "bob").await;
    // Active every 20 minutes for just under 12 hours.
    for _ in 0..35 {
        clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    }
    clock.advance(Duration::from_secs(20 * 60));
    assert_error(get_as(&app, "/api/v1/me", &token).await, 401, "unauthorized").await;
}

async fn last_seen_is_written_at_most_once_a_minute(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "carol").await;
    let at_login = last_seen(&app);
    clock.advance(Duration::from_secs(30));
    for _ in 0..5 {
        assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    }
    assert_eq!(last_seen(&app), at_login, "no write within the first minute");
    clock.advance(Duration::from_secs(31));
    assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    assert_eq!(last_seen(&app), at_login + 61, "written once the minute has passed");
    assert_eq!(get_as(&app, "/api/v1/me", &token).await.status().as_u16(), 200);
    assert_eq!(last_seen(&app), at_login + 61);
}

async fn change_password(
    app: &crate::helpers::TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    with_session(app, Method::PUT, "/api/v1/me/password", token)
        .header("origin", app.address.as_str())
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

async fn changing_the_password_ends_every_other_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "dave").await;
    let here = login(&app, "dave").await;
    let laptop = login(&app, "dave").await;
    let phone = login(&app, "dave").await;
    let new_password = "quartz-heron-sings-at-dawn-over-7-hills";
    let response = change_password(&app, &here, PASSWORD, new_password).await;
    assert_eq!(response.status().as_u16(), 204);
    let renewed = session_token(&response).expect("this session gets a new token");
    assert_ne!(renewed, here);
    for old in [&here, &laptop, &phone] {
        assert_error(get_as(&app, "/api/v1/me", old).await, 401, "unauthorized").await;
    }
    assert_eq!(get_as(&app, "/api/v1/me", &renewed).await.status().as_u16(), 200);
    assert_error(login_request(&app, "dave", PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(login_request(&app, "dave", new_password).await.status().as_u16(), 200);
}

async fn a_wrong_current_password_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "erin").await;
    let here = login(&app, "erin").await;
    let other = login(&app, "erin").await;
    let response =
        change_password(&app, &here, "not-my-password-at-all-9", "another-long-passphrase-42x")
            .await;
    crate::accounts::assert_field_error(response, "current_password", "incorrect").await;
    let response = change_password(&app, &here, PASSWORD, "short").await;
    crate::accounts::assert_field_error(response, "new_password", "password_too_short").await;
    for token in [&here, &other] {
        assert_eq!(get_as(&app, "/api/v1/me", token).await.status().as_u16(), 200);
    }
    assert_eq!(login_request(&app, "erin", PASSWORD).await.status().as_u16(), 200);
}

async fn sessions_can_be_listed_and_revoked_one_or_all_others(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "frank").await;
    let a = login(&app, "frank").await;
    let b = login(&app, "frank").await;
    let c = login(&app, "frank").await;
    let list = json(get_as(&app, "/api/v1/me/sessions", &a).await).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let b_id = {
        let mine = json(get_as(&app, "/api/v1/me/sessions", &b).await).await;
        mine["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = with_session(&app, Method::DELETE, &format!("/api/v1/me/sessions/{b_id}"), &a)
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_error(get_as(&app, "/api/v1/me", &b).await, 401, "unauthorized").await;
    assert_eq!(get_as(&app, "/api/v1/me", &c).await.status().as_u16(), 200);

    let response = with_session(&app, Method::DELETE, "/api/v1/me/sessions", &a)
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(json(response).await["revoked"], 1);
    assert_error(get_as(&app, "/api/v1/me", &c).await, 401, "unauthorized").await;
    assert_eq!(get_as(&app, "/api/v1/me", &a).await.status().as_u16(), 200);
}

async fn a_revoked_session_of_someone_else_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, grace) = signed_in(&app, "grace").await;
    let (_, heidi) = signed_in(&app, "heidi").await;
    let heidi_session = json(get_as(&app, "/api/v1/me/sessions", &heidi).await).await["sessions"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response =
        with_session(&app, Method::DELETE, &format!("/api/v1/me/sessions/{heidi_session}"), &grace)
            .header("origin", app.address.as_str())
            .send()
            .await
            .unwrap();
    assert_error(response, 404, "not_found").await;
    assert_eq!(get_as(&app, "/api/v1/me", &heidi).await.status().as_u16(), 200);
}

async fn a_login_beyond_the_session_cap_ends_the_oldest_session(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = crate::helpers::spawn_app_with_env(
        backend,
        overrides,
        &[("APP__AUTH__MAX_SESSIONS_PER_ACCOUNT", "2")],
    )
    .await;
    let (user_id, first) = signed_in(&app, "capped").await;
    clock.advance(Duration::from_secs(1));
    let second = login(&app, "capped").await;
    clock.advance(Duration::from_secs(1));
    let third = login(&app, "capped").await;
    assert_error(get_as(&app, "/api/v1/me", &first).await, 401, "unauthorized").await;
    for token in [&second, &third] {
        assert_eq!(get_as(&app, "/api/v1/me", token).await.status().as_u16(), 200);
    }
    let listed = json(get_as(&app, "/api/v1/me/sessions", &third).await).await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2, "{listed}");
    let ended: Vec<_> = crate::accounts::audit_records(&app)
        .into_iter()
        .filter(|r| r["event"] == "SessionRevoked" && r["detail"]["reason"] == "session_limit")
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["subject"]["user"], user_id.as_str());
}

async fn ending_one_session_needs_a_recent_authentication_as_ending_all_others_does(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "ivan").await;
    // A stolen session, used after the re-authentication window...
    let stolen = login(&app, "ivan").await;
    let owner = login(&app, "ivan").await;
    let list = json(get_as(&app, "/api/v1/me/sessions", &owner).await).await;
    let owner_id =
        list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    clock.advance(Duration::from_secs(601));
    let end = |token: &str| {
        with_session(&app, Method::DELETE, &format!("/api/v1/me/sessions/{owner_id}"), token)
            .header("origin", app.address.as_str())
            .send()
    };
    // ...cannot sign the owner out one session at a time, as it cannot all at once.
    assert_error(end(&stolen).await.unwrap(), 401, "reauth_required").await;
    let all = with_session(&app, Method::DELETE, "/api/v1/me/sessions", &stolen)
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_error(all, 401, "reauth_required").await;
    assert_eq!(get_as(&app, "/api/v1/me", &owner).await.status().as_u16(), 200);
    // With the password, it can.
    let r = with_session(&app, Method::POST, "/api/v1/auth/reauth", &stolen)
        .header("origin", app.address.as_str())
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let fresh = session_token(&r).unwrap();
    assert_eq!(end(&fresh).await.unwrap().status().as_u16(), 204);
    assert_error(get_as(&app, "/api/v1/me", &owner).await, 401, "unauthorized").await;
}
