//! The session and pending-MFA cookies are read by their exact names only. A percent-encoded
//! spelling of a `__Host-` name (`%5F_Host-session`, `__Host-sessio%6E`) is a different cookie
//! to the browser, which therefore lets any sibling subdomain or plain-HTTP attacker set it:
//! it must neither authenticate (session fixation) nor slip a cookie-authenticated request
//! past the CSRF check (cross-site logout, forced sign-out).

use serde_json::json;

use crate::accounts::{
    PASSWORD, enroll_totp, login, password_step, register, signed_in, totp_code,
};
use crate::helpers::{Backend, TestApp, assert_error, bare_client, cases, spawn_app};

cases![
    an_encoded_session_cookie_name_does_not_authenticate,
    an_encoded_pending_mfa_cookie_name_is_no_pending_login,
    a_cross_site_logout_through_an_encoded_cookie_name_ends_nothing,
    a_cross_site_sign_out_everywhere_through_an_encoded_cookie_name_ends_nothing,
];

/// Spellings a browser treats as names other than `__Host-session`, and so lets anyone set.
const ENCODED_SESSION_NAMES: &[&str] =
    &["%5F_Host-session", "__Host-sessio%6E", "%5F%5FHost-session", "%5f_Host-session"];

async fn get_me_with_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.client.get(app.url("/api/v1/me")).header("cookie", cookie).send().await.unwrap()
}

async fn an_encoded_session_cookie_name_does_not_authenticate(backend: Backend) {
    let app = spawn_app(backend).await;
    // The attacker's own, valid session, which they toss into the victim's browser under an
    // encoded name: if it authenticated, the victim would be working in the attacker's account.
    let (_, attacker) = signed_in(&app, "mallory").await;
    for name in ENCODED_SESSION_NAMES {
        let r = get_me_with_cookie(&app, &format!("{name}={attacker}")).await;
        assert_error(r, 401, "unauthorized").await;
    }
    // The exact name does authenticate: the token itself is good.
    let r = get_me_with_cookie(&app, &format!("__Host-session={attacker}")).await;
    assert_eq!(r.status().as_u16(), 200);
}

async fn an_encoded_pending_mfa_cookie_name_is_no_pending_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "nina").await;
    let enrolled = enroll_totp(&app, &token).await;
    let pending = password_step(&app, "nina").await;
    let code = totp_code(&app, &enrolled.secret);
    for name in ["%5F_Host-mfa", "__Host-mf%61"] {
        let r = app
            .client
            .post(app.url("/api/v1/auth/mfa"))
            .header("cookie", format!("{name}={pending}"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
}

/// A request another site makes the victim's browser send, with the cookie under `name`.
fn cross_site(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
) -> reqwest::RequestBuilder {
    bare_client()
        .request(method, app.url(path))
        .header("cookie", cookie)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
}

async fn a_cross_site_logout_through_an_encoded_cookie_name_ends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "olga").await;
    let victim = login(&app, "olga").await;
    for name in ENCODED_SESSION_NAMES {
        let r = cross_site(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            &format!("{name}={victim}"),
        )
        .send()
        .await
        .unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
    let r = get_me_with_cookie(&app, &format!("__Host-session={victim}")).await;
    assert_eq!(r.status().as_u16(), 200, "the victim is still signed in");
    // With the exact name, the same request is refused as cross-site.
    let r = cross_site(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        &format!("__Host-session={victim}"),
    )
    .send()
    .await
    .unwrap();
    assert_error(r, 403, "cross_site_request").await;
}

async fn a_cross_site_sign_out_everywhere_through_an_encoded_cookie_name_ends_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    register(&app, "pia").await;
    let laptop = login(&app, "pia").await;
    let phone = crate::accounts::login_request(&app, "pia", PASSWORD).await;
    let phone = crate::accounts::session_token(&phone).unwrap();
    for name in ENCODED_SESSION_NAMES {
        let r = cross_site(
            &app,
            reqwest::Method::DELETE,
            "/api/v1/me/sessions",
            &format!("{name}={laptop}"),
        )
        .send()
        .await
        .unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
    for token in [&laptop, &phone] {
        let r = get_me_with_cookie(&app, &format!("__Host-session={token}")).await;
        assert_eq!(r.status().as_u16(), 200, "no session was ended");
    }
}
