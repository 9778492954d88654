//! The pages a browser uses: sign-up, sign-in and its second factor, the confirmation
//! (step-up) page, the second factor's page, administration, and what a navigation gets when it
//! fails. Attacks first: login CSRF, forged flash messages, open redirects through `next`, a
//! page form as the way around its API twin's rate limit; then the flows.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use server::http::cookies::{FLASH_COOKIE, FORM_COOKIE, MFA_COOKIE, SESSION_COOKIE};
use server::routes::{Access, endpoints};

use crate::accounts::{PASSWORD, admin_enrolled, manual_clock, register, totp_code, user_id};
use crate::browser::{Browser, location, token_in};
use crate::helpers::{
    Backend, TestApp, assert_error, bare_client, cases, spawn_app, spawn_app_with_env,
    spawn_app_with_overrides,
};

cases![
    a_public_form_without_the_token_of_its_own_cookie_is_refused_and_signs_no_one_in,
    every_public_form_of_the_table_demands_its_form_token,
    the_form_cookie_is_host_only_http_only_strict_and_short_lived,
    a_cross_site_post_carrying_the_form_cookie_is_refused_before_the_form,
    a_forged_flash_message_shows_nothing,
    next_returns_only_to_the_accounts_own_pages,
    page_forms_share_the_authentication_rate_limit_of_their_api_twins,
    a_refused_sign_up_keeps_what_was_typed_escaped_and_never_the_password,
    a_failed_sign_in_says_the_same_for_an_unknown_account_and_a_wrong_password,
    sign_up_then_sign_in_by_the_pages_gives_a_session,
    a_second_factor_is_asked_before_any_session_exists,
    a_navigation_without_a_session_goes_to_sign_in_and_comes_back,
    a_failed_navigation_is_a_page_with_the_code_and_the_request_id,
    a_stale_session_confirms_before_a_sensitive_form_and_returns,
    enrollment_by_the_pages_shows_the_secret_once_and_then_the_recovery_codes,
    the_admin_page_refuses_a_plain_user_and_lets_an_administrator_disable_an_account,
    every_page_is_self_contained_labelled_and_autocompletes_correctly,
    the_stylesheet_is_content_addressed_and_cached_for_a_year,
];

/// The password the flows sign up with.
const STRONG: &str = "seven otters paddle past the lighthouse";

/// Signs `username` up through the page; the account exists afterwards.
async fn sign_up(browser: &Browser<'_>, username: &str) {
    let email = format!("{username}@example.test");
    let fields = [("username", username), ("email", email.as_str()), ("password", STRONG)];
    let response = browser.submit("/signup", "/signup", &fields).await;
    assert_eq!(location(&response), "/login");
}

/// Signs in through the page; returns where the browser was sent.
async fn sign_in(browser: &Browser<'_>, identifier: &str, password: &str) -> String {
    let fields = [("identifier", identifier), ("password", password)];
    let response = browser.submit("/login", "/login", &fields).await;
    location(&response).to_owned()
}

async fn a_public_form_without_the_token_of_its_own_cookie_is_refused_and_signs_no_one_in(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    register(&app, "attacker").await;
    let victim = Browser::new(&app);
    let other = Browser::new(&app);
    let theirs = token_in(&other.page("/login").await);
    victim.page("/login").await;
    let creds = [("identifier", "attacker"), ("password", PASSWORD)];
    // Login CSRF: a post without the victim's token, with another browser's token, with the
    // token but no cookie, or with two tokens, never signs the victim in.
    let mut cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no token", creds.to_vec()),
        ("another browser's token", [&[("csrf_token", theirs.as_str())][..], &creds].concat()),
        (
            "a repeated token",
            [&[("csrf_token", theirs.as_str()), ("csrf_token", theirs.as_str())][..], &creds]
                .concat(),
        ),
    ];
    let forged = "A".repeat(43);
    cases.push(("an invented token", [&[("csrf_token", forged.as_str())][..], &creds].concat()));
    for (what, fields) in cases {
        let response = victim.post("/login", &fields).await;
        assert_eq!(response.status().as_u16(), 403, "{what}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{what}: no cookie set");
        let page = response.text().await.unwrap();
        assert!(page.contains("form_token_invalid"), "{what}: {page}");
        assert_eq!(victim.cookie(SESSION_COOKIE), None, "{what}");
    }
    // The victim's own token without the cookie it is bound to (a cross-site post arrives
    // without the SameSite=Strict cookie): refused too.
    let own = token_in(&victim.page("/login").await);
    victim.put_cookie(FORM_COOKIE, None);
    let fields = [&[("csrf_token", own.as_str())][..], &creds].concat();
    assert_eq!(victim.post("/login", &fields).await.status().as_u16(), 403);
    assert_eq!(victim.cookie(SESSION_COOKIE), None);
    // The page sets the cookie again, and then the same form signs in.
    assert_eq!(sign_in(&victim, "attacker", PASSWORD).await, "/account");
    assert!(victim.cookie(SESSION_COOKIE).is_some());
}

/// The route walk for forms used without a session: every public (or pending-second-factor)
/// POST of the table that is not an API route refuses a form without its token with 403
/// `form_token_invalid`, whatever the other fields.
async fn every_public_form_of_the_table_demands_its_form_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let forms: Vec<_> = endpoints()
        .into_iter()
        .filter(|e| e.method.as_str() == "POST" && !e.path.starts_with("/api/"))
        .filter(|e| matches!(e.access, Access::Public | Access::MfaPending))
        .filter(|e| e.path != "/csp-report")
        .collect();
    assert!(forms.len() >= 7, "{forms:?}");
    for e in forms {
        let browser = Browser::new(&app);
        browser.page("/login").await;
        // A pending second factor, for the route that needs one.
        browser.put_cookie(MFA_COOKIE, Some(&"m".repeat(43)));
        let response = browser.post(e.path, &[("identifier", "x")]).await;
        assert_eq!(response.status().as_u16(), 403, "POST {}", e.path);
        assert!(response.text().await.unwrap().contains("form_token_invalid"), "{}", e.path);
    }
}

async fn the_form_cookie_is_host_only_http_only_strict_and_short_lived(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/signup", "/login", "/forgot-password", "/account/verify-email"] {
        let response = app.get(path).await;
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.starts_with(&format!("{FORM_COOKIE}=")), "{path}: {cookie}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=3600"] {
            assert!(cookie.contains(attribute), "{path}: {attribute} in {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        let html = response.text().await.unwrap();
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        assert!(!html.contains(value), "{path}: the cookie's value is not in the page");
        assert_eq!(
            token_in(&html),
            sec_auth::SessionToken::parse(value).unwrap().form_token(),
            "{path}: the form token is the MAC of the cookie"
        );
    }
}

async fn a_cross_site_post_carrying_the_form_cookie_is_refused_before_the_form(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "attacker").await;
    let response = app.get("/login").await;
    let cookie =
        response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let token = token_in(&response.text().await.unwrap());
    let body =
        format!("csrf_token={token}&identifier=attacker&password={}", PASSWORD.replace(' ', "+"));
    let response = bare_client()
        .post(app.url("/login"))
        .header("cookie", cookie)
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "cross_site_request").await;
}

async fn a_forged_flash_message_shows_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    for forged in ["<script>alert(1)</script>", "Your%20account%20is%20locked", "signed_up2", ""] {
        browser.put_cookie(FLASH_COOKIE, Some(forged));
        let html = browser.page("/login").await;
        assert!(!html.contains("class=\"flash\""), "{forged:?}: {html}");
        assert!(!html.contains("alert(1)") && !html.contains("locked"), "{forged:?}");
    }
    // The server's own name shows its own text, once: the page deletes the cookie.
    browser.put_cookie(FLASH_COOKIE, Some("signed_up"));
    let html = browser.page("/login").await;
    assert!(html.contains("<div class=\"flash\" role=\"status\">Thank you."), "{html}");
    assert_eq!(browser.cookie(FLASH_COOKIE), None, "deleted by the page that showed it");
    assert!(!browser.page("/login").await.contains("class=\"flash\""));
}

async fn next_returns_only_to_the_accounts_own_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "walker").await;
    for (next, expected) in [
        ("/account/mfa", "/account/mfa"),
        ("/admin/users", "/admin/users"),
        ("https://evil.example/", "/account"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("/api/v1/me", "/account"),
        ("/account/mfa?x=1", "/account"),
        ("javascript:alert(1)", "/account"),
    ] {
        let browser = Browser::new(&app);
        let page = browser.page(&format!("/login?next={}", next.replace('?', "%3F"))).await;
        let token = token_in(&page);
        let fields = [
            ("csrf_token", token.as_str()),
            ("identifier", "walker"),
            ("password", PASSWORD),
            ("next", next),
        ];
        let response = browser.post("/login", &fields).await;
        assert_eq!(location(&response), expected, "next={next}");
    }
}

async fn page_forms_share_the_authentication_rate_limit_of_their_api_twins(backend: Backend) {
    let app = spawn_app_with_env(
        backend,
        Default::default(),
        &[("APP__RATE_LIMIT__AUTH_BURST", "3"), ("APP__RATE_LIMIT__AUTH_PER_MINUTE", "1")],
    )
    .await;
    let browser = Browser::new(&app);
    // Showing the forms is free.
    for _ in 0..5 {
        browser.page("/login").await;
    }
    let token = token_in(&browser.page("/login").await);
    let fields = [("csrf_token", token.as_str()), ("identifier", "nobody"), ("password", "x")];
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"identifier": "nobody", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    assert_eq!(browser.post("/login", &fields).await.status().as_u16(), 200, "the third");
    let fourth = browser.post("/signup", &fields).await;
    assert_eq!(fourth.status().as_u16(), 429, "one bucket for the API and the pages");
    assert!(fourth.headers().contains_key("retry-after"));
    for path in server::http::rate_limit::AUTH_FORM_PATHS {
        assert!(
            endpoints().iter().any(|e| e.path == *path && e.method.as_str() == "POST"),
            "{path} is a form of the table"
        );
    }
}

async fn a_refused_sign_up_keeps_what_was_typed_escaped_and_never_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let hostile = "\"><script>alert(1)</script>";
    let weak = "password1234";
    let fields = [("username", hostile), ("email", "o'hara&co@example.test"), ("password", weak)];
    let response = browser.submit("/signup", "/signup", &fields).await;
    assert_eq!(response.status().as_u16(), 200, "the form again");
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains(weak), "{html}");
    assert!(
        html.contains("value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""),
        "{html}"
    );
    assert!(html.contains("value=\"o&#39;hara&#38;co@example.test\""), "{html}");
    // Each reason sits next to its field, which points at it.
    assert!(html.contains("<p class=\"field-error\" id=\"username-error\">"), "{html}");
    assert!(html.contains("<p class=\"field-error\" id=\"password-error\">"), "{html}");
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"password-error\""), "{html}");
    assert_eq!(user_count(&app), 0, "no account was made");
}

async fn a_failed_sign_in_says_the_same_for_an_unknown_account_and_a_wrong_password(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    register(&app, "known").await;
    let reason = |html: &str| {
        let start = html.find("<p class=\"form-error\"").expect("a reason");
        html[start..].split("</p>").next().unwrap().to_owned()
    };
    let browser = Browser::new(&app);
    let fields = [("identifier", "known"), ("password", "not-the-password-at-all")];
    let wrong = browser.submit("/login", "/login", &fields).await;
    assert_eq!(wrong.status().as_u16(), 200);
    let wrong = wrong.text().await.unwrap();
    let fields = [("identifier", "unknown"), ("password", "not-the-password-at-all")];
    let unknown = browser.submit("/login", "/login", &fields).await.text().await.unwrap();
    assert_eq!(reason(&wrong), reason(&unknown));
    assert!(!wrong.contains("not-the-password"), "the password is never shown back");
    assert!(wrong.contains("value=\"known\""), "the identifier is kept");
}

async fn sign_up_then_sign_in_by_the_pages_gives_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    sign_up(&browser, "newcomer").await;
    let html = browser.page("/login").await;
    assert!(html.contains("class=\"flash\""), "the sign-up's message survives the redirect");
    assert_eq!(sign_in(&browser, "newcomer", STRONG).await, "/account");
    let account = browser.page("/account").await;
    assert!(account.contains("<dd id=\"account-username\">newcomer</dd>"), "{account}");
    assert!(account.contains("<tr class=\"current\">"), "{account}");
    // Sign out by the page's form: the session ends.
    let response = browser.submit("/account", "/account/sign-out", &[]).await;
    assert_eq!(location(&response), "/account/signed-out");
    assert_eq!(browser.cookie(SESSION_COOKIE), None);
    assert_eq!(location(&browser.navigate("/account").await), "/login");
    let audit = crate::accounts::audit_records(&app);
    for event in ["AccountCreated", "LoginSucceeded", "Logout"] {
        assert!(audit.iter().any(|r| r["event"] == event), "{event} audited");
    }
}

async fn a_second_factor_is_asked_before_any_session_exists(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, admin) = admin_enrolled(&app, "guarded").await;
    clock.advance(Duration::from_secs(30));
    let browser = Browser::new(&app);
    assert_eq!(sign_in(&browser, "guarded", PASSWORD).await, "/login/mfa");
    assert_eq!(browser.cookie(SESSION_COOKIE), None, "no session before the second factor");
    assert!(browser.cookie(MFA_COOKIE).is_some());
    // The pending step opens nothing else.
    assert_eq!(location(&browser.navigate("/account").await), "/login");
    let html = browser.page("/login/mfa").await;
    assert!(html.contains("autocomplete=\"one-time-code\""), "{html}");
    let wrong = browser.submit("/login/mfa", "/login/mfa", &[("code", "000000")]).await;
    assert_eq!(wrong.status().as_u16(), 200, "the form again");
    assert_eq!(browser.cookie(SESSION_COOKIE), None);
    let code = totp_code(&app, &admin.secret);
    let right = browser.submit("/login/mfa", "/login/mfa", &[("code", code.as_str())]).await;
    assert_eq!(location(&right), "/account");
    assert!(browser.cookie(SESSION_COOKIE).is_some());
    assert_eq!(browser.cookie(MFA_COOKIE), None, "the pending cookie is deleted");
    // The same code again (a replay, in a new sign-in) is refused.
    let again = Browser::new(&app);
    assert_eq!(sign_in(&again, "guarded", PASSWORD).await, "/login/mfa");
    let replay = again.submit("/login/mfa", "/login/mfa", &[("code", code.as_str())]).await;
    assert_eq!(replay.status().as_u16(), 200);
    assert_eq!(again.cookie(SESSION_COOKIE), None);
    // Without a pending step, the second page sends the browser back to the first.
    let stranger = Browser::new(&app);
    assert_eq!(location(&stranger.navigate("/login/mfa").await), "/login");
}

async fn a_navigation_without_a_session_goes_to_sign_in_and_comes_back(backend: Backend) {
    let app = spawn_app(backend).await;
    register(&app, "returner").await;
    let browser = Browser::new(&app);
    let response = browser.navigate("/account/mfa").await;
    assert_eq!(location(&response), "/login?next=%2Faccount%2Fmfa");
    let html = browser.page("/login?next=%2Faccount%2Fmfa").await;
    assert!(html.contains("<input type=\"hidden\" name=\"next\" value=\"/account/mfa\">"));
    let token = token_in(&html);
    let fields = [
        ("csrf_token", token.as_str()),
        ("identifier", "returner"),
        ("password", PASSWORD),
        ("next", "/account/mfa"),
    ];
    assert_eq!(location(&browser.post("/login", &fields).await), "/account/mfa");
    // A script (no navigation) still gets the API's JSON answer.
    assert_error(app.get("/account/mfa").await, 401, "unauthorized").await;
}

async fn a_failed_navigation_is_a_page_with_the_code_and_the_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = Browser::new(&app);
    let response = browser.navigate("/no/such/page").await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'self'"), "the page policy: {csp}");
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains("<code>not_found</code>") && html.contains(&id), "{html}");
    // The same for a refusal of an outer layer: 405 keeps its `Allow`.
    let response = browser.post("/healthz", &[]).await;
    assert_eq!(response.status().as_u16(), 405);
    assert!(response.headers().contains_key("allow"));
    assert!(response.text().await.unwrap().contains("method_not_allowed"));
}

async fn a_stale_session_confirms_before_a_sensitive_form_and_returns(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "stale").await;
    let browser = Browser::new(&app);
    assert_eq!(sign_in(&browser, "stale", PASSWORD).await, "/account");
    let token = token_in(&browser.page("/account").await);
    // Past the re-authentication window (ten minutes), within the idle timeout.
    clock.advance(Duration::from_secs(700));
    let fields =
        [("csrf_token", token.as_str()), ("current_password", PASSWORD), ("new_password", STRONG)];
    let response = browser.post("/account/password", &fields).await;
    assert_eq!(location(&response), "/account/confirm");
    let html = browser.page("/account/confirm").await;
    assert!(html.contains("autocomplete=\"current-password\""), "{html}");
    let wrong =
        browser.submit("/account/confirm", "/account/confirm", &[("password", "nope")]).await;
    assert_eq!(wrong.status().as_u16(), 200, "the form again");
    let right =
        browser.submit("/account/confirm", "/account/confirm", &[("password", PASSWORD)]).await;
    assert_eq!(location(&right), "/account");
    // Now the same form goes through (with the new session's token).
    let changed = browser
        .submit(
            "/account",
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", STRONG)],
        )
        .await;
    assert_eq!(location(&changed), "/account");
    assert!(browser.page("/account").await.contains("Your password is changed"));
}

async fn enrollment_by_the_pages_shows_the_secret_once_and_then_the_recovery_codes(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "enroller").await;
    let browser = Browser::new(&app);
    sign_in(&browser, "enroller", PASSWORD).await;
    let html = browser.page("/account/mfa").await;
    assert!(html.contains("id=\"mfa-begin\""), "{html}");
    let response = browser.submit("/account/mfa", "/account/mfa/totp", &[]).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store", "a secret is never cached");
    let html = response.text().await.unwrap();
    assert!(html.contains("<svg id=\"totp-qr\" role=\"img\""), "{html}");
    let marker = "id=\"totp-secret\" class=\"secret\">";
    let start = html.find(marker).unwrap() + marker.len();
    let secret: String =
        html[start..].split('<').next().unwrap().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(secret.len() >= 32, "{secret}");
    let token = token_in(&html);
    let confirm = |code: String| {
        let token = token.clone();
        let browser = &browser;
        async move {
            browser
                .post("/account/mfa/totp/confirm", &[("csrf_token", &token), ("code", &code)])
                .await
        }
    };
    let wrong = confirm("000000".to_owned()).await.text().await.unwrap();
    assert!(wrong.contains("That code is not right") && !wrong.contains("totp-secret"), "{wrong}");
    clock.advance(Duration::from_secs(30));
    let done = confirm(totp_code(&app, &secret)).await;
    assert_eq!(done.status().as_u16(), 200);
    let html = done.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10, "ten recovery codes: {html}");
    assert!(html.contains("<ul id=\"recovery-codes\""), "{html}");
    // Shown once: the status page lists none of them.
    let status = browser.page("/account/mfa").await;
    assert!(status.contains("Recovery codes left: <strong>10</strong>"), "{status}");
    assert!(!status.contains("<li><code>"));
}

async fn the_admin_page_refuses_a_plain_user_and_lets_an_administrator_disable_an_account(
    backend: Backend,
) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, admin) = admin_enrolled(&app, "boss").await;
    register(&app, "plain").await;
    let plain = Browser::new(&app);
    sign_in(&plain, "plain", PASSWORD).await;
    let refused = plain.navigate("/admin/users").await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().await.unwrap().contains("<code>forbidden</code>"));
    assert!(!plain.page("/account").await.contains("href=\"/admin/users\""), "no link to it");

    clock.advance(Duration::from_secs(30));
    let boss = Browser::new(&app);
    assert_eq!(sign_in(&boss, "boss", PASSWORD).await, "/login/mfa");
    let code = totp_code(&app, &admin.secret);
    let response = boss.submit("/login/mfa", "/login/mfa", &[("code", code.as_str())]).await;
    assert_eq!(location(&response), "/account");
    let html = boss.page("/admin/users").await;
    assert!(html.contains("<tr data-username=\"plain\">"), "{html}");
    let id = user_id(&app, "plain");
    let token = token_in(&html);
    let response =
        boss.post(&format!("/admin/users/{id}/disable"), &[("csrf_token", &token)]).await;
    assert_eq!(location(&response), "/admin/users");
    assert!(boss.page("/admin/users").await.contains("The account is disabled"));
    assert_eq!(location(&plain.navigate("/account").await), "/login", "signed out");
    let audit = crate::accounts::audit_records(&app);
    assert!(audit.iter().any(|r| r["event"] == "AccountLocked"), "audited");

    // Twenty accounts a page, oldest first, with links to the next and the previous page.
    for n in 0..20 {
        register(&app, &format!("member{n:02}")).await;
    }
    let first = boss.page("/admin/users").await;
    assert_eq!(first.matches("<tr data-username=").count(), 20, "{first}");
    assert!(first.contains("<a href=\"/admin/users?offset=20\" rel=\"next\">"), "{first}");
    assert!(!first.contains("rel=\"prev\""), "{first}");
    let second = boss.page("/admin/users?offset=20").await;
    assert_eq!(second.matches("<tr data-username=").count(), 2, "22 accounts in all: {second}");
    assert!(second.contains("<a href=\"/admin/users?offset=0\" rel=\"prev\">"), "{second}");
    assert!(!second.contains("rel=\"next\""), "{second}");
}

/// `<input …>` tags of a page, as written.
fn inputs(html: &str) -> Vec<&str> {
    html.match_indices("<input ").map(|(at, _)| html[at..].split('>').next().unwrap()).collect()
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    tag[start..].split('"').next()
}

/// What every page must be: the page policy, nothing inline or from elsewhere, a label for
/// every input, and the autocomplete values password managers and phones rely on.
fn assert_good_page(path: &str, html: &str) {
    for forbidden in ["<style", " style=", "<img", "http://", "https://", "<script>"] {
        assert!(!html.contains(forbidden), "{path}: {forbidden:?}");
    }
    for tag in html.match_indices("<script").map(|(at, _)| &html[at..at + 40]) {
        assert!(tag.starts_with("<script src=\"/static/link-token."), "{path}: {tag}");
    }
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/site."), "{path}");
    // An icon of our own, so that no browser asks for a `/favicon.ico` that is not there.
    assert!(html.contains("<link rel=\"icon\" href=\"/static/icon."), "{path}");
    assert!(html.contains("<html lang=\"en\">") && html.contains("<main id=\"main\">"), "{path}");
    let handler = html
        .split(" on")
        .skip(1)
        .any(|rest| rest.trim_start_matches(|c: char| c.is_ascii_alphabetic()).starts_with('='));
    assert!(!handler, "{path}: an inline event handler");
    for tag in inputs(html) {
        // Hidden fields, and the user name a password form shows password managers (not sent).
        if attribute(tag, "type") == Some("hidden") || tag.ends_with(" hidden readonly") {
            continue;
        }
        let id = attribute(tag, "id").unwrap_or_else(|| panic!("{path}: no id on {tag}"));
        assert!(html.contains(&format!("<label for=\"{id}\"")), "{path}: no label for {id}");
        let name = attribute(tag, "name").unwrap();
        let autocomplete = attribute(tag, "autocomplete");
        let expected = match name {
            "password" | "current_password" if path.starts_with("/signup") => "new-password",
            "password" | "current_password" => "current-password",
            "new_password" => "new-password",
            "identifier" | "username" => "username",
            "code" => "one-time-code",
            "email" => "email",
            "token" => "off",
            other => panic!("{path}: an input {other} the test does not know"),
        };
        assert_eq!(autocomplete, Some(expected), "{path}: {name}");
    }
}

async fn every_page_is_self_contained_labelled_and_autocompletes_correctly(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, admin) = admin_enrolled(&app, "chief").await;
    clock.advance(Duration::from_secs(30));
    let browser = Browser::new(&app);
    let mut pages: Vec<String> = Vec::new();
    for e in endpoints() {
        if e.method.as_str() != "GET" || e.path.starts_with("/api/") || e.path.contains('{') {
            continue;
        }
        if matches!(e.access, Access::Public) && !["/healthz", "/readyz"].contains(&e.path) {
            pages.push(e.path.to_owned());
        }
    }
    assert!(pages.len() >= 10, "{pages:?}");
    for path in &pages {
        let response = browser.navigate(path).await;
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        assert_good_page(path, &response.text().await.unwrap());
    }
    assert_eq!(sign_in(&browser, "chief", PASSWORD).await, "/login/mfa");
    assert_good_page("/login/mfa", &browser.page("/login/mfa").await);
    let code = totp_code(&app, &admin.secret);
    browser.submit("/login/mfa", "/login/mfa", &[("code", code.as_str())]).await;
    for path in ["/account", "/account/mfa", "/account/confirm", "/admin/users"] {
        assert_good_page(path, &browser.page(path).await);
    }
}

async fn the_stylesheet_is_content_addressed_and_cached_for_a_year(backend: Backend) {
    let app = spawn_app(backend).await;
    let html = app.get("/").await.text().await.unwrap();
    let start = html.find("href=\"/static/site.").unwrap() + 6;
    let url = html[start..].split('"').next().unwrap().to_owned();
    let response = app.get(&url).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    let css = response.text().await.unwrap();
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(css.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    assert_eq!(url, format!("/static/site.{hash}.css"), "the name is the content's hash");
    assert!(css.contains(":focus-visible"), "a visible focus ring");
    for other in ["/static/site.css", "/static/site.0000000000000000.css", "/static/../Cargo.toml"]
    {
        assert_eq!(app.get(other).await.status().as_u16(), 404, "{other}");
    }
}

/// How many accounts the database holds.
fn user_count(app: &TestApp) -> i64 {
    app.db.run_blocking(server::db::users::count).unwrap()
}
