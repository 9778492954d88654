//! Registration, login and logout: the cookie's attributes, field errors, login that tells
//! nothing apart, no session fixation, logout that ends the session on the server, and no
//! password or token in any log.

use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;
use server::auth::AuthOverrides;

use crate::accounts::{
    CountingHasher, PASSWORD, assert_field_error, get_as, login_from, login_request, register,
    session_token, set_cookie, signed_in, with_session,
};
use crate::helpers::{Backend, assert_error, cases, json, spawn_app, spawn_app_with_overrides};

cases![
    login_sets_a_host_only_secure_session_cookie_and_me_answers,
    registration_names_each_rejected_field,
    a_taken_username_is_refused_and_a_taken_address_answers_as_a_new_one,
    login_works_by_email_in_any_case,
    unknown_user_wrong_password_and_disabled_account_look_the_same,
    a_token_held_before_login_is_dead_after_it,
    logout_ends_the_session_on_the_server_and_clears_the_browser,
    the_sessions_table_holds_no_raw_token,
    no_password_or_token_reaches_a_log,
    anonymous_requests_to_me_are_401_with_no_store,
    a_login_upgrades_a_hash_made_with_older_parameters,
];

async fn login_sets_a_host_only_secure_session_cookie_and_me_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = register(&app, "alice").await;
    let response = login_request(&app, "alice", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&response).unwrap();
    let attributes: Vec<String> =
        cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    for wanted in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted} missing: {cookie}");
    }
    assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("max-age") || a.starts_with("expires")),
        "{cookie}"
    );
    let token = session_token(&response).unwrap();
    assert_eq!(token.len(), 43);
    let body = json(response).await;
    assert_eq!(body["mfa_required"], false);
    assert_eq!(body["user"]["id"], id.as_str());
    assert!(body["user"].get("password_hash").is_none());

    let me = get_as(&app, "/api/v1/me", &token).await;
    assert_eq!(me.status().as_u16(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me = json(me).await;
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["roles"], json!(["user"]), "new accounts get the least-privileged role");
}

async fn registration_names_each_rejected_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let send = |body: serde_json::Value| {
        app.client.post(app.url("/api/v1/auth/register")).json(&body).send()
    };
    let response =
        send(json!({"username": "a b", "email": "no-at-sign", "password": "short"})).await.unwrap();
    let body = assert_field_error(response, "username", "invalid_username").await;
    let fields: Vec<&str> =
        body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"email") && fields.contains(&"password"), "{body}");
    assert!(body["request_id"].is_string());

    let response = send(
        json!({"username": "bob", "email": "bob@example.test", "password": "1q2w3e4r5t6y7u8i9o0p"}),
    )
    .await
    .unwrap();
    assert_field_error(response, "password", "password_common").await;
    let response = send(json!({"username": "carol", "email": "carol@example.test", "password": "carol-carol-carol-carol-99x"})).await.unwrap();
    assert_field_error(response, "password", "password_contains_username").await;
    // Unknown fields are refused rather than ignored (a typo'd field must not pass silently).
    let response = send(json!({"username": "dave", "email": "d@example.test", "password": PASSWORD, "role": "admin"})).await.unwrap();
    assert_error(response, 400, "invalid_json").await;
}

async fn a_taken_username_is_refused_and_a_taken_address_answers_as_a_new_one(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "Erin").await;
    let send = |username: &str, email: &str| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({"username": username, "email": email, "password": PASSWORD}))
            .send()
    };
    // User names are public and unique (docs/auth.md): a taken one is named, in any case.
    assert_field_error(send("ERIN", "other@example.test").await.unwrap(), "username", "taken")
        .await;
    // An address is not: a taken one, in any case, gets the answer of a fresh one, and no
    // account is made.
    let taken = send("frank", "ERIN@Example.TEST").await.unwrap();
    let fresh = send("gina", "gina@example.test").await.unwrap();
    assert_eq!((taken.status().as_u16(), fresh.status().as_u16()), (202, 202));
    let headers = |r: &reqwest::Response| {
        let mut names: Vec<String> = r
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "x-request-id" && k != "date")
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&taken), headers(&fresh));
    assert_eq!(taken.text().await.unwrap(), fresh.text().await.unwrap());
    let frank = app.db.run_blocking(|conn| server::db::users::find_by_username(conn, "frank"));
    assert!(frank.unwrap().is_none(), "an account was made for a taken address");
}

async fn login_works_by_email_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "grace").await;
    let response = login_request(&app, "GRACE@example.test", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(login_request(&app, "Grace", PASSWORD).await.status().as_u16(), 200);
}

async fn unknown_user_wrong_password_and_disabled_account_look_the_same(backend: Backend) {
    let hasher = CountingHasher::new();
    let overrides = AuthOverrides { hasher: Some(hasher.clone()), ..AuthOverrides::default() };
    let app = spawn_app_with_overrides(backend, overrides).await;
    // An administrator with a second factor, as administration requires.
    let (_, admin_token) = crate::accounts::admin(&app, "heidi").await;
    let ivan = register(&app, "ivan").await;
    let response = with_session(
        &app,
        Method::POST,
        &format!("/api/v1/admin/users/{ivan}/disable"),
        &admin_token,
    )
    .header("origin", app.address.as_str())
    .send()
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    let attempt = |identifier: &'static str, password: &'static str| {
        let app = &app;
        let hasher = hasher.clone();
        async move {
            let before = hasher.verifications();
            let response = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .header("x-request-id", "same-id-for-comparison")
                .json(&json!({"identifier": identifier, "password": password}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let mut headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter(|(k, _)| *k != "date")
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            headers.sort();
            let body = response.bytes().await.unwrap();
            (status, headers, body, hasher.verifications() - before)
        }
    };
    let unknown = attempt("nobody-here", PASSWORD).await;
    let wrong = attempt("heidi", "not-the-password-at-all-123").await;
    let disabled = attempt("ivan", PASSWORD).await;
    let unknown_email = attempt("nobody@example.test", PASSWORD).await;
    assert_eq!(unknown.0, 401);
    for other in [&wrong, &disabled, &unknown_email] {
        assert_eq!(other.0, unknown.0);
        assert_eq!(other.1, unknown.1, "headers differ");
        assert_eq!(other.2, unknown.2, "bodies differ");
    }
    for (name, outcome) in [
        ("unknown", &unknown),
        ("wrong", &wrong),
        ("disabled", &disabled),
        ("unknown e-mail", &unknown_email),
    ] {
        assert_eq!(outcome.3, 1, "{name}: one Argon2 verification per attempt");
    }
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&unknown.2).unwrap()["error"],
        "invalid_credentials"
    );
}

async fn a_token_held_before_login_is_dead_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = signed_in(&app, "judy").await;
    // Logging in again from a browser that holds `first`: the old session ends.
    let url = app.url("/api/v1/auth/login");
    let response = login_from(&app.client, &url, "judy", PASSWORD, Some(&first)).await;
    assert_eq!(response.status().as_u16(), 200);
    let second = session_token(&response).unwrap();
    assert_ne!(first, second);
    assert_error(get_as(&app, "/api/v1/me", &first).await, 401, "unauthorized").await;
    assert_eq!(get_as(&app, "/api/v1/me", &second).await.status().as_u16(), 200);

    // A token planted by someone else (well-formed, never issued) is not adopted either.
    let planted = "A".repeat(43);
    let response = login_from(&app.client, &url, "judy", PASSWORD, Some(&planted)).await;
    let third = session_token(&response).unwrap();
    assert_ne!(third, planted);
    assert_error(get_as(&app, "/api/v1/me", &planted).await, 401, "unauthorized").await;
}

async fn logout_ends_the_session_on_the_server_and_clears_the_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "mallory").await;
    let response = with_session(&app, Method::POST, "/api/v1/auth/logout", &token)
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(response.headers()["clear-site-data"], "\"cache\", \"cookies\", \"storage\"");
    let cookie = set_cookie(&response).unwrap();
    assert!(cookie.to_ascii_lowercase().contains("max-age=0"), "{cookie}");
    assert_eq!(session_token(&response).unwrap(), "");
    // Replaying the old cookie fails: the session is gone on the server, not just forgotten.
    let replay = get_as(&app, "/api/v1/me", &token).await;
    assert_error(replay, 401, "unauthorized").await;
}

async fn the_sessions_table_holds_no_raw_token(backend: Backend) {
    use server::db::schema::sessions;
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "niaj").await;
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = app
        .db
        .run_blocking(|conn| {
            Ok(sessions::table
                .select((
                    sessions::id,
                    sessions::user_id,
                    sessions::token_hash,
                    sessions::ip,
                    sessions::user_agent,
                ))
                .load(conn)?)
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&token), "a raw token is stored");
    let expected = sec_auth::SessionToken::parse(&token).unwrap().hash().to_hex();
    assert_eq!(rows[0].2, expected, "the stored value is SHA-256 of the token");
}

async fn no_password_or_token_reaches_a_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let canary = format!("Canary-{}-pass-phrase", uuid::Uuid::new_v4().simple());
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "olivia", "email": "olivia@example.test", "password": canary}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let token = session_token(&login_request(&app, "olivia", &canary).await).unwrap();
    // A failed login with a wrong password that contains the canary. (The identifier of a
    // failed login is recorded on purpose, for forensics: docs/security.md says why.)
    login_request(&app, "olivia", &format!("{canary}-wrong")).await;
    let response = with_session(&app, Method::PUT, "/api/v1/me/password", &token)
        .header("origin", app.address.as_str())
        .json(&json!({"current_password": canary, "new_password": format!("{canary}-next")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let new_token = session_token(&response).unwrap();
    get_as(&app, "/api/v1/me", &new_token).await;

    let leaks = sec_audit::find_leaks(app.log_dir.path(), &[&canary, &token, &new_token]).unwrap();
    assert!(leaks.is_empty(), "{leaks:?}");
    let logged = crate::audit::captured_text();
    for secret in [&canary, &token, &new_token] {
        assert!(!logged.contains(secret.as_str()), "the log stream holds a secret");
    }
}

async fn anonymous_requests_to_me_are_401_with_no_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/me").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_error(response, 401, "unauthorized").await;
    // A malformed or unknown cookie is deleted in the browser, and still 401.
    let response = get_as(&app, "/api/v1/me", "not-a-token").await;
    assert_eq!(session_token(&response).as_deref(), Some(""));
    assert_error(response, 401, "unauthorized").await;
}

async fn a_login_upgrades_a_hash_made_with_older_parameters(backend: Backend) {
    use sec_core::{HashParams, Password, PasswordContext, PasswordHasher, PasswordPolicy};
    use server::db::schema::users;
    let app = spawn_app(backend).await;
    let id = register(&app, "quentin").await;
    // An older configuration (equally strong, another row of the OWASP table).
    let old = PasswordHasher::new(HashParams::new(47_104, 1, 1).unwrap(), None);
    let password = Password::new(
        PASSWORD.to_owned().into(),
        &PasswordPolicy::default(),
        &PasswordContext::new(),
    )
    .unwrap();
    let old_hash = old.hash(&password).unwrap().into_string();
    let stored = old_hash.clone();
    let user = id.clone();
    app.db
        .run_blocking(move |conn| {
            diesel::update(users::table.find(&user))
                .set(users::password_hash.eq(&stored))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(login_request(&app, "quentin", PASSWORD).await.status().as_u16(), 200);
    let now: String = app
        .db
        .run_blocking(move |conn| {
            Ok(users::table.find(&id).select(users::password_hash).first(conn)?)
        })
        .unwrap();
    assert_ne!(now, old_hash);
    assert!(now.contains("m=19456,t=2,p=1"), "re-hashed at the current parameters: {now}");
    assert_eq!(login_request(&app, "quentin", PASSWORD).await.status().as_u16(), 200);
}
