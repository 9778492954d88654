//! Multi-factor authentication through the API: enrollment (the URI and its QR code), login in
//! two steps with a pending state that authenticates nothing else and expires, TOTP codes
//! whose time step works once per account (also across two instances), recovery codes that
//! work once, throttled second-factor attempts, turning TOTP off, administration that needs a
//! second factor, and the TOTP secret absent from the database and every log.

use std::time::Duration;

use base64::Engine as _;
use diesel::prelude::*;
use reqwest::Method;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use server::auth::AuthOverrides;
use server::http::cookies::MFA_COOKIE;

use crate::accounts::{
    PASSWORD, audit_records, begin_enrollment, confirm_enrollment, enroll_totp, get_as, login,
    login_request, login_with_totp, make_admin, manual_clock, mfa_cookie, mfa_step, password_step,
    register, secret_of, send_as, session_token, set_cookie, signed_in, totp_code, totp_code_at,
};
use crate::helpers::{
    Backend, TestApp, assert_error, cases, json, spawn_app, spawn_app_with_env,
    spawn_app_with_overrides, test_mfa_key,
};

cases![
    the_enrollment_uri_has_exactly_the_issued_parameters_and_the_qr_code_decodes_to_it,
    a_new_enrollment_replaces_the_factor_only_when_confirmed_and_expires,
    login_with_totp_needs_both_steps_and_gives_a_two_factor_session,
    the_pending_state_authenticates_nothing_else_and_expires,
    a_code_works_once_per_time_step_and_drift_of_one_step_is_tolerated,
    two_instances_accept_one_code_only_once,
    recovery_codes_work_once_each_and_regeneration_voids_the_old_set,
    second_factor_attempts_are_throttled_on_their_own_counters,
    disabling_totp_needs_a_code_and_ends_the_other_sessions,
    administration_requires_a_second_factor_unless_configured_off,
    re_authentication_refuses_wrong_proofs,
    the_totp_secret_never_reaches_the_database_or_a_log,
    without_an_mfa_key_mfa_is_unavailable,
    secrets_sealed_with_an_old_key_open_after_rotation_and_are_resealed,
    a_session_from_before_the_enrollment_ends_with_it_and_changes_nothing,
    a_password_alone_cannot_change_an_existing_factor_or_reach_administration,
    the_owner_changes_factors_after_a_recent_second_factor_proof_only,
    enrollment_confirmations_are_throttled_like_other_second_factors,
];

/// Audit lines (as captured from the log stream) naming `event` and `user`.
fn audit_lines(event: &str, user: &str) -> usize {
    crate::audit::captured_text()
        .lines()
        .filter(|l| l.contains(&format!("\"{event}\"")) && l.contains(user))
        .count()
}

async fn status_of(app: &TestApp, token: &str) -> Value {
    let response = get_as(app, "/api/v1/me/mfa", token).await;
    assert_eq!(response.status().as_u16(), 200);
    json(response).await
}

fn decode_qr(data_uri: &str) -> String {
    let png = data_uri.strip_prefix("data:image/png;base64,").expect("a PNG data URI");
    let png = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
    let img =
        image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

async fn the_enrollment_uri_has_exactly_the_issued_parameters_and_the_qr_code_decodes_to_it(
    backend: Backend,
) {
    let app = spawn_app_with_env(
        backend,
        AuthOverrides::default(),
        &[("APP__AUTH__TOTP_ISSUER", "Acme Server")],
    )
    .await;
    let (_, token) = signed_in(&app, "alice").await;
    let response = begin_enrollment(&app, &token).await;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response).await;
    let uri = body["otpauth_uri"].as_str().unwrap();

    let url = reqwest::Url::parse(uri).unwrap();
    assert_eq!(url.scheme(), "otpauth");
    assert_eq!(url.host_str(), Some("totp"));
    assert_eq!(url.path(), "/Acme%20Server:alice");
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    params.sort();
    let secret = secret_of(uri);
    let mut expected: Vec<(String, String)> = [
        ("algorithm", "SHA1"),
        ("digits", "6"),
        ("issuer", "Acme Server"),
        ("period", "30"),
        ("secret", secret.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(params, expected, "exactly these parameters");
    // 160 bits: 32 Base32 characters, no padding.
    assert_eq!(secret.len(), 32);
    assert!(secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));

    assert_eq!(decode_qr(body["qr_png"].as_str().unwrap()), uri, "the QR code is the URI");
    assert!(body["qr_svg"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"));

    // Two enrollments never share a secret.
    let again = json(begin_enrollment(&app, &token).await).await;
    assert_ne!(secret_of(again["otpauth_uri"].as_str().unwrap()), secret);
}

async fn a_new_enrollment_replaces_the_factor_only_when_confirmed_and_expires(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "bob").await;
    // Confirming needs a pending enrollment.
    let r = confirm_enrollment(&app, &token, "123456").await;
    crate::accounts::assert_field_error(r, "code", "no_enrollment").await;

    let first = enroll_totp(&app, &token).await;
    assert_eq!(status_of(&app, &first.token).await["totp_enabled"], true);
    // A second enrollment starts, and is not confirmed: the first secret keeps working.
    let pending = json(begin_enrollment(&app, &first.token).await).await;
    let second_secret = secret_of(pending["otpauth_uri"].as_str().unwrap());
    assert_eq!(status_of(&app, &first.token).await["enrollment_pending"], true);
    clock.advance(Duration::from_secs(30));
    login_with_totp(&app, "bob", &first.secret).await;
    // A wrong code does not confirm it.
    let wrong = if totp_code(&app, &second_secret) == "000000" { "000001" } else { "000000" };
    let r = confirm_enrollment(&app, &first.token, wrong).await;
    crate::accounts::assert_field_error(r, "code", "incorrect").await;
    // It expires after ten minutes (the session proves the factor again to ask).
    clock.advance(Duration::from_secs(601));
    let token = login_with_totp(&app, "bob", &first.secret).await;
    let r = confirm_enrollment(&app, &token, &totp_code(&app, &second_secret)).await;
    crate::accounts::assert_field_error(r, "code", "no_enrollment").await;

    // A confirmed re-enrollment replaces the first secret.
    clock.advance(Duration::from_secs(30));
    let token = login_with_totp(&app, "bob", &first.secret).await;
    let second = enroll_totp(&app, &token).await;
    assert_ne!(second.secret, first.secret);
    clock.advance(Duration::from_secs(30));
    let pending = password_step(&app, "bob").await;
    let r = mfa_step(&app, &pending, json!({ "code": totp_code(&app, &first.secret) })).await;
    assert_error(r, 401, "invalid_credentials").await;
    let r = mfa_step(&app, &pending, json!({ "code": totp_code(&app, &second.secret) })).await;
    assert_eq!(r.status().as_u16(), 200);
}

async fn login_with_totp_needs_both_steps_and_gives_a_two_factor_session(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (id, token) = signed_in(&app, "carol").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));

    let response = login_request(&app, "carol", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(session_token(&response).is_none(), "no session cookie before the second factor");
    let line = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(MFA_COOKIE))
        .expect("the pending cookie");
    let attributes: Vec<String> =
        line.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    for wanted in ["httponly", "secure", "samesite=strict", "path=/", "max-age=300"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted} missing: {line}");
    }
    let pending = mfa_cookie(&response).unwrap();
    let body = json(response).await;
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["user"]["id"], id.as_str());

    // A wrong code: the same answer as a wrong password.
    let code = totp_code(&app, &enrolled.secret);
    let wrong = if code == "999999" { "999998" } else { "999999" };
    assert_error(
        mfa_step(&app, &pending, json!({ "code": wrong })).await,
        401,
        "invalid_credentials",
    )
    .await;
    // Neither both factors at once nor none.
    let r = mfa_step(&app, &pending, json!({ "code": code, "recovery_code": "x" })).await;
    crate::accounts::assert_field_error(r, "code", "one_of").await;
    let r = mfa_step(&app, &pending, json!({})).await;
    crate::accounts::assert_field_error(r, "code", "one_of").await;

    let response = mfa_step(&app, &pending, json!({ "code": code })).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(mfa_cookie(&response).as_deref(), Some(""), "the pending cookie is deleted");
    let session = session_token(&response).expect("a session cookie");
    assert_ne!(session, enrolled.token);
    let sessions = json(get_as(&app, "/api/v1/me/sessions", &session).await).await;
    let current = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true);
    assert_eq!(current.unwrap()["aal"], 2, "established with two factors");
    assert_eq!(status_of(&app, &session).await["session_aal"], 2);
    // The pending step is used up.
    clock.advance(Duration::from_secs(30));
    let again =
        mfa_step(&app, &pending, json!({ "code": totp_code(&app, &enrolled.secret) })).await;
    assert_error(again, 401, "unauthorized").await;
}

async fn the_pending_state_authenticates_nothing_else_and_expires(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "dave").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));
    let pending = password_step(&app, "dave").await;
    // As a session cookie, or under its own name, it opens nothing (the route walk in rbac.rs
    // checks every route of the table).
    for cookie in [format!("__Host-session={pending}"), format!("{MFA_COOKIE}={pending}")] {
        let r = app.client.get(app.url("/api/v1/me")).header(COOKIE, cookie).send().await.unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
    // Five minutes later it is gone, even with a valid code; its cookie is deleted.
    clock.advance(Duration::from_secs(300));
    let r = mfa_step(&app, &pending, json!({ "code": totp_code(&app, &enrolled.secret) })).await;
    assert_eq!(mfa_cookie(&r).as_deref(), Some(""));
    assert_error(r, 401, "unauthorized").await;
    // Deleted on the server.
    use server::db::schema::mfa_challenges;
    let left: i64 =
        app.db.run_blocking(|conn| Ok(mfa_challenges::table.count().get_result(conn)?)).unwrap();
    assert_eq!(left, 0);
}

async fn a_code_works_once_per_time_step_and_drift_of_one_step_is_tolerated(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (id, token) = signed_in(&app, "erin").await;
    let enrolled = enroll_totp(&app, &token).await;
    let secret = enrolled.secret.as_str();
    let attempt = |code: String| {
        let app = &app;
        async move {
            let pending = password_step(app, "erin").await;
            mfa_step(app, &pending, json!({ "code": code })).await.status().as_u16()
        }
    };
    // Move well past the confirmation's step.
    clock.advance(Duration::from_secs(300));
    let now = app.now();
    // The same valid code twice within its window: the second is a replay.
    let code = totp_code_at(secret, now);
    assert_eq!(attempt(code.clone()).await, 200);
    assert_eq!(attempt(code).await, 401, "replayed");
    assert!(audit_lines("TotpReplayRejected", &id) >= 1, "the replay is audited");

    // Drift: the previous step's code and then the next step's code are both accepted.
    clock.advance(Duration::from_secs(120));
    let now = app.now();
    assert_eq!(attempt(totp_code_at(secret, now - 30)).await, 200, "t-1 accepted");
    assert_eq!(attempt(totp_code_at(secret, now + 30)).await, 200, "t+1 accepted");
    // A code from step t after one from t+1 was accepted: refused.
    assert_eq!(attempt(totp_code_at(secret, now)).await, 401, "older than the last accepted");
    // Two steps away, either way: refused.
    clock.advance(Duration::from_secs(120));
    let now = app.now();
    assert_eq!(attempt(totp_code_at(secret, now - 60)).await, 401, "t-2 refused");
    assert_eq!(attempt(totp_code_at(secret, now + 60)).await, 401, "t+2 refused");
    assert_eq!(attempt(totp_code_at(secret, now)).await, 200);
}

async fn two_instances_accept_one_code_only_once(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let sibling = app
        .sibling(AuthOverrides {
            clock: Some(clock.clone() as std::sync::Arc<dyn sec_auth::Clock>),
            ..AuthOverrides::default()
        })
        .await;
    let (_, token) = signed_in(&app, "frank").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));
    let code = totp_code(&app, &enrolled.secret);
    let first = password_step(&app, "frank").await;
    let second = password_step(&app, "frank").await;
    // Both instances get the same code at once.
    let send = |base: String, pending: String| {
        let client = app.client.clone();
        let code = code.clone();
        async move {
            client
                .post(format!("{base}/api/v1/auth/mfa"))
                .header(COOKIE, format!("{MFA_COOKIE}={pending}"))
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (a, b) = futures_util::future::join(
        send(app.address.clone(), first),
        send(sibling.address.clone(), second),
    )
    .await;
    let mut statuses = [a, b];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "exactly one instance accepts the code");
    sibling.handle.stop(false).await;
}

async fn recovery_codes_work_once_each_and_regeneration_voids_the_old_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, token) = signed_in(&app, "grace").await;
    let enrolled = enroll_totp(&app, &token).await;
    assert_eq!(enrolled.recovery_codes.len(), 10);
    assert_eq!(status_of(&app, &enrolled.token).await["recovery_codes_left"], 10);

    // Stored values are not the codes.
    use server::db::schema::mfa_recovery_codes;
    let stored: Vec<String> = app
        .db
        .run_blocking(|conn| {
            Ok(mfa_recovery_codes::table.select(mfa_recovery_codes::code_hash).load(conn)?)
        })
        .unwrap();
    assert_eq!(stored.len(), 10);
    for code in &enrolled.recovery_codes {
        let raw = code.replace('-', "");
        assert!(stored.iter().all(|s| !s.contains(&raw) && !s.contains(code.as_str())));
    }

    let use_code = |code: String| {
        let app = &app;
        async move {
            let pending = password_step(app, "grace").await;
            let r = mfa_step(app, &pending, json!({ "recovery_code": code })).await;
            (r.status().as_u16(), session_token(&r))
        }
    };
    let mut last_session = None;
    for (i, code) in enrolled.recovery_codes.iter().enumerate() {
        // Typed sloppily: lower case, spaces instead of dashes.
        let (status, session) = use_code(code.to_lowercase().replace('-', " ")).await;
        assert_eq!(status, 200, "code {i} works");
        let session = session.unwrap();
        assert_eq!(status_of(&app, &session).await["recovery_codes_left"], 9 - i);
        // ...and never again.
        assert_eq!(use_code(code.clone()).await.0, 401, "code {i} works once");
        last_session = Some(session);
    }
    assert!(audit_lines("RecoveryCodeUsed", &id) >= 10);
    // All ten used: none left, none works.
    let session = last_session.unwrap();
    assert_eq!(status_of(&app, &session).await["recovery_codes_left"], 0);

    let response = send_as(&app, Method::POST, "/api/v1/me/mfa/recovery-codes", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let fresh: Vec<String> = json(response).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fresh.len(), 10);
    // Regenerate again: the set just issued is void.
    let response = send_as(&app, Method::POST, "/api/v1/me/mfa/recovery-codes", &session)
        .send()
        .await
        .unwrap();
    let newest: Vec<String> = json(response).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(use_code(fresh[0].clone()).await.0, 401, "the old set is void");
    assert_eq!(use_code(newest[0].clone()).await.0, 200, "the new set works");
    // A user without TOTP has no recovery codes to regenerate.
    let (_, plain) = signed_in(&app, "heidi").await;
    let r =
        send_as(&app, Method::POST, "/api/v1/me/mfa/recovery-codes", &plain).send().await.unwrap();
    assert_error(r, 409, "mfa_not_enabled").await;
}

async fn second_factor_attempts_are_throttled_on_their_own_counters(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "ivan").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));
    let pending = password_step(&app, "ivan").await;
    let code = totp_code(&app, &enrolled.secret);
    let wrong = if code == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        let r = mfa_step(&app, &pending, json!({ "code": wrong })).await;
        assert_error(r, 401, "invalid_credentials").await;
    }
    // The right code is refused too while the back-off lasts: a guess costs time.
    let refused = mfa_step(&app, &pending, json!({ "code": code })).await;
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // The password counters are separate: the password step still works.
    password_step(&app, "ivan").await;
    clock.advance(Duration::from_secs(retry_after));
    let r = mfa_step(&app, &pending, json!({ "code": totp_code(&app, &enrolled.secret) })).await;
    assert_eq!(r.status().as_u16(), 200, "after the back-off the right code works");
}

async fn disabling_totp_needs_a_code_and_ends_the_other_sessions(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (id, token) = signed_in(&app, "judy").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));
    let other = login_with_totp(&app, "judy", &enrolled.secret).await;
    clock.advance(Duration::from_secs(30));
    let here = login_with_totp(&app, "judy", &enrolled.secret).await;
    let disable = |body: Value| {
        send_as(&app, Method::DELETE, "/api/v1/me/mfa/totp", &here).json(&body).send()
    };
    // Without a code, or with a wrong one, nothing changes.
    let r = disable(json!({})).await.unwrap();
    crate::accounts::assert_field_error(r, "code", "one_of").await;
    let r = disable(json!({ "recovery_code": "AAAA-BBBB-CCCC-DDDD" })).await.unwrap();
    crate::accounts::assert_field_error(r, "recovery_code", "incorrect").await;
    // The code used to sign in here is spent: it cannot be used again to disable.
    let r = disable(json!({ "code": totp_code(&app, &enrolled.secret) })).await.unwrap();
    crate::accounts::assert_field_error(r, "code", "incorrect").await;
    assert_eq!(status_of(&app, &here).await["totp_enabled"], true);

    clock.advance(Duration::from_secs(30));
    let r = disable(json!({ "code": totp_code(&app, &enrolled.secret) })).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(json(r).await["revoked"], 2, "the other sessions end (the enrollment's too)");
    assert_error(get_as(&app, "/api/v1/me", &other).await, 401, "unauthorized").await;
    assert_eq!(status_of(&app, &here).await["totp_enabled"], false);
    assert_eq!(status_of(&app, &here).await["recovery_codes_left"], 0);
    assert!(audit_lines("MfaDisabled", &id) >= 1);
    // Signing in needs the password only again.
    assert!(session_token(&login_request(&app, "judy", PASSWORD).await).is_some());
    // Disabling twice: nothing to disable.
    let r = disable(json!({ "code": "123456" })).await.unwrap();
    assert_error(r, 409, "mfa_not_enabled").await;
}

async fn administration_requires_a_second_factor_unless_configured_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = register(&app, "boss").await;
    make_admin(&app, &id);
    let token = login(&app, "boss").await;
    // An administrator without a second factor.
    assert_error(get_as(&app, "/api/v1/admin/users", &token).await, 403, "mfa_required").await;
    let other = login(&app, "boss").await;
    let enrolled = enroll_totp(&app, &token).await;
    assert_eq!(get_as(&app, "/api/v1/admin/users", &enrolled.token).await.status().as_u16(), 200);
    // A session established with the password alone, before the enrollment, ended with it.
    assert_error(get_as(&app, "/api/v1/admin/users", &other).await, 401, "unauthorized").await;

    let off = spawn_app_with_env(
        backend,
        AuthOverrides::default(),
        &[("APP__AUTH__ADMIN_REQUIRES_MFA", "false")],
    )
    .await;
    let id = register(&off, "boss").await;
    make_admin(&off, &id);
    let token = login(&off, "boss").await;
    assert_eq!(get_as(&off, "/api/v1/admin/users", &token).await.status().as_u16(), 200);
}

async fn re_authentication_refuses_wrong_proofs(backend: Backend) {
    // A stopped clock: the 1 s back-off after the fifth failure must not run out while a
    // loaded machine gets to the next request.
    let (_clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "karl").await;
    let reauth =
        |body: Value| send_as(&app, Method::POST, "/api/v1/auth/reauth", &token).json(&body).send();
    let r = reauth(json!({ "password": "not-the-password-at-all-123" })).await.unwrap();
    crate::accounts::assert_field_error(r, "password", "incorrect").await;
    let r = reauth(json!({ "code": "123456" })).await.unwrap();
    crate::accounts::assert_field_error(r, "code", "mfa_not_enabled").await;
    let r = reauth(json!({ "password": PASSWORD, "code": "123456" })).await.unwrap();
    crate::accounts::assert_field_error(r, "password", "one_of").await;
    // Anonymous: nothing to re-authenticate.
    let r = app.client.post(app.url("/api/v1/auth/reauth")).json(&json!({"password": PASSWORD}));
    assert_error(r.send().await.unwrap(), 401, "unauthorized").await;
    // Wrong passwords count like failed logins.
    for _ in 0..4 {
        reauth(json!({ "password": "not-the-password-at-all-123" })).await.unwrap();
    }
    let r = reauth(json!({ "password": PASSWORD })).await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
}

async fn the_totp_secret_never_reaches_the_database_or_a_log(backend: Backend) {
    use server::db::schema::{mfa_totp, mfa_totp_pending};
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "liam").await;
    let enrolled = enroll_totp(&app, &token).await;
    // A second, pending enrollment too.
    let pending_body = json(begin_enrollment(&app, &enrolled.token).await).await;
    let pending_secret = secret_of(pending_body["otpauth_uri"].as_str().unwrap());
    clock.advance(Duration::from_secs(30));
    let session = login_with_totp(&app, "liam", &enrolled.secret).await;
    // A recovery code in a login, and a replay, for the logs to have something to say.
    let pending = password_step(&app, "liam").await;
    mfa_step(&app, &pending, json!({ "recovery_code": enrolled.recovery_codes[0] })).await;
    mfa_step(&app, &pending, json!({ "code": totp_code(&app, &enrolled.secret) })).await;

    let rows: Vec<(String, String, i64, i64)> = app
        .db
        .run_blocking(|conn| {
            Ok(mfa_totp::table
                .select((
                    mfa_totp::user_id,
                    mfa_totp::secret_sealed,
                    mfa_totp::last_step,
                    mfa_totp::enabled_at,
                ))
                .load(conn)?)
        })
        .unwrap();
    let pending_rows: Vec<(String, String)> = app
        .db
        .run_blocking(|conn| {
            Ok(mfa_totp_pending::table
                .select((mfa_totp_pending::user_id, mfa_totp_pending::secret_sealed))
                .load(conn)?)
        })
        .unwrap();
    assert_eq!((rows.len(), pending_rows.len()), (1, 1));
    let dump = format!("{rows:?} {pending_rows:?}");
    for secret in [&enrolled.secret, &pending_secret] {
        let raw = base32_decode(secret);
        for form in [secret.clone(), secret.to_lowercase(), hex(&raw), b64(&raw)] {
            assert!(!dump.contains(&form), "the database holds a TOTP secret in plaintext");
        }
    }
    // What is stored is a Fernet token.
    assert!(rows[0].1.starts_with("gAAAAA"), "a Fernet token");

    let canaries: Vec<&str> = [enrolled.secret.as_str(), pending_secret.as_str()]
        .into_iter()
        .chain(enrolled.recovery_codes.iter().map(String::as_str))
        .chain([session.as_str(), enrolled.token.as_str()])
        .collect();
    let leaks = sec_audit::find_leaks(app.log_dir.path(), &canaries).unwrap();
    assert!(leaks.is_empty(), "{leaks:?}");
    let logged = crate::audit::captured_text();
    for secret in &canaries {
        assert!(!logged.contains(secret), "the log stream holds a secret");
    }
}

async fn without_an_mfa_key_mfa_is_unavailable(backend: Backend) {
    let app =
        spawn_app_with_env(backend, AuthOverrides::default(), &[("APP__AUTH__MFA_KEYS", "")]).await;
    let (_, token) = signed_in(&app, "mona").await;
    assert_error(begin_enrollment(&app, &token).await, 503, "mfa_unavailable").await;
    assert_eq!(status_of(&app, &token).await["totp_enabled"], false);
}

async fn secrets_sealed_with_an_old_key_open_after_rotation_and_are_resealed(backend: Backend) {
    use server::db::schema::mfa_totp;
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "nina").await;
    let enrolled = enroll_totp(&app, &token).await;
    let sealed = || {
        app.db
            .run_blocking(|conn| Ok(mfa_totp::table.select(mfa_totp::secret_sealed).first(conn)?))
            .unwrap()
    };
    let before: String = sealed();
    let new_key = sec_config::MasterKey::generate().unwrap();
    let new_key = secrecy::ExposeSecret::expose_secret(new_key.encoded()).to_owned();
    let clock_override = || AuthOverrides {
        clock: Some(clock.clone() as std::sync::Arc<dyn sec_auth::Clock>),
        ..AuthOverrides::default()
    };
    // A replica with the rotated ring (new key first) opens the old secret and reseals it.
    let rotated = format!("{new_key},{}", test_mfa_key());
    let both =
        app.sibling_with_env(clock_override(), &[("APP__AUTH__MFA_KEYS", rotated.as_str())]).await;
    clock.advance(Duration::from_secs(30));
    let pending = password_step_at(&app, &both.url("/api/v1/auth/login"), "nina").await;
    let r = mfa_step_at(&app, &both.url("/api/v1/auth/mfa"), &pending, &enrolled.secret).await;
    assert_eq!(r, 200);
    let after: String = sealed();
    assert_ne!(after, before, "resealed with the newest key");
    // Now the new key alone opens it.
    let only_new =
        app.sibling_with_env(clock_override(), &[("APP__AUTH__MFA_KEYS", new_key.as_str())]).await;
    clock.advance(Duration::from_secs(30));
    let pending = password_step_at(&app, &only_new.url("/api/v1/auth/login"), "nina").await;
    let r = mfa_step_at(&app, &only_new.url("/api/v1/auth/mfa"), &pending, &enrolled.secret).await;
    assert_eq!(r, 200);
    both.handle.stop(false).await;
    only_new.handle.stop(false).await;
}

/// The re-authentication window of the test servers (the default).
const WINDOW: Duration = Duration::from_secs(600);

/// A copy of the stored row of the session `token` belongs to, to put back after the server
/// ended it: what a session that escaped the ending looks like (a password login that raced
/// the confirmation, or a session from before an upgrade). Only the columns every version of
/// the schema has.
type SessionRow = (String, String, String, i64, i64, i64, i64, i64);

fn session_row(app: &TestApp, user_id: &str) -> Vec<SessionRow> {
    use server::db::schema::sessions;
    let user_id = user_id.to_owned();
    app.db
        .run_blocking(move |conn| {
            Ok(sessions::table
                .filter(sessions::user_id.eq(user_id))
                .select((
                    sessions::id,
                    sessions::user_id,
                    sessions::token_hash,
                    sessions::created_at,
                    sessions::last_seen_at,
                    sessions::authenticated_at,
                    sessions::aal,
                    sessions::privilege_epoch,
                ))
                .load(conn)?)
        })
        .unwrap()
}

fn restore_session(app: &TestApp, row: SessionRow) {
    use server::db::schema::sessions;
    app.db
        .run_blocking(move |conn| {
            diesel::delete(sessions::table.find(&row.0)).execute(conn)?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(&row.0),
                    sessions::user_id.eq(&row.1),
                    sessions::token_hash.eq(&row.2),
                    sessions::created_at.eq(row.3),
                    sessions::last_seen_at.eq(row.4),
                    sessions::authenticated_at.eq(row.5),
                    sessions::aal.eq(row.6),
                    sessions::privilege_epoch.eq(row.7),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
}

async fn reauth(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    send_as(app, Method::POST, "/api/v1/auth/reauth", token).json(&body).send().await.unwrap()
}

async fn regenerate(app: &TestApp, token: &str) -> reqwest::Response {
    send_as(app, Method::POST, "/api/v1/me/mfa/recovery-codes", token).send().await.unwrap()
}

async fn a_session_from_before_the_enrollment_ends_with_it_and_changes_nothing(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let id = register(&app, "olga").await;
    make_admin(&app, &id);
    // Someone signed in with the password alone (a stolen password, a shared computer)...
    let intruder = login(&app, "olga").await;
    // ...then the owner enrolls an authenticator.
    let owner = login(&app, "olga").await;
    let enrolled = enroll_totp(&app, &owner).await;

    // The older session ended with the enrollment: it cannot regenerate the codes, enroll
    // its own authenticator, or reach administration.
    assert_error(get_as(&app, "/api/v1/me", &intruder).await, 401, "unauthorized").await;
    assert_error(regenerate(&app, &intruder).await, 401, "unauthorized").await;
    assert_error(begin_enrollment(&app, &intruder).await, 401, "unauthorized").await;
    let r = get_as(&app, "/api/v1/admin/users", &intruder).await;
    assert_error(r, 401, "unauthorized").await;
    // The audit trail says why, about whom.
    let revoked: Vec<_> = audit_records(&app)
        .into_iter()
        .filter(|r| r["event"] == "SessionRevoked" && r["subject"]["user"] == id.as_str())
        .collect();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["detail"]["reason"], "second_factor_changed");
    assert_eq!(revoked[0]["actor"]["user"], id.as_str());
    // The owner's session and factor are untouched.
    assert_eq!(status_of(&app, &enrolled.token).await["recovery_codes_left"], 10);
    clock.advance(Duration::from_secs(30));
    login_with_totp(&app, "olga", &enrolled.secret).await;
}

async fn a_password_alone_cannot_change_an_existing_factor_or_reach_administration(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let id = register(&app, "pat").await;
    make_admin(&app, &id);
    let intruder = login(&app, "pat").await;
    let kept = session_row(&app, &id);
    assert_eq!(kept.len(), 1);
    let owner = login(&app, "pat").await;
    let enrolled = enroll_totp(&app, &owner).await;
    // A password-only session that escaped the ending (see `session_row`).
    restore_session(&app, kept[0].clone());
    clock.advance(WINDOW + Duration::from_secs(1));

    // It knows the password: re-authenticating with it works, and stays at one factor...
    let r = reauth(&app, &intruder, json!({ "password": PASSWORD })).await;
    assert_eq!(r.status().as_u16(), 200);
    let intruder = session_token(&r).unwrap();
    assert_eq!(json(r).await["aal"], 1);
    // ...but changes no factor and opens no administration.
    assert_error(regenerate(&app, &intruder).await, 403, "mfa_required").await;
    assert_error(begin_enrollment(&app, &intruder).await, 403, "mfa_required").await;
    let r = confirm_enrollment(&app, &intruder, "123456").await;
    assert_error(r, 403, "mfa_required").await;
    let r = send_as(&app, Method::DELETE, "/api/v1/me/mfa/totp", &intruder)
        .json(&json!({ "recovery_code": "AAAA-BBBB-CCCC-DDDD" }))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "mfa_required").await;
    let r = get_as(&app, "/api/v1/admin/users", &intruder).await;
    assert_error(r, 403, "mfa_required").await;
    // The owner's authenticator and codes still work.
    clock.advance(Duration::from_secs(30));
    let session = login_with_totp(&app, "pat", &enrolled.secret).await;
    assert_eq!(status_of(&app, &session).await["recovery_codes_left"], 10);
    let pending = password_step(&app, "pat").await;
    let r = mfa_step(&app, &pending, json!({ "recovery_code": enrolled.recovery_codes[0] })).await;
    assert_eq!(r.status().as_u16(), 200);
}

async fn the_owner_changes_factors_after_a_recent_second_factor_proof_only(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let id = register(&app, "quinn").await;
    make_admin(&app, &id);
    let token = login(&app, "quinn").await;
    let enrolled = enroll_totp(&app, &token).await;
    clock.advance(Duration::from_secs(30));
    let session = login_with_totp(&app, "quinn", &enrolled.secret).await;
    // Signed in with both factors just now: the proof is recent.
    assert_eq!(regenerate(&app, &session).await.status().as_u16(), 200);

    // Later, the proof is stale; a password re-authentication does not renew it.
    clock.advance(WINDOW + Duration::from_secs(1));
    assert_error(regenerate(&app, &session).await, 403, "mfa_required").await;
    let r = reauth(&app, &session, json!({ "password": PASSWORD })).await;
    assert_eq!(r.status().as_u16(), 200);
    let session = session_token(&r).unwrap();
    assert_error(regenerate(&app, &session).await, 403, "mfa_required").await;
    assert_error(begin_enrollment(&app, &session).await, 403, "mfa_required").await;

    // A TOTP re-authentication does: codes, administration, a new authenticator.
    let r = reauth(&app, &session, json!({ "code": totp_code(&app, &enrolled.secret) })).await;
    assert_eq!(r.status().as_u16(), 200);
    let session = session_token(&r).unwrap();
    assert_eq!(regenerate(&app, &session).await.status().as_u16(), 200);
    assert_eq!(get_as(&app, "/api/v1/admin/users", &session).await.status().as_u16(), 200);
    let replaced = enroll_totp(&app, &session).await;
    assert_error(get_as(&app, "/api/v1/me", &enrolled.token).await, 401, "unauthorized").await;

    // So does a recovery code; then turning TOTP off works.
    clock.advance(WINDOW + Duration::from_secs(1));
    let r = send_as(&app, Method::DELETE, "/api/v1/me/mfa/totp", &replaced.token)
        .json(&json!({ "code": totp_code(&app, &replaced.secret) }))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "mfa_required").await;
    let r =
        reauth(&app, &replaced.token, json!({ "recovery_code": replaced.recovery_codes[0] })).await;
    assert_eq!(r.status().as_u16(), 200);
    let session = session_token(&r).unwrap();
    assert_eq!(json(r).await["aal"], 2);
    let r = send_as(&app, Method::DELETE, "/api/v1/me/mfa/totp", &session)
        .json(&json!({ "code": totp_code(&app, &replaced.secret) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(status_of(&app, &session).await["totp_enabled"], false);
}

async fn enrollment_confirmations_are_throttled_like_other_second_factors(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "rita").await;
    let pending = json(begin_enrollment(&app, &token).await).await;
    let secret = secret_of(pending["otpauth_uri"].as_str().unwrap());
    let code = totp_code(&app, &secret);
    let wrong = if code == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        let r = confirm_enrollment(&app, &token, wrong).await;
        crate::accounts::assert_field_error(r, "code", "incorrect").await;
    }
    // The right code is refused too while the back-off lasts: a guess costs time.
    let refused = confirm_enrollment(&app, &token, &code).await;
    assert_eq!(refused.status().as_u16(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    clock.advance(Duration::from_secs(retry_after));
    let r = confirm_enrollment(&app, &token, &totp_code(&app, &secret)).await;
    assert_eq!(r.status().as_u16(), 200, "after the back-off the right code works");
}

async fn password_step_at(app: &TestApp, url: &str, username: &str) -> String {
    let r = crate::accounts::login_from(&app.client, url, username, PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(set_cookie(&r).is_none());
    mfa_cookie(&r).unwrap()
}

async fn mfa_step_at(app: &TestApp, url: &str, pending: &str, secret: &str) -> u16 {
    app.client
        .post(url)
        .header(COOKIE, format!("{MFA_COOKIE}={pending}"))
        .json(&json!({ "code": totp_code(app, secret) }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn base32_decode(secret: &str) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(secret).unwrap().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
