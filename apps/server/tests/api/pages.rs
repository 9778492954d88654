//! Server-rendered pages and their forms: every form must carry the form token of the session
//! that posts it (the synchronizer token of the CSRF defence), on top of the Fetch Metadata /
//! Origin check; the account page escapes what it shows and is served as a page.
//!
//! The attacks come first: a forged form (no token, another session's token, an altered or
//! repeated one, one in the query string) is refused with 403 `form_token_invalid` and changes
//! nothing.

use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE, USER_AGENT};
use reqwest::{Method, Response};
use sec_auth::SessionToken;
use serde_json::json;
use server::http::cookies::SESSION_COOKIE;

use crate::accounts::{
    PASSWORD, get_as, login, make_admin, register, session_token, signed_in, with_session,
};
use crate::helpers::{Backend, TestApp, assert_error, bare_client, cases, json, spawn_app};

cases![
    a_form_without_its_token_is_refused_and_changes_nothing,
    a_form_with_the_token_of_another_session_is_refused,
    an_altered_repeated_or_query_string_token_is_refused,
    signing_out_by_form_ends_the_session_and_clears_the_cookie,
    ending_a_session_by_form_works_only_for_the_users_own_sessions,
    a_cross_site_form_post_is_refused_even_with_a_valid_token,
    the_account_page_escapes_what_it_shows,
    the_account_page_is_a_page_with_the_page_policy_and_the_form_token,
    pages_and_forms_without_a_session_answer_401_json_before_reading_the_body,
    form_bodies_obey_the_body_limits_and_shape,
    after_a_reissue_the_page_renders_the_new_token_and_an_old_form_fails_once,
];

const FORM: &str = "application/x-www-form-urlencoded";
const SIGN_OUT: &str = "/account/sign-out";

/// The account page's HTML, as `token`'s browser gets it.
async fn page(app: &TestApp, token: &str) -> String {
    let response = get_as(app, "/account", token).await;
    assert_eq!(response.status().as_u16(), 200, "the account page");
    response.text().await.unwrap()
}

/// The value of the first `csrf_token` hidden field of a page.
fn token_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).expect("a csrf_token field") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Posts `body` as a form to `path`, with `token`'s session cookie, from a page of our own
/// origin (the test client sends `Sec-Fetch-Site: same-origin`).
async fn post_form(app: &TestApp, path: &str, token: &str, body: &str) -> Response {
    with_session(app, Method::POST, path, token)
        .header(CONTENT_TYPE, FORM)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Asserts `token` still authenticates.
async fn still_signed_in(app: &TestApp, token: &str) {
    assert_eq!(get_as(app, "/api/v1/me", token).await.status().as_u16(), 200, "still signed in");
}

/// The ids of `token`'s user's sessions, and which one is `token`'s.
async fn sessions(app: &TestApp, token: &str) -> (Vec<String>, String) {
    let list = json(get_as(app, "/api/v1/me/sessions", token).await).await;
    let all = list["sessions"].as_array().unwrap();
    let ids = all.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    let current = all.iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap();
    (ids, current.to_owned())
}

/// Asserts a 403 `form_token_invalid` whose log line gives `reason`.
async fn assert_refused(response: Response, reason: &str) {
    let request_id = assert_error(response, 403, "form_token_invalid").await;
    let logged = crate::audit::captured_text()
        .lines()
        .any(|l| l.contains(&request_id) && l.contains("form_token_invalid") && l.contains(reason));
    assert!(logged, "no log line for request {request_id} saying {reason:?}");
}

async fn a_form_without_its_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "victim").await;
    // The attacker's page cannot read ours, so its form has every field but the token.
    for body in ["", "other=1", "csrf_token_x=1", "csrf_token"] {
        let response = post_form(&app, SIGN_OUT, &token, body).await;
        if body == "csrf_token" {
            // A name without `=` is the field with an empty value.
            assert_refused(response, "not the form token of this session").await;
        } else {
            assert_refused(response, "no csrf_token field").await;
        }
    }
    let response = post_form(&app, SIGN_OUT, &token, "csrf_token=").await;
    assert_refused(response, "not the form token of this session").await;
    still_signed_in(&app, &token).await;
}

async fn a_form_with_the_token_of_another_session_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, victim) = signed_in(&app, "victim").await;
    let victims_other = login(&app, "victim").await;
    let (_, attacker) = signed_in(&app, "attacker").await;
    // The attacker's own page gives them a valid token, of their own session.
    let attackers_token = token_in(&page(&app, &attacker).await);
    let response =
        post_form(&app, SIGN_OUT, &victim, &format!("csrf_token={attackers_token}")).await;
    assert_refused(response, "not the form token of this session").await;
    // Nor does another session of the same user lend its token.
    let others_token = token_in(&page(&app, &victims_other).await);
    let response = post_form(&app, SIGN_OUT, &victim, &format!("csrf_token={others_token}")).await;
    assert_refused(response, "not the form token of this session").await;
    let (_, current) = sessions(&app, &victims_other).await;
    let path = format!("/account/sessions/{current}/end");
    let response = post_form(&app, &path, &victim, &format!("csrf_token={others_token}")).await;
    assert_refused(response, "not the form token of this session").await;
    for token in [&victim, &victims_other, &attacker] {
        still_signed_in(&app, token).await;
    }
}

async fn an_altered_repeated_or_query_string_token_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "victim").await;
    let valid = token_in(&page(&app, &token).await);
    let flipped = |i: usize| {
        let mut bytes = valid.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let bad = [
        flipped(0),
        flipped(valid.len() - 1),
        valid[..valid.len() - 1].to_owned(),
        format!("{valid}A"),
        token.clone(),
    ];
    for candidate in &bad {
        let response = post_form(&app, SIGN_OUT, &token, &format!("csrf_token={candidate}")).await;
        assert_refused(response, "not the form token of this session").await;
    }
    // Twice, even the right one: which of the two would count is a question not worth
    // answering.
    let twice = format!("csrf_token={valid}&csrf_token={valid}");
    assert_refused(post_form(&app, SIGN_OUT, &token, &twice).await, "more than one").await;
    // In the query string it would end up in logs and history: not looked at.
    let response = post_form(&app, &format!("{SIGN_OUT}?csrf_token={valid}"), &token, "").await;
    assert_refused(response, "no csrf_token field").await;
    still_signed_in(&app, &token).await;
}

async fn signing_out_by_form_ends_the_session_and_clears_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "leaver").await;
    let other = login(&app, "leaver").await;
    let valid = token_in(&page(&app, &token).await);
    let response = post_form(&app, SIGN_OUT, &token, &format!("csrf_token={valid}")).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/account/signed-out");
    assert_eq!(session_token(&response).as_deref(), Some(""), "the cookie is deleted");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert!(response.headers().contains_key("clear-site-data"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    // The old cookie is dead everywhere; the user's other session is not touched.
    assert_error(get_as(&app, "/api/v1/me", &token).await, 401, "unauthorized").await;
    assert_error(get_as(&app, "/account", &token).await, 401, "unauthorized").await;
    let again = post_form(&app, SIGN_OUT, &token, &format!("csrf_token={valid}")).await;
    assert_error(again, 401, "unauthorized").await;
    still_signed_in(&app, &other).await;
    // The page it leads to needs no session.
    let response = app.get("/account/signed-out").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(response.text().await.unwrap().contains("Signed out"));
}

async fn ending_a_session_by_form_works_only_for_the_users_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "owner").await;
    let other = login(&app, "owner").await;
    let (_, stranger) = signed_in(&app, "stranger").await;
    let (_, others_id) = sessions(&app, &other).await;
    let (_, strangers_id) = sessions(&app, &stranger).await;
    let html = page(&app, &token).await;
    let valid = token_in(&html);
    let form = format!("csrf_token={valid}");
    // The page offers "End" for the other session, and not for this one.
    assert!(html.contains(&format!("action=\"/account/sessions/{others_id}/end\"")), "{html}");
    assert_eq!(html.matches("/end\">").count(), 1, "one End form: {html}");
    // Another user's session, or no session at all: 404, and nothing ends.
    for id in [strangers_id.as_str(), "00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let response = post_form(&app, &format!("/account/sessions/{id}/end"), &token, &form).await;
        assert_error(response, 404, "not_found").await;
    }
    still_signed_in(&app, &stranger).await;
    let response =
        post_form(&app, &format!("/account/sessions/{others_id}/end"), &token, &form).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/account");
    assert_eq!(session_token(&response), None, "this session's cookie is kept");
    assert_error(get_as(&app, "/api/v1/me", &other).await, 401, "unauthorized").await;
    still_signed_in(&app, &token).await;
    let (ids, _) = sessions(&app, &token).await;
    assert_eq!(ids.len(), 1);
    // Ending this very session by its id signs out, as "Sign out" does.
    let (_, own_id) = sessions(&app, &token).await;
    let response = post_form(&app, &format!("/account/sessions/{own_id}/end"), &token, &form).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/account/signed-out");
    assert_eq!(session_token(&response).as_deref(), Some(""));
    assert_error(get_as(&app, "/api/v1/me", &token).await, 401, "unauthorized").await;
}

async fn a_cross_site_form_post_is_refused_even_with_a_valid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "victim").await;
    let valid = token_in(&page(&app, &token).await);
    // Even if another site had the token, the middleware refuses its form first.
    let provenance: [&[(&str, &str)]; 2] = [
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
        &[("origin", "https://evil.example")],
    ];
    for headers in provenance {
        let mut request = bare_client()
            .post(app.url(SIGN_OUT))
            .header("cookie", format!("{SESSION_COOKIE}={token}"))
            .header(CONTENT_TYPE, FORM)
            .body(format!("csrf_token={valid}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        assert_error(request.send().await.unwrap(), 403, "cross_site_request").await;
    }
    still_signed_in(&app, &token).await;
}

async fn the_account_page_escapes_what_it_shows(backend: Backend) {
    let app = spawn_app(backend).await;
    // An e-mail address may hold `&` and `'`; a user agent is whatever the client sends.
    let email = "o'hara&co@example.test";
    let body = json!({ "username": "ohara", "email": email, "password": PASSWORD });
    let response = app.client.post(app.url("/api/v1/auth/register")).json(&body).send().await;
    assert_eq!(response.unwrap().status().as_u16(), 202);
    let hostile = "<script>alert(1)</script>";
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(USER_AGENT, hostile)
        .json(&json!({ "identifier": "ohara", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let token = session_token(&response).unwrap();
    let html = page(&app, &token).await;
    assert!(!html.contains(hostile), "{html}");
    assert!(!html.contains("<script"), "no script at all: {html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    assert!(!html.contains(email), "{html}");
    assert!(html.contains("o&#39;hara&#38;co@example.test"), "{html}");
}

async fn the_account_page_is_a_page_with_the_page_policy_and_the_form_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "reader").await;
    let response = get_as(&app, "/account", &token).await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, sec_config::DEFAULT_PAGE_CSP, "the page policy, not the API's");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = response.text().await.unwrap();
    // The token is the session's form token, as sec-auth derives it, in a hidden field of
    // each form; it is not the session token.
    let expected = SessionToken::parse(&token).unwrap().form_token();
    let field = format!("<input type=\"hidden\" name=\"csrf_token\" value=\"{expected}\">");
    assert!(html.contains(&field), "{html}");
    assert!(!html.contains(&token), "the session token never appears in the page");
    assert!(html.contains("action=\"/account/sign-out\""), "{html}");
    assert!(html.contains("reader@example.test") && html.contains("This session"), "{html}");
    // Nothing inline or from elsewhere, which the policy would block anyway.
    // (page_flows.rs checks every page for the same, and for labels and autocomplete.)
    for forbidden in ["<script", "<style", " style=", "<img", "http://", "https://"] {
        assert!(!html.contains(forbidden), "{forbidden:?} in {html}");
    }
    let handler = html
        .split(" on")
        .skip(1)
        .any(|rest| rest.trim_start_matches(|c: char| c.is_ascii_alphabetic()).starts_with('='));
    assert!(!handler, "an inline event handler in {html}");
}

async fn pages_and_forms_without_a_session_answer_401_json_before_reading_the_body(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    assert_error(app.get("/account").await, 401, "unauthorized").await;
    let (_, token) = signed_in(&app, "gone").await;
    let valid = token_in(&page(&app, &token).await);
    assert_eq!(
        with_session(&app, Method::POST, "/api/v1/auth/logout", &token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    let paths = [SIGN_OUT, "/account/sessions/00000000-0000-4000-8000-000000000000/end"];
    for path in paths {
        // No cookie, a dead one, and a body that would be refused on its own: 401 first.
        let response =
            app.client.post(app.url(path)).header(CONTENT_TYPE, "text/plain").send().await;
        assert_error(response.unwrap(), 401, "unauthorized").await;
        let response = with_session(&app, Method::POST, path, &token)
            .header(CONTENT_TYPE, FORM)
            .body(format!("csrf_token={valid}&{}", "x".repeat(100 * 1024)))
            .send()
            .await;
        assert_error(response.unwrap(), 401, "unauthorized").await;
    }
    assert_error(get_as(&app, "/account", &token).await, 401, "unauthorized").await;
}

async fn form_bodies_obey_the_body_limits_and_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "sender").await;
    let valid = token_in(&page(&app, &token).await);
    let big = format!("csrf_token={valid}&pad={}", "x".repeat(64 * 1024));
    assert_error(post_form(&app, SIGN_OUT, &token, &big).await, 413, "payload_too_large").await;
    let response = with_session(&app, Method::POST, SIGN_OUT, &token)
        .json(&json!({ "csrf_token": valid }))
        .send()
        .await;
    assert_error(response.unwrap(), 415, "unsupported_media_type").await;
    let response = with_session(&app, Method::POST, SIGN_OUT, &token).send().await;
    assert_error(response.unwrap(), 415, "unsupported_media_type").await;
    // A valid token and a field the form does not have.
    let extra = format!("csrf_token={valid}&redirect=https%3A%2F%2Fevil.example");
    assert_error(post_form(&app, SIGN_OUT, &token, &extra).await, 400, "bad_request").await;
    still_signed_in(&app, &token).await;
}

async fn after_a_reissue_the_page_renders_the_new_token_and_an_old_form_fails_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let id = register(&app, "promoted").await;
    let (first, second) = (login(&app, "promoted").await, login(&app, "promoted").await);
    let (first_form, second_form) =
        (token_in(&page(&app, &first).await), token_in(&page(&app, &second).await));
    // A role change: the next request with each old cookie gets a replacement token.
    make_admin(&app, &id);
    bump_privilege_epoch(&app, &id);
    let response = get_as(&app, "/account", &first).await;
    assert_eq!(response.status().as_u16(), 200);
    let renewed = session_token(&response).expect("a reissued cookie");
    assert_ne!(renewed, first);
    let renewed_form = token_in(&response.text().await.unwrap());
    let expected = SessionToken::parse(&renewed).unwrap().form_token();
    assert_eq!(renewed_form, expected, "the page carries the token of the new cookie");
    // A form still open from before the reissue fails once; the reloaded page's form works.
    let response = post_form(&app, SIGN_OUT, &renewed, &format!("csrf_token={first_form}")).await;
    assert_refused(response, "not the form token of this session").await;
    let response = post_form(&app, SIGN_OUT, &renewed, &format!("csrf_token={renewed_form}")).await;
    assert_eq!(response.status().as_u16(), 303);
    // A form posted with the cookie it was rendered for goes through on the very request that
    // gets the token reissued: the check is against the cookie the request presented.
    let response = post_form(&app, SIGN_OUT, &second, &format!("csrf_token={second_form}")).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_error(get_as(&app, "/api/v1/me", &second).await, 401, "unauthorized").await;
}

/// Marks `user_id`'s privileges as changed, as the admin API does on a role change.
fn bump_privilege_epoch(app: &TestApp, user_id: &str) {
    use diesel::prelude::*;
    use server::db::schema::users;
    let id = user_id.to_owned();
    app.db
        .run_blocking(move |conn| {
            diesel::update(users::table.filter(users::id.eq(&id)))
                .set(users::privilege_epoch.eq(users::privilege_epoch + 1))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
}
