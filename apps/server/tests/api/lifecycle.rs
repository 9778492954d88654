//! The account lifecycle end to end: the server sends through the outbox and its real SMTP
//! transport, over STARTTLS, to an SMTP server on loopback ([`MailServer`]); each test reads the
//! link from the delivered message and follows it as its recipient would.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use server::auth::AuthOverrides;

use crate::accounts::{
    PASSWORD, enroll_totp, login, login_request, manual_clock, register, session_token, totp_code,
    user_id, with_session,
};
use crate::helpers::{Backend, TestApp, assert_error, cases, json, spawn_app_with_env};
use crate::mail_server::{MailServer, Received};

cases!(
    registration_mails_a_link_over_starttls_that_verifies_the_address_once,
    with_verification_required_the_link_is_what_opens_sign_in,
    wrong_expired_and_used_links_get_one_answer,
    registration_and_reset_answer_alike_for_known_and_unknown_accounts,
    a_reset_through_the_mailed_link_sets_the_password_and_ends_every_session,
    a_reset_of_an_account_with_a_second_factor_needs_the_factor,
    a_new_address_needs_its_link_and_both_addresses_are_told,
    an_administrator_resets_a_lost_second_factor_and_the_owner_is_told,
    mail_waits_out_an_smtp_outage_and_arrives_once,
    two_replicas_send_each_message_once,
    what_a_user_typed_is_escaped_in_the_mail,
    no_token_reaches_a_log,
    the_pages_of_the_links_post_the_token_and_redirect,
);

const WAIT: Duration = Duration::from_secs(20);
const NEW_PASSWORD: &str = "a-brand-new-passphrase-for-2026-winter";

/// An app that mails through `sink`, its outbox polled often, with `extra` settings.
async fn app_mailing_to(
    backend: Backend,
    sink: &MailServer,
    overrides: AuthOverrides,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut vars: Vec<(&str, String)> = sink.settings_vars();
    vars.push(("APP__MAIL__OUTBOX_POLL_MS", "100".to_owned()));
    vars.push(("APP__MAIL__OUTBOX_RETRY_BASE_SECS", "1".to_owned()));
    vars.push(("APP__MAIL__OUTBOX_RETRY_MAX_SECS", "1".to_owned()));
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with_env(backend, overrides, &borrowed).await
}

/// The token of the link in `message` (after `#token=`), and the page it opens.
fn link(message: &Received) -> (String, String) {
    let start = message.text.find("http").expect("a link in the text part");
    let url: String = message.text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let (page, token) = url.split_once("#token=").expect("the token in the fragment");
    assert!(!page.contains('?'), "no query string in {url}");
    assert_eq!(token.len(), 43, "{url}");
    assert!(message.html.contains(&url.replace('&', "&amp;")), "the HTML part has the link");
    (token.to_owned(), page.to_owned())
}

/// The link to `page` (a path) among `messages`: the one message that carries one.
fn link_to_page(messages: &[Received], page: &str) -> (String, String, Received) {
    let found: Vec<&Received> =
        messages.iter().filter(|m| m.text.contains(&format!("{page}#token="))).collect();
    assert_eq!(found.len(), 1, "one link to {page}: {messages:?}");
    let (token, url) = link(found[0]);
    (token, url, found[0].clone())
}

/// The messages to `to` among all received.
fn to(messages: &[Received], to: &str) -> Vec<Received> {
    messages.iter().filter(|m| m.rcpt_to.contains(to)).cloned().collect()
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).json(&body).send().await.unwrap()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/api/v1/auth/verify-email", json!({ "token": token })).await
}

fn verified_at(app: &TestApp, username: &str) -> Option<i64> {
    let name = username.to_owned();
    app.db
        .run_blocking(move |conn| server::db::users::find_by_username(conn, &name))
        .unwrap()
        .unwrap()
        .email_verified_at
}

async fn registration_mails_a_link_over_starttls_that_verifies_the_address_once(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "vera").await;
    let messages = sink.wait_for(1, WAIT).await;
    let message = &messages[0];
    assert!(message.tls, "delivered inside STARTTLS");
    assert!(message.rcpt_to.contains("vera@example.test"), "{message:?}");
    let (token, page) = link(message);
    assert_eq!(page, app.url("/account/verify-email"));
    assert!(verified_at(&app, "vera").is_none());
    let response = verify(&app, &token).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await["status"], "verified");
    assert!(verified_at(&app, "vera").is_some());
    assert_error(verify(&app, &token).await, 400, "invalid_token").await;
}

async fn with_verification_required_the_link_is_what_opens_sign_in(backend: Backend) {
    let sink = MailServer::start();
    let extra = [("APP__AUTH__REQUIRE_VERIFIED_EMAIL", "true")];
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &extra).await;
    register(&app, "wendy").await;
    // The wrong password learns nothing; the right one learns what to do.
    let wrong = login_request(&app, "wendy", "not-the-password-of-wendy-at-all").await;
    assert_error(wrong, 401, "invalid_credentials").await;
    assert_error(login_request(&app, "wendy", PASSWORD).await, 403, "email_unverified").await;
    // A new link voids the first.
    let resend =
        post(&app, "/api/v1/auth/verify-email/resend", json!({"email": "wendy@example.test"}));
    assert_eq!(resend.await.status().as_u16(), 202);
    let messages = sink.wait_for(2, WAIT).await;
    let (first, _) = link(&messages[0]);
    let (second, _) = link(&messages[1]);
    assert_error(verify(&app, &first).await, 400, "invalid_token").await;
    assert_eq!(verify(&app, &second).await.status().as_u16(), 200);
    assert_eq!(login_request(&app, "wendy", PASSWORD).await.status().as_u16(), 200);
}

async fn wrong_expired_and_used_links_get_one_answer(backend: Backend) {
    let sink = MailServer::start();
    let (clock, overrides) = manual_clock();
    let app = app_mailing_to(backend, &sink, overrides, &[]).await;
    register(&app, "xena").await;
    register(&app, "yann").await;
    let messages = sink.wait_for(2, WAIT).await;
    let (xena, _) = link(&to(&messages, "xena@")[0]);
    let (yann, _) = link(&to(&messages, "yann@")[0]);
    assert_eq!(verify(&app, &xena).await.status().as_u16(), 200);
    clock.advance(Duration::from_secs(24 * 3600));
    let mut flipped = yann.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for token in [xena.as_str(), yann.as_str(), flipped.as_str(), "short", ""] {
        assert_error(verify(&app, token).await, 400, "invalid_token").await;
        let reset = json!({"token": token, "new_password": NEW_PASSWORD});
        let response = post(&app, "/api/v1/auth/password-reset/complete", reset).await;
        assert_error(response, 400, "invalid_token").await;
    }
}

/// Median of the times `send` takes, over `n` runs.
async fn median_ms<F, Fut>(n: usize, mut send: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        send(i).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

async fn registration_and_reset_answer_alike_for_known_and_unknown_accounts(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "zoe").await;
    sink.wait_for(1, WAIT).await;

    // Registration with zoe's address and with a fresh one: same status, headers, body.
    let taken = json!({"username": "zed", "email": "ZOE@example.test", "password": PASSWORD});
    let fresh = json!({"username": "zack", "email": "zack@example.test", "password": PASSWORD});
    let (a, b) = (
        post(&app, "/api/v1/auth/register", taken).await,
        post(&app, "/api/v1/auth/register", fresh).await,
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    // zoe hears that someone tried; zack gets his link; nobody named zed exists.
    let messages = sink.wait_for(3, WAIT).await;
    let zoe = to(&messages, "zoe@");
    assert_eq!(zoe.len(), 2);
    assert!(zoe[1].text.contains("tried to create"), "{}", zoe[1].text);
    assert!(!zoe[1].text.contains("#token="), "no link to the one who tried");
    assert_eq!(to(&messages, "zack@").len(), 1);
    // And in the same time class: both hash the password, alternating runs, medians.
    let register_as = |name: String, email: String| {
        let body = json!({"username": name, "email": email, "password": PASSWORD});
        let request = app.client.post(app.url("/api/v1/auth/register")).json(&body).send();
        async move { assert_eq!(request.await.unwrap().status().as_u16(), 202) }
    };
    let mut taken_ms = Vec::new();
    let mut fresh_ms = Vec::new();
    for round in 0..3 {
        taken_ms.push(
            median_ms(5, |i| register_as(format!("t{round}x{i}"), "zoe@example.test".into())).await,
        );
        fresh_ms.push(
            median_ms(5, |i| register_as(format!("f{round}x{i}"), format!("f{round}x{i}@e.test")))
                .await,
        );
    }
    taken_ms.sort_by(f64::total_cmp);
    fresh_ms.sort_by(f64::total_cmp);
    let (t, f) = (taken_ms[1], fresh_ms[1]);
    assert!(t.max(f) / t.min(f).max(0.05) < 3.0, "taken {t:.2} ms, fresh {f:.2} ms");

    // Reset requests: the same answer for an account and for nobody, in the same time class.
    // Each request comes from its own address, so the per-address throttle stays out of it.
    let reset = |identifier: String, i: usize| {
        let client =
            crate::accounts::client_from(&format!("127.0.{}.{}", 1 + i / 200, 1 + i % 200));
        let url = app.url("/api/v1/auth/password-reset");
        async move {
            let r = client.post(url).json(&json!({ "identifier": identifier })).send().await;
            r.unwrap()
        }
    };
    let known = reset("zoe".to_owned(), 0).await;
    let unknown = reset("nobody-here".to_owned(), 1).await;
    assert_eq!((known.status().as_u16(), unknown.status().as_u16()), (202, 202));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    // Medians over alternating runs: the answer waits only for the throttle check, which is
    // the same work for both (the mail step runs after it). The known identifiers rotate over
    // four throttle keys (each has ten free requests), the unknown ones are all different.
    let known_ids = ["zoe", "zoe@example.test", "zack", "zack@example.test"];
    let mut known_ms = Vec::new();
    let mut unknown_ms = Vec::new();
    for round in 0..3 {
        known_ms.push(
            median_ms(7, |i| {
                let r = reset(known_ids[(round * 7 + i) % 4].to_owned(), 10 + round * 20 + i);
                async move { assert_eq!(r.await.status().as_u16(), 202) }
            })
            .await,
        );
        unknown_ms.push(
            median_ms(7, |i| {
                let r = reset(format!("ghost{round}x{i}"), 100 + round * 20 + i);
                async move { assert_eq!(r.await.status().as_u16(), 202) }
            })
            .await,
        );
    }
    known_ms.sort_by(f64::total_cmp);
    unknown_ms.sort_by(f64::total_cmp);
    let (k, u) = (known_ms[1], unknown_ms[1]);
    assert!(k.max(u) / k.min(u).max(0.05) < 3.0, "known {k:.2} ms, unknown {u:.2} ms");
}

async fn a_reset_through_the_mailed_link_sets_the_password_and_ends_every_session(
    backend: Backend,
) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "ada").await;
    let first = login(&app, "ada").await;
    let second = login(&app, "ada").await;
    let response =
        post(&app, "/api/v1/auth/password-reset", json!({"identifier": "ADA@example.test"}));
    assert_eq!(response.await.status().as_u16(), 202);
    let messages = sink.wait_for(2, WAIT).await;
    let (token, page, reset_mail) = link_to_page(&messages, "/account/reset-password");
    assert_eq!(page, app.url("/account/reset-password"));
    assert!(reset_mail.text.contains("30 minutes"), "{}", reset_mail.text);
    let weak = json!({"token": token, "new_password": "short"});
    let response = post(&app, "/api/v1/auth/password-reset/complete", weak).await;
    crate::accounts::assert_field_error(response, "new_password", "password_too_short").await;
    let body = json!({"token": token, "new_password": NEW_PASSWORD});
    let response = post(&app, "/api/v1/auth/password-reset/complete", body.clone()).await;
    assert_eq!(response.status().as_u16(), 204);
    for token in [&first, &second] {
        let me = crate::accounts::get_as(&app, "/api/v1/me", token).await;
        assert_eq!(me.status().as_u16(), 401, "a session survived the reset");
    }
    assert_error(login_request(&app, "ada", PASSWORD).await, 401, "invalid_credentials").await;
    assert_eq!(login_request(&app, "ada", NEW_PASSWORD).await.status().as_u16(), 200);
    let response = post(&app, "/api/v1/auth/password-reset/complete", body).await;
    assert_error(response, 400, "invalid_token").await;
    let messages = sink.wait_for(3, WAIT).await;
    let notice = messages
        .iter()
        .find(|m| !m.text.contains("#token=") && m.subject.to_lowercase().contains("password"))
        .expect("a notice of the new password");
    assert!(notice.text.contains("127.0.0.1"), "the notice names the client address");
    assert!(verified_at(&app, "ada").is_some(), "the link reached the address");
}

async fn a_reset_of_an_account_with_a_second_factor_needs_the_factor(backend: Backend) {
    let sink = MailServer::start();
    let (clock, overrides) = manual_clock();
    let app = app_mailing_to(backend, &sink, overrides, &[]).await;
    register(&app, "bea").await;
    let token = login(&app, "bea").await;
    let enrolled = enroll_totp(&app, &token).await;
    post(&app, "/api/v1/auth/password-reset", json!({"identifier": "bea"})).await;
    let messages = sink.wait_for(3, WAIT).await;
    let reset_mail = messages.iter().find(|m| m.text.contains("#token=")).filter(|_| true);
    let reset_mail = messages.iter().rev().find(|m| m.text.contains("#token=")).or(reset_mail);
    let (token, _) = link(reset_mail.unwrap());
    let without = json!({"token": token, "new_password": NEW_PASSWORD});
    let response = post(&app, "/api/v1/auth/password-reset/complete", without).await;
    let body =
        crate::accounts::assert_field_error(response, "code", "second_factor_required").await;
    assert_eq!(body["error"], "validation_failed");
    let wrong = json!({"token": token, "new_password": NEW_PASSWORD, "code": "000000"});
    let response = post(&app, "/api/v1/auth/password-reset/complete", wrong).await;
    crate::accounts::assert_field_error(response, "code", "incorrect").await;
    assert_eq!(login_request(&app, "bea", PASSWORD).await.status().as_u16(), 200);
    clock.advance(Duration::from_secs(30));
    let code = totp_code(&app, &enrolled.secret);
    let right = json!({"token": token, "new_password": NEW_PASSWORD, "code": code});
    let response = post(&app, "/api/v1/auth/password-reset/complete", right).await;
    assert_eq!(response.status().as_u16(), 204);
    // The factor is still there: the new password alone does not sign in.
    let response = login_request(&app, "bea", NEW_PASSWORD).await;
    assert_eq!(json(response).await["mfa_required"], true);
}

async fn a_new_address_needs_its_link_and_both_addresses_are_told(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "cid").await;
    let token = login(&app, "cid").await;
    let response = with_session(&app, Method::PUT, "/api/v1/me/email", &token)
        .json(&json!({"email": "cid@new.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let messages = sink.wait_for(3, WAIT).await;
    let old = to(&messages, "cid@example.test");
    assert!(old.last().unwrap().text.contains("cid@new.example"), "the old address is told");
    let me = json(crate::accounts::get_as(&app, "/api/v1/me", &token).await).await;
    assert_eq!(me["user"]["email"], "cid@example.test", "nothing changes before the link");
    let (link_token, _) = link(&to(&messages, "cid@new.example")[0]);
    let response = verify(&app, &link_token).await;
    assert_eq!(json(response).await["status"], "email_changed");
    let me = json(crate::accounts::get_as(&app, "/api/v1/me", &token).await).await;
    assert_eq!(me["user"]["email"], "cid@new.example");
    let messages = sink.wait_for(4, WAIT).await;
    assert_eq!(to(&messages, "cid@example.test").len(), 3, "verification, request, change");
}

async fn an_administrator_resets_a_lost_second_factor_and_the_owner_is_told(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    let (_, admin) = crate::accounts::admin(&app, "root").await;
    register(&app, "dan").await;
    let dan = user_id(&app, "dan");
    let dan_token = login(&app, "dan").await;
    let enrolled = enroll_totp(&app, &dan_token).await;
    let path = format!("/api/v1/admin/users/{dan}/reset-mfa");
    let response = with_session(&app, Method::POST, &path, &admin).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await["sessions_ended"], 1);
    let me = crate::accounts::get_as(&app, "/api/v1/me", &enrolled.token).await;
    assert_eq!(me.status().as_u16(), 401);
    let response = login_request(&app, "dan", PASSWORD).await;
    assert!(session_token(&response).is_some(), "the password alone signs in again");
    let response = with_session(&app, Method::POST, &path, &admin).send().await.unwrap();
    assert_error(response, 409, "mfa_not_enabled").await;
    let messages = sink.wait_for(1, WAIT).await;
    let dan_mail = loop {
        let mails = to(&sink.messages(), "dan@");
        if mails.len() >= 3 {
            break mails;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!messages.is_empty());
    assert!(
        dan_mail.iter().any(|m| m.text.contains("administrator")),
        "no notice of the removal: {dan_mail:?}"
    );
    let records = crate::accounts::audit_records(&app);
    let reset = records.iter().find(|r| r["event"] == "SecondFactorReset").expect("audited");
    assert_eq!(reset["subject"]["user"], dan.as_str());
    assert!(reset["actor"]["user"].is_string(), "the administrator is the actor: {reset}");
}

async fn mail_waits_out_an_smtp_outage_and_arrives_once(backend: Backend) {
    let mut sink = MailServer::start();
    sink.stop();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "eve").await;
    // Wait until the outbox has tried at least twice.
    let deadline = Instant::now() + WAIT;
    loop {
        let attempts: i64 = app
            .db
            .run_blocking(|conn| {
                use diesel::prelude::*;
                use server::db::schema::mail_outbox;
                Ok(mail_outbox::table.select(mail_outbox::attempts).first::<i64>(conn)?)
            })
            .unwrap();
        if attempts >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox did not retry");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sink.restart();
    let messages = sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 1, "sent once: {messages:?}");
    let (waiting, failed) = app.db.run_blocking(server::db::outbox::counts).unwrap();
    assert_eq!((waiting, failed), (0, 0), "the sent row is gone");
}

async fn two_replicas_send_each_message_once(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    let mut vars: Vec<(&str, String)> = sink.settings_vars();
    vars.push(("APP__MAIL__OUTBOX_POLL_MS", "50".to_owned()));
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let other = app.sibling_with_env(AuthOverrides::default(), &borrowed).await;
    let n = 12;
    for i in 0..n {
        let address = if i % 2 == 0 {
            app.url("/api/v1/auth/register")
        } else {
            other.url("/api/v1/auth/register")
        };
        let body = json!({"username": format!("rep{i}"), "email": format!("rep{i}@example.test"), "password": PASSWORD});
        let response = app.client.post(address).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202);
    }
    sink.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = sink.messages();
    let mut ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((messages.len(), ids.len()), (n, n), "each message once");
    other.handle.stop(true).await;
}

async fn what_a_user_typed_is_escaped_in_the_mail(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "fay").await;
    let token = login(&app, "fay").await;
    // An address may hold `&`, `'`, `{`, `}` and `/`: the notice to the old address shows it.
    let hostile = "o'hara&<x>@example.test";
    let response = with_session(&app, Method::PUT, "/api/v1/me/email", &token)
        .json(&json!({ "email": hostile }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422, "`<` is not in an address");
    let typed = "o'hara&co{x}/y@example.test";
    let response = with_session(&app, Method::PUT, "/api/v1/me/email", &token)
        .json(&json!({ "email": typed }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let messages = sink.wait_for(3, WAIT).await;
    let notice = to(&messages, "fay@example.test").pop().unwrap();
    assert!(notice.text.contains(typed), "{}", notice.text);
    assert!(!notice.html.contains("hara&co"), "unescaped in HTML: {}", notice.html);
    assert!(notice.html.contains("o&#39;hara&#38;co{x}/y@"), "{}", notice.html);
}

async fn no_token_reaches_a_log(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "gil").await;
    post(&app, "/api/v1/auth/password-reset", json!({"identifier": "gil"})).await;
    let messages = sink.wait_for(2, WAIT).await;
    let (verify_token, _, _) = link_to_page(&messages, "/account/verify-email");
    let (reset_token, _, _) = link_to_page(&messages, "/account/reset-password");
    verify(&app, &verify_token).await;
    verify(&app, &verify_token).await;
    let body = json!({"token": reset_token, "new_password": NEW_PASSWORD});
    post(&app, "/api/v1/auth/password-reset/complete", body).await;
    // Let the worker log the notice's delivery too.
    sink.wait_for(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leaks = sec_audit::find_leaks(app.log_dir.path(), &[&verify_token, &reset_token]).unwrap();
    assert!(leaks.is_empty(), "{leaks:?}");
    let captured = crate::audit::captured_text();
    assert!(!captured.contains(&verify_token) && !captured.contains(&reset_token));
}

async fn the_pages_of_the_links_post_the_token_and_redirect(backend: Backend) {
    let sink = MailServer::start();
    let app = app_mailing_to(backend, &sink, AuthOverrides::default(), &[]).await;
    register(&app, "hal").await;
    post(&app, "/api/v1/auth/password-reset", json!({"identifier": "hal"})).await;
    let messages = sink.wait_for(2, WAIT).await;
    let (verify_token, verify_page, _) = link_to_page(&messages, "/account/verify-email");
    let (reset_token, reset_page, _) = link_to_page(&messages, "/account/reset-password");

    // The pages hold no token (it stays in the fragment) and load only their own script.
    let mut script = String::new();
    for page in [&verify_page, &reset_page] {
        let response = app.client.get(page).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        // What would carry the page's URL elsewhere is off (and the token is not in it).
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        let body = response.text().await.unwrap();
        let start = body.find("<script src=\"").expect("the link script") + 13;
        script = body[start..].split('"').next().unwrap().to_owned();
        assert!(script.starts_with("/static/link-token.") && script.ends_with(".js"), "{script}");
        assert!(body.contains(&format!("<script src=\"{script}\" defer></script>")));
        assert!(!body.contains("<script>") && !body.contains("style="), "inline script or style");
    }
    let served = app.get(&script).await;
    assert!(served.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));

    // The forms are bound to the browser's form cookie like every form used without a session.
    let browser = crate::browser::Browser::new(&app);
    let verify = "/account/verify-email";
    let wrong = browser.submit(verify, verify, &[("token", &"A".repeat(43))]).await;
    assert_eq!(wrong.status().as_u16(), 200, "the form again");
    assert!(wrong.text().await.unwrap().contains("wrong, has expired or was used"));
    let unbound = browser.post(verify, &[("token", verify_token.as_str())]).await;
    assert_eq!(unbound.status().as_u16(), 403, "no form token");
    let done = browser.submit(verify, verify, &[("token", &verify_token)]).await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(done.headers()["location"], "/account/email-verified");
    assert_eq!(app.get("/account/email-verified").await.status().as_u16(), 200);

    let reset = "/account/reset-password";
    let weak = [("token", reset_token.as_str()), ("new_password", "short"), ("code", "")];
    let refused = browser.submit(reset, reset, &weak).await;
    assert_eq!(refused.status().as_u16(), 200, "the form again");
    let body = refused.text().await.unwrap();
    assert!(body.contains("at least 15 characters") && !body.contains(r#"value="short""#));
    assert!(body.contains(&format!(r#"value="{reset_token}""#)), "the code is kept");
    let right = [("token", reset_token.as_str()), ("new_password", NEW_PASSWORD), ("code", "")];
    let done = browser.submit(reset, reset, &right).await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(done.headers()["location"], "/account/password-reset");
    assert_eq!(login_request(&app, "hal", NEW_PASSWORD).await.status().as_u16(), 200);
}
