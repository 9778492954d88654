//! The OpenAPI document: the served one is the checked-in `docs/openapi.json`, it documents
//! exactly the routes of `endpoints()`, and real responses of every operation have a documented
//! status and a body that validates against the documented schema.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use server::http::cookies::MFA_COOKIE;
use server::routes::{Access, endpoints};

use crate::accounts::{
    PASSWORD, login, make_admin, manual_clock, mfa_cookie, register, secret_of, send_as,
    session_token, signed_in, totp_code, with_session,
};
use crate::helpers::{
    Backend, TestApp, cases, spawn_app, spawn_app_configured, spawn_app_with_overrides,
};

cases![
    openapi_served_document_is_the_checked_in_one,
    openapi_documents_every_route_and_no_other,
    openapi_every_operation_answers_as_documented,
    openapi_every_operation_documents_the_refusals_of_the_outer_layers,
    openapi_every_operation_documents_the_rate_limit,
    openapi_schema_valid_requests_at_the_boundaries_are_served_as_documented,
    openapi_generated_bodies_of_every_operation_get_only_documented_answers,
];

const STALE: &str = "docs/openapi.json is stale: run `just openapi` and commit the result";

fn checked_in() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}. {STALE}"))
}

/// The served document, with its integer formats made checkable: JSON Schema validators treat
/// `format` as an annotation (and know no `int32`), so each `int32`/`int64` schema gets that
/// format's range as `minimum`/`maximum` too (narrowing any it declares).
async fn served(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let mut doc = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    bound_integer_formats(&mut doc);
    doc
}

fn bound_integer_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let range = match map.get("format").and_then(Value::as_str) {
                Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
                Some("int64") => Some((i64::MIN, i64::MAX)),
                _ => None,
            };
            if let Some((low, high)) = range {
                let min = map.get("minimum").and_then(Value::as_i64).map_or(low, |m| m.max(low));
                let max = map.get("maximum").and_then(Value::as_i64).map_or(high, |m| m.min(high));
                map.insert("minimum".into(), json!(min));
                map.insert("maximum".into(), json!(max));
            }
            map.values_mut().for_each(bound_integer_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integer_formats),
        _ => {}
    }
}

/// A validator for `schema`, a part of `doc` (its `#/components/...` refs resolve), that also
/// checks formats (`email`, `uuid`, `date-time`).
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the documented schema {schema} is invalid: {e}"))
}

async fn openapi_served_document_is_the_checked_in_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let cache = response.headers().get(CACHE_CONTROL).unwrap().to_str().unwrap().to_owned();
    assert!(cache.contains("public") && cache.contains("max-age="), "{cache}");
    let body = response.text().await.unwrap();
    assert!(body.trim_end() == checked_in().trim_end(), "{STALE}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
                .contains(&method.as_str())
            {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

async fn openapi_documents_every_route_and_no_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = served(&app).await;
    let documented = operations(&doc);
    let routes: BTreeSet<(String, String)> =
        endpoints().iter().map(|e| (e.method.as_str().to_owned(), e.path.to_owned())).collect();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(undocumented.is_empty(), "routes missing from the document: {undocumented:?}");
    assert!(phantom.is_empty(), "documented operations that are not routes: {phantom:?}");
    // Every operation that needs credentials names its cookie.
    for e in endpoints() {
        let op = &doc["paths"][e.path][e.method.as_str().to_lowercase()];
        let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
        let public = e.access == server::routes::Access::Public;
        assert_eq!(security == 0, public, "{} {}: security {}", e.method, e.path, op["security"]);
    }
}

/// Checks real responses against the document and remembers which operations were exercised.
struct Conformance {
    doc: Value,
    seen: BTreeSet<(String, String)>,
}

impl Conformance {
    /// Asserts that `response` (to `method path`, `path` as documented) has a documented status
    /// and a body valid against the documented schema (or none, when none is documented).
    /// Returns the body.
    async fn check(&mut self, method: &Method, path: &str, response: Response) -> Value {
        let what = format!("{method} {path}");
        let status = response.status().as_u16().to_string();
        let op = &self.doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{what} is not documented");
        let mut documented = &op["responses"][&status];
        // A shared answer: `{"$ref": "#/components/responses/Name"}`.
        if let Some(name) = documented["$ref"].as_str() {
            let name = name.strip_prefix("#/components/responses/").unwrap_or(name);
            documented = &self.doc["components"]["responses"][name];
            assert!(documented.is_object(), "{what} {status}: no response component {name}");
        }
        let retry_after = response.headers().get("retry-after").is_some();
        let content_type = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap());
        // The media type without parameters (`text/html; charset=utf-8` is `text/html`).
        let media = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim().to_owned());
        let text = response.text().await.unwrap();
        assert!(
            documented.is_object(),
            "{what} answered {status}, which is not documented: {text}"
        );
        self.seen.insert((method.as_str().to_owned(), path.to_owned()));
        if retry_after {
            assert!(
                documented["headers"]["Retry-After"].is_object(),
                "{what} {status}: sends Retry-After, which is not documented"
            );
        }
        // A page or a static file: documented with the media type it is served as.
        if let Some(media) = media.filter(|m| m != "application/json")
            && documented["content"][media.as_str()].is_object()
        {
            return Value::String(text);
        }
        let Some(schema) = documented["content"]["application/json"]["schema"].as_object() else {
            assert!(text.is_empty(), "{what} {status}: no body is documented, got {text}");
            return Value::Null;
        };
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what} {status}: body is not JSON ({e}): {text}"));
        // `#/components/schemas/...` refs resolve against the root of the schema, so the
        // document's components go there beside the response's own schema.
        let validator = validator(&self.doc, &Value::Object(schema.clone()));
        let errors: Vec<String> = validator.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{what} {status}: {body} does not match the document: {errors:?}"
        );
        body
    }
}

/// A concrete path for a pattern: parameters get well-formed values that match nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000").replace("{role}", "user")
}

fn request(app: &TestApp, method: &Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method.clone(), app.url(path)).header("origin", app.address.as_str())
}

async fn openapi_every_operation_answers_as_documented(backend: Backend) {
    // A manual clock: each TOTP code works once per time step.
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let mut c = Conformance { doc: served(&app).await, seen: BTreeSet::new() };
    let (_, user) = signed_in(&app, "plainuser").await;

    // Every route: anonymous, with no body (401 for protected ones, 415 for public JSON
    // bodies); a plain user (403 on admin routes; 400/415 for bodies); malformed JSON.
    for e in endpoints() {
        let m: Method = e.method.as_str().parse().unwrap();
        let path = concrete(e.path);
        let response = request(&app, &m, &path).send().await.unwrap();
        c.check(&m, e.path, response).await;
        let has_body = c.doc["paths"][e.path][m.as_str().to_lowercase()]["requestBody"].is_object();
        if has_body {
            let response = request(&app, &m, &path)
                .header(CONTENT_TYPE, "application/json")
                .body("{\"unclosed\": ")
                .send()
                .await
                .unwrap();
            c.check(&m, e.path, response).await;
            let response =
                request(&app, &m, &path).header(CONTENT_TYPE, "text/plain").body("hi").send().await;
            c.check(&m, e.path, response.unwrap()).await;
        }
        let sensitive = e.path.ends_with("/logout") || e.path == "/api/v1/me/sessions";
        if e.path.starts_with("/api/v1/admin/") || (has_body && !sensitive) {
            let mut as_user =
                with_session(&app, m.clone(), &path, &user).header("origin", app.address.as_str());
            if has_body {
                as_user = as_user.header(CONTENT_TYPE, "application/json").body("[1,");
            }
            c.check(&m, e.path, as_user.send().await.unwrap()).await;
        }
    }

    // Success paths and documented refusals, one route at a time.
    let post = Method::POST;
    let get = Method::GET;
    let put = Method::PUT;
    let delete = Method::DELETE;
    for path in ["/healthz", "/readyz"] {
        c.check(&get, path, app.get(path).await).await;
    }
    let weak = json!({ "username": "weakling", "email": "weak@example.test", "password": "x" });
    let response = request(&app, &post, "/api/v1/auth/register").json(&weak).send().await;
    let body = c.check(&post, "/api/v1/auth/register", response.unwrap()).await;
    assert_eq!(body["error"], "validation_failed");
    let fresh = json!({ "username": "fresh", "email": "fresh@example.test", "password": PASSWORD });
    let response = request(&app, &post, "/api/v1/auth/register").json(&fresh).send().await;
    let body = c.check(&post, "/api/v1/auth/register", response.unwrap()).await;
    assert_eq!(body["status"], "accepted");
    let fresh_id = crate::accounts::user_id(&app, "fresh");
    let wrong = json!({ "identifier": "fresh", "password": "not-the-password-at-all" });
    let response = request(&app, &post, "/api/v1/auth/login").json(&wrong).send().await;
    c.check(&post, "/api/v1/auth/login", response.unwrap()).await;
    let right = json!({ "identifier": "fresh", "password": PASSWORD });
    let response = request(&app, &post, "/api/v1/auth/login").json(&right).send().await.unwrap();
    let mut token = session_token(&response).unwrap();
    c.check(&post, "/api/v1/auth/login", response).await;

    for path in ["/api/v1/me", "/api/v1/me/sessions", "/api/v1/me/mfa"] {
        c.check(&get, path, with_session(&app, get.clone(), path, &token).send().await.unwrap())
            .await;
    }
    let response = send_as(&app, post.clone(), "/api/v1/auth/reauth", &token)
        .json(&json!({ "password": "wrong-password-for-sure" }))
        .send()
        .await;
    c.check(&post, "/api/v1/auth/reauth", response.unwrap()).await;
    let response = send_as(&app, post.clone(), "/api/v1/auth/reauth", &token)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    token = session_token(&response).unwrap();
    c.check(&post, "/api/v1/auth/reauth", response).await;
    let response = send_as(&app, post.clone(), "/api/v1/me/mfa/recovery-codes", &token).send();
    c.check(&post, "/api/v1/me/mfa/recovery-codes", response.await.unwrap()).await;
    let response = send_as(&app, delete.clone(), "/api/v1/me/mfa/totp", &token)
        .json(&json!({ "code": "123456" }))
        .send()
        .await;
    c.check(&delete, "/api/v1/me/mfa/totp", response.unwrap()).await;
    let response = send_as(&app, put.clone(), "/api/v1/me/password", &token)
        .json(&json!({ "current_password": "wrong-password-for-sure", "new_password": "x" }))
        .send()
        .await;
    c.check(&put, "/api/v1/me/password", response.unwrap()).await;
    let new_password = "another-long-passphrase-with-7-otters";
    let response = send_as(&app, put.clone(), "/api/v1/me/password", &token)
        .json(&json!({ "current_password": PASSWORD, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    token = session_token(&response).unwrap();
    c.check(&put, "/api/v1/me/password", response).await;

    // TOTP enrollment, its confirmation, and a login with both factors.
    let response = send_as(&app, post.clone(), "/api/v1/me/mfa/totp/confirm", &token)
        .json(&json!({ "code": "123456" }))
        .send()
        .await;
    c.check(&post, "/api/v1/me/mfa/totp/confirm", response.unwrap()).await;
    let response = send_as(&app, post.clone(), "/api/v1/me/mfa/totp", &token).send().await;
    let body = c.check(&post, "/api/v1/me/mfa/totp", response.unwrap()).await;
    let secret = secret_of(body["otpauth_uri"].as_str().unwrap());
    let response = send_as(&app, post.clone(), "/api/v1/me/mfa/totp/confirm", &token)
        .json(&json!({ "code": totp_code(&app, &secret) }))
        .send()
        .await
        .unwrap();
    token = session_token(&response).unwrap();
    c.check(&post, "/api/v1/me/mfa/totp/confirm", response).await;
    let other = json!({ "identifier": "fresh", "password": new_password });
    let response = request(&app, &post, "/api/v1/auth/login").json(&other).send().await.unwrap();
    let pending = mfa_cookie(&response).unwrap();
    let body = c.check(&post, "/api/v1/auth/login", response).await;
    assert_eq!(body["mfa_required"], true);
    let response = request(&app, &post, "/api/v1/auth/mfa")
        .header(COOKIE, format!("{MFA_COOKIE}={pending}"))
        .json(&json!({ "code": "000000", "recovery_code": "x" }))
        .send()
        .await;
    c.check(&post, "/api/v1/auth/mfa", response.unwrap()).await;
    clock.advance(Duration::from_secs(30));
    let response = request(&app, &post, "/api/v1/auth/mfa")
        .header(COOKIE, format!("{MFA_COOKIE}={pending}"))
        .json(&json!({ "code": totp_code(&app, &secret) }))
        .send()
        .await
        .unwrap();
    let second = session_token(&response).unwrap();
    c.check(&post, "/api/v1/auth/mfa", response).await;

    // Sessions: end the second one by id, then every other one, then disable TOTP.
    let response = with_session(&app, get.clone(), "/api/v1/me/sessions", &second).send().await;
    let sessions = json_of(response.unwrap()).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/me/sessions/{current}");
    let response = send_as(&app, delete.clone(), &path, &token).send().await;
    c.check(&delete, "/api/v1/me/sessions/{id}", response.unwrap()).await;
    let response = send_as(&app, delete.clone(), "/api/v1/me/sessions", &token).send().await;
    c.check(&delete, "/api/v1/me/sessions", response.unwrap()).await;
    clock.advance(Duration::from_secs(30));
    let response = send_as(&app, delete.clone(), "/api/v1/me/mfa/totp", &token)
        .json(&json!({ "code": totp_code(&app, &secret) }))
        .send()
        .await;
    c.check(&delete, "/api/v1/me/mfa/totp", response.unwrap()).await;
    let response = send_as(&app, post.clone(), "/api/v1/auth/logout", &token).send().await;
    c.check(&post, "/api/v1/auth/logout", response.unwrap()).await;

    // The admin API, as an administrator with a second factor.
    let boss_id = register(&app, "bossuser").await;
    make_admin(&app, &boss_id);
    let boss = login(&app, "bossuser").await;
    let boss = crate::accounts::enroll_totp(&app, &boss).await.token;
    let users = "/api/v1/admin/users";
    let response = with_session(&app, get.clone(), &format!("{users}?limit=2"), &boss).send();
    c.check(&get, users, response.await.unwrap()).await;
    let response = with_session(&app, get.clone(), &format!("{users}?limit=x"), &boss).send();
    c.check(&get, users, response.await.unwrap()).await;
    let one = "/api/v1/admin/users/{id}";
    for id in [fresh_id.as_str(), "nobody"] {
        let response = with_session(&app, get.clone(), &format!("{users}/{id}"), &boss).send();
        c.check(&get, one, response.await.unwrap()).await;
    }
    for action in ["disable", "enable"] {
        let path = format!("{users}/{fresh_id}/{action}");
        let response = send_as(&app, post.clone(), &path, &boss).send().await;
        c.check(&post, &format!("{one}/{action}"), response.unwrap()).await;
    }
    let response = send_as(&app, post.clone(), &format!("{users}/{boss_id}/disable"), &boss);
    c.check(&post, "/api/v1/admin/users/{id}/disable", response.send().await.unwrap()).await;
    let roles = "/api/v1/admin/users/{id}/roles/{role}";
    for (m, role) in [(&put, "admin"), (&delete, "admin"), (&put, "no-such-role")] {
        let path = format!("{users}/{fresh_id}/roles/{role}");
        let response = send_as(&app, m.clone(), &path, &boss).send().await;
        c.check(m, roles, response.unwrap()).await;
    }
    let path = format!("{users}/{boss_id}/roles/admin");
    let response = send_as(&app, delete.clone(), &path, &boss).send().await;
    c.check(&delete, roles, response.unwrap()).await;

    // Notes, the example resource: a refused and an accepted creation, the list (a clamped
    // and a malformed page), reading, replacing (accepted and refused), another user's note
    // (404 for each method), and deleting.
    let writer = login(&app, "plainuser").await;
    let (notes, note) = ("/api/v1/notes", "/api/v1/notes/{id}");
    let refused = json!({ "title": "", "body": "x".repeat(10_001) });
    let content = json!({ "title": "A note", "body": "line one\nline two" });
    for body in [&refused, &content] {
        let response = send_as(&app, post.clone(), notes, &writer).json(body).send().await;
        c.check(&post, notes, response.unwrap()).await;
    }
    let listed = with_session(&app, get.clone(), notes, &writer).send().await.unwrap();
    let listed = c.check(&get, notes, listed).await;
    let path = format!("{notes}/{}", listed["notes"][0]["id"].as_str().unwrap());
    for query in ["?offset=1&limit=1000", "?limit=x"] {
        let response = with_session(&app, get.clone(), &format!("{notes}{query}"), &writer).send();
        c.check(&get, notes, response.await.unwrap()).await;
    }
    let (_, stranger) = signed_in(&app, "stranger").await;
    for token in [&writer, &stranger] {
        let response = with_session(&app, get.clone(), &path, token).send().await;
        c.check(&get, note, response.unwrap()).await;
        for body in [&content, &refused] {
            let response = send_as(&app, put.clone(), &path, token).json(body).send().await;
            c.check(&put, note, response.unwrap()).await;
        }
    }
    for token in [&stranger, &writer, &writer] {
        let response = send_as(&app, delete.clone(), &path, token).send().await;
        c.check(&delete, note, response.unwrap()).await;
    }

    // Pages and their forms: the account page, a forged form, ending another session of the
    // user and one that is not theirs (404), signing out, and the page that follows.
    let pager = login(&app, "plainuser").await;
    let other = login(&app, "plainuser").await;
    let response = with_session(&app, get.clone(), "/api/v1/me/sessions", &other).send().await;
    let sessions = json_of(response.unwrap()).await;
    let current = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true);
    let other_id = current.unwrap()["id"].as_str().unwrap().to_owned();
    let response = with_session(&app, get.clone(), "/account", &pager).send().await.unwrap();
    let page = c.check(&get, "/account", response).await;
    let field = page.as_str().unwrap().split("name=\"csrf_token\" value=\"").nth(1).unwrap();
    let valid = format!("csrf_token={}", field.split('"').next().unwrap());
    let (sign_out, end) = ("/account/sign-out", "/account/sessions/{id}/end");
    let forms = [
        (sign_out, sign_out.to_owned(), "csrf_token=forged"),
        (end, concrete(end), valid.as_str()),
        (end, end.replace("{id}", &other_id), valid.as_str()),
        (sign_out, sign_out.to_owned(), valid.as_str()),
    ];
    for (documented, path, body) in forms {
        let response = send_as(&app, post.clone(), &path, &pager)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await;
        c.check(&post, documented, response.unwrap()).await;
    }
    c.check(&get, "/account/signed-out", app.get("/account/signed-out").await).await;

    let all = operations(&c.doc);
    let missed: Vec<_> = all.difference(&c.seen).collect();
    assert!(missed.is_empty(), "operations never exercised: {missed:?}");
}

fn is_unsafe(method: &Method) -> bool {
    ![Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// The answers of the layers in front of the handlers, which every operation documents: an
/// overlong URL (414), the session cookie from another site on a state change (403
/// `cross_site_request`), and a body over the limit (413) for each operation with a body.
async fn openapi_every_operation_documents_the_refusals_of_the_outer_layers(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut c = Conformance { doc: served(&app).await, seen: BTreeSet::new() };
    let (_, user) = signed_in(&app, "plainuser").await;
    let long_query = format!("?q={}", "a".repeat(9000));
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(65 * 1024));
    for e in endpoints() {
        let m: Method = e.method.as_str().parse().unwrap();
        let path = concrete(e.path);
        let what = format!("{m} {}", e.path);

        let response = request(&app, &m, &format!("{path}{long_query}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 414, "{what}");
        c.check(&m, e.path, response).await;

        if is_unsafe(&m) {
            let response = with_session(&app, m.clone(), &path, &user)
                .header("sec-fetch-site", "cross-site")
                .header("origin", "https://evil.example")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 403, "{what}");
            let body = c.check(&m, e.path, response).await;
            assert_eq!(body["error"], "cross_site_request", "{what}");
        }

        let body_types =
            &c.doc["paths"][e.path][m.as_str().to_lowercase()]["requestBody"]["content"];
        if let Some(body_type) = body_types.as_object().and_then(|t| t.keys().next().cloned()) {
            // Signed in, so that a signed-in route reaches its body; admin routes (403) and
            // the second-factor step (401: a session is not a pending login) refuse first.
            let body = if body_type == "application/json" {
                big.clone()
            } else {
                format!("csrf_token={}", "x".repeat(65 * 1024))
            };
            let response = send_as(&app, m.clone(), &path, &user)
                .header(CONTENT_TYPE, body_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status == 413 || matches!(e.access, Access::Permission(_) | Access::MfaPending),
                "{what}: a 65 KiB body got {status}"
            );
            c.check(&m, e.path, response).await;
        }
    }
}

/// The per-IP rate limit answers 429 with `Retry-After` on every operation, as documented.
async fn openapi_every_operation_documents_the_rate_limit(backend: Backend) {
    let limits = [("APP__RATE_LIMIT__PER_SECOND", "1"), ("APP__RATE_LIMIT__BURST", "1")];
    let app = spawn_app_configured(backend, &limits, |_| {}).await;
    let mut c = Conformance { doc: served(&app).await, seen: BTreeSet::new() };
    for e in endpoints() {
        let m: Method = e.method.as_str().parse().unwrap();
        let path = concrete(e.path);
        // One request a second refills the bucket: a slow machine may pass one more.
        let mut limited = false;
        for _ in 0..10 {
            let response = request(&app, &m, &path).send().await.unwrap();
            let status = response.status().as_u16();
            let body = c.check(&m, e.path, response).await;
            if status == 429 {
                assert_eq!(body["error"], "too_many_requests", "{m} {}", e.path);
                limited = true;
                break;
            }
        }
        assert!(limited, "{m} {} was never rate-limited", e.path);
    }
}

/// A string of `len` characters that is unique to `n`: `prefix`, `n`, then `pad`.
fn sized(prefix: &str, n: usize, pad: char, len: usize) -> String {
    let mut s = format!("{prefix}{n}");
    while s.chars().count() < len {
        s.push(pad);
    }
    s
}

/// A password of `len` characters that no password rule refuses: hex of fresh UUIDs.
fn strong_password(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

fn number(schema: &Value, keyword: &str) -> u64 {
    schema[keyword].as_u64().unwrap_or_else(|| panic!("{schema} declares no {keyword}"))
}

fn length(schema: &Value, keyword: &str) -> usize {
    usize::try_from(number(schema, keyword)).unwrap()
}

/// Requests built from what the document declares, at its boundaries: each is checked to be
/// valid against the declared schema, then must get a documented answer whose body matches.
/// Registration at the minimum and maximum lengths of every field is accepted (201), the
/// "exactly one of" bodies refuse both and neither in the document itself, and the account
/// list answers every declared `offset` and `limit` with a page that fits `UserPage`.
async fn openapi_schema_valid_requests_at_the_boundaries_are_served_as_documented(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut c = Conformance { doc: served(&app).await, seen: BTreeSet::new() };
    let doc = c.doc.clone();
    let schemas = &doc["components"]["schemas"];
    let post = Method::POST;

    // Registration: every field at its declared minimum and maximum length.
    let register_body = &schemas["RegisterBody"];
    let body_schema = validator(&doc, register_body);
    let (user, email, password) = (
        &register_body["properties"]["username"],
        &register_body["properties"]["email"],
        &register_body["properties"]["password"],
    );
    assert_eq!(email["format"], "email", "{email}");
    let email_max = length(email, "maxLength");
    let mut bodies = Vec::new();
    for (n, (name_len, password_len)) in [
        (length(user, "minLength"), length(password, "minLength")),
        (length(user, "maxLength"), length(password, "maxLength")),
    ]
    .into_iter()
    .enumerate()
    {
        let local = sized("m", n, 'x', 64);
        let domain_len = email_max - local.len() - 1;
        let last = domain_len - 2 * 64 - ".test".len();
        let domain = format!("{}.{}.{}.test", "d".repeat(63), "e".repeat(63), "f".repeat(last));
        let short = format!("s{n}@example.test");
        for address in [format!("{local}@{domain}"), short] {
            let name = sized(&format!("n{}", bodies.len()), 0, 'q', name_len);
            bodies.push(json!({
                "username": name,
                "email": address,
                "password": strong_password(password_len),
            }));
        }
    }
    for body in &bodies {
        let errors: Vec<String> = body_schema.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "generated {body} is not valid: {errors:?}");
        let response = request(&app, &post, "/api/v1/auth/register").json(body).send().await;
        let response = response.unwrap();
        let status = response.status().as_u16();
        let answer = c.check(&post, "/api/v1/auth/register", response).await;
        assert_eq!(status, 202, "{body}: {answer}");
    }
    // One past each bound is outside the document, and refused (422, documented).
    let mut over = bodies[0].clone();
    over["username"] = json!(sized("o", 0, 'q', length(user, "maxLength") + 1));
    let mut under = bodies[0].clone();
    under["password"] = json!(strong_password(length(password, "minLength") - 1));
    for body in [over, under] {
        assert!(!body_schema.is_valid(&body), "{body} should be outside the document");
        let response = request(&app, &post, "/api/v1/auth/register").json(&body).send().await;
        let response = response.unwrap();
        assert_eq!(response.status().as_u16(), 422, "{body}");
        c.check(&post, "/api/v1/auth/register", response).await;
    }

    // "Exactly one of": the document itself refuses both and neither.
    for (name, [a, b]) in
        [("ReauthBody", ["password", "code"]), ("SecondFactorBody", ["code", "recovery_code"])]
    {
        let v = validator(&doc, &schemas[name]);
        for valid in [json!({ a: "x" }), json!({ b: "x" }), json!({ a: "x", b: null })] {
            assert!(v.is_valid(&valid), "{name}: {valid} should be valid");
        }
        for invalid in [json!({}), json!({ a: "x", b: "y" }), json!({ a: null, b: null })] {
            assert!(!v.is_valid(&invalid), "{name}: {invalid} should be invalid");
        }
    }

    // The account list at every declared bound of its query parameters.
    let boss_id = register(&app, "bossuser").await;
    make_admin(&app, &boss_id);
    let boss = login(&app, "bossuser").await;
    let boss = crate::accounts::enroll_totp(&app, &boss).await.token;
    let users = "/api/v1/admin/users";
    let get = Method::GET;
    let params = doc["paths"][users]["get"]["parameters"].as_array().unwrap();
    for param in params {
        let name = param["name"].as_str().unwrap();
        let schema = &param["schema"];
        let v = validator(&doc, schema);
        for value in [number(schema, "minimum"), number(schema, "maximum")] {
            assert!(v.is_valid(&json!(value)), "{name}={value} is outside {schema}");
            let path = format!("{users}?{name}={value}");
            let response = with_session(&app, get.clone(), &path, &boss).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
            c.check(&get, users, response).await;
        }
        // Past the declared maximum: outside the document, a documented 400.
        let value = number(schema, "maximum") + 1;
        assert!(!v.is_valid(&json!(value)), "{name}={value} should be outside {schema}");
        let path = format!("{users}?{name}={value}");
        let response = with_session(&app, get.clone(), &path, &boss).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        c.check(&get, users, response).await;
    }
}

async fn json_of(response: Response) -> Value {
    crate::helpers::json(response).await
}

// ---------------------------------------------------------------------------------------------
// Bodies generated from the document

/// Which end of each declared range a generated value takes.
#[derive(Clone, Copy)]
enum End {
    /// Shortest strings, smallest numbers, required members only.
    Low,
    /// Longest strings (1000 characters where no maximum is declared), largest numbers, every
    /// member, `null` ones included.
    High,
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(pointer) => doc.pointer(&format!("/{pointer}")).expect("a $ref the document has"),
        None => schema,
    }
}

/// Instances of `schema` at both ends of every range, and for each branch of a `oneOf`.
fn generate(doc: &Value, schema: &Value) -> Vec<Value> {
    let schema = resolve(doc, schema);
    if let Some(branches) = schema["oneOf"].as_array() {
        return branches.iter().flat_map(|b| generate(doc, b)).collect();
    }
    [End::Low, End::High].into_iter().map(|end| generate_one(doc, schema, end)).collect()
}

fn generate_one(doc: &Value, schema: &Value, end: End) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["oneOf"].as_array().and_then(|b| b.first()) {
        return generate_one(doc, first, end);
    }
    // `["string", "null"]` takes the non-null type.
    let kind = match &schema["type"] {
        Value::Array(types) => {
            types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
        }
        other => other.as_str().unwrap_or_else(|| panic!("no type in {schema}")),
    };
    match kind {
        "null" => Value::Null,
        "boolean" => json!(true),
        "integer" => match end {
            End::Low => schema["minimum"].clone().as_i64().map_or(json!(0), |n| json!(n)),
            End::High => {
                schema["maximum"].as_i64().map_or(json!(i64::from(i32::MAX)), |n| json!(n))
            }
        },
        "string" => {
            let len = match end {
                End::Low => schema["minLength"].as_u64().unwrap_or(0),
                End::High => schema["maxLength"].as_u64().unwrap_or(1000),
            };
            let len = usize::try_from(len).unwrap();
            match schema["format"].as_str() {
                Some("email") => {
                    let local = sized("g", 0, 'x', len.saturating_sub(9).clamp(1, 64));
                    let domain =
                        sized("d", 0, 'y', len.saturating_sub(local.len() + 6).clamp(1, 63));
                    json!(format!("{local}@{domain}.test"))
                }
                Some("password") => json!(strong_password(len)),
                // Letters only: within every pattern the document declares (user names).
                _ => json!("a".repeat(len)),
            }
        }
        "object" => {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut object = serde_json::Map::new();
            for (name, member) in schema["properties"].as_object().into_iter().flatten() {
                if matches!(end, End::High) || required.contains(name.as_str()) {
                    object.insert(name.clone(), generate_one(doc, member, end));
                }
            }
            Value::Object(object)
        }
        "array" => match end {
            End::Low => json!([]),
            End::High => json!([generate_one(doc, &schema["items"], end)]),
        },
        other => panic!("the generator has no values of type {other}: {schema}"),
    }
}

/// Every operation with a request body gets bodies generated from its declared schema (each
/// checked valid against it first): at both ends of every declared range, unbounded strings
/// long, every `oneOf` branch, optional members left out and put in. Sent anonymously and
/// with an administrator's fresh two-factor session, each must get a documented status with a
/// body that matches: a schema-valid request never meets an undocumented 4xx (nor a 5xx).
async fn openapi_generated_bodies_of_every_operation_get_only_documented_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut c = Conformance { doc: served(&app).await, seen: BTreeSet::new() };
    let doc = c.doc.clone();
    let boss_id = register(&app, "genboss").await;
    make_admin(&app, &boss_id);
    let boss = login(&app, "genboss").await;
    let boss = crate::accounts::enroll_totp(&app, &boss).await.token;

    let mut bodied: Vec<(Method, String, String, Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(content) = op["requestBody"]["content"].as_object() else { continue };
            for (media, body) in content {
                bodied.push((
                    method.to_uppercase().parse().unwrap(),
                    path.clone(),
                    media.clone(),
                    body["schema"].clone(),
                ));
            }
        }
    }
    // Whatever ends the session goes last.
    bodied.sort_by_key(|(_, path, _, _)| path.ends_with("sign-out") || path.ends_with("logout"));
    assert!(bodied.len() >= 9, "{bodied:?}");
    let mut sent = 0;
    for (method, path, media, schema) in &bodied {
        let v = validator(&doc, schema);
        for body in generate(&doc, schema) {
            let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{method} {path}: generated {body} is not valid: {errors:?}"
            );
            let concrete_path = concrete(path);
            // The forms are URL-encoded; every other body is JSON (`application/json`, and the
            // report formats of `/csp-report`).
            let encoded = if media != "application/x-www-form-urlencoded" {
                body.to_string()
            } else {
                let fields: Vec<(String, String)> = body
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                serde_urlencoded::to_string(fields).unwrap()
            };
            for with_session in [false, true] {
                let builder = if with_session {
                    send_as(&app, method.clone(), &concrete_path, &boss)
                } else {
                    request(&app, method, &concrete_path)
                };
                let response = builder
                    .header(CONTENT_TYPE, media.as_str())
                    .body(encoded.clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                c.check(method, path, response).await;
                assert!(status < 500, "{method} {path} {body}: {status}");
                sent += 1;
            }
        }
    }
    assert!(sent >= 4 * bodied.len(), "{sent} requests");
}
