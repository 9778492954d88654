//! Helpers for cases that need accounts and sessions: register, log in, hold the session
//! cookie by hand, enroll TOTP and compute codes as an authenticator app would, make an
//! administrator (with a second factor), count password verifications, move the clock.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use reqwest::Response;
use reqwest::header::{COOKIE, SET_COOKIE};
use sec_auth::{CredentialHasher, HashFailure, ManualClock, PooledHasher};
use sec_core::{
    HashParams, HashingPool, Password, PasswordHash, PasswordHasher, SecretString, Verified,
};
use serde_json::{Value, json};
use server::auth::AuthOverrides;
use server::http::cookies::{MFA_COOKIE, SESSION_COOKIE};

use crate::helpers::{TestApp, json};

/// A password every policy check accepts.
pub const PASSWORD: &str = "velvet-otter-marching-through-42-lanterns";

/// Registers `username` (e-mail `username@example.test`) with [`PASSWORD`]; returns its id.
pub async fn register(app: &TestApp, username: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({
            "username": username,
            "email": format!("{username}@example.test"),
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "registration of {username}");
    user_id(app, username)
}

/// The id of the account named `username` (ASCII lower case: its canonical form), read from
/// the database: registration answers the same whether or not it made an account, so its
/// answer carries no id.
pub fn user_id(app: &TestApp, username: &str) -> String {
    let name = username.to_lowercase();
    let row = app.db.run_blocking(move |conn| server::db::users::find_by_username(conn, &name));
    row.unwrap().unwrap_or_else(|| panic!("no account {username}")).id
}

/// Sends a login request.
pub async fn login_request(app: &TestApp, identifier: &str, password: &str) -> Response {
    login_from(&app.client, &app.url("/api/v1/auth/login"), identifier, password, None).await
}

/// Sends a login request with `client`, optionally presenting an existing session cookie.
pub async fn login_from(
    client: &reqwest::Client,
    url: &str,
    identifier: &str,
    password: &str,
    cookie: Option<&str>,
) -> Response {
    let mut request =
        client.post(url).json(&json!({ "identifier": identifier, "password": password }));
    if let Some(token) = cookie {
        request = request.header(COOKIE, format!("{SESSION_COOKIE}={token}"));
    }
    request.send().await.unwrap()
}

/// Logs in with [`PASSWORD`] and returns the session token.
pub async fn login(app: &TestApp, identifier: &str) -> String {
    let response = login_request(app, identifier, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200, "login of {identifier}");
    session_token(&response).expect("a session cookie")
}

/// Registers and logs in; returns (user id, token).
pub async fn signed_in(app: &TestApp, username: &str) -> (String, String) {
    let id = register(app, username).await;
    (id, login(app, username).await)
}

/// The value of the session cookie a response sets (empty when it deletes it).
pub fn session_token(response: &Response) -> Option<String> {
    set_cookie(response).map(|c| c.split(';').next().unwrap().split_once('=').unwrap().1.to_owned())
}

/// The whole `Set-Cookie` line for the session cookie, if any.
pub fn set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{SESSION_COOKIE}=")))
}

/// A request with the session cookie.
pub fn with_session(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).header(COOKIE, format!("{SESSION_COOKIE}={token}"))
}

/// `GET path` with the session cookie.
pub async fn get_as(app: &TestApp, path: &str, token: &str) -> Response {
    with_session(app, reqwest::Method::GET, path, token).send().await.unwrap()
}

/// Gives `user_id` the admin role directly in the database (as `users create-admin` would
/// have).
pub fn make_admin(app: &TestApp, user_id: &str) {
    use server::db::schema::user_roles;
    let id = user_id.to_owned();
    app.db
        .run_blocking(move |conn| {
            diesel::insert_into(user_roles::table)
                .values((
                    user_roles::user_id.eq(&id),
                    user_roles::role.eq("admin"),
                    user_roles::granted_at.eq(0_i64),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
}

/// A signed-in administrator with TOTP enrolled (admin routes require a second factor by
/// default), whose session was established with it: (user id, token).
pub async fn admin(app: &TestApp, username: &str) -> (String, String) {
    let (id, enrolled) = admin_enrolled(app, username).await;
    (id, enrolled.token)
}

/// [`admin`], keeping the TOTP secret and recovery codes for later logins.
pub async fn admin_enrolled(app: &TestApp, username: &str) -> (String, Enrolled) {
    let id = register(app, username).await;
    make_admin(app, &id);
    let token = login(app, username).await;
    (id, enroll_totp(app, &token).await)
}

/// A TOTP factor enrolled through the API.
pub struct Enrolled {
    /// The secret, Base32, as the authenticator app got it from the URI.
    pub secret: String,
    /// The session token after confirmation (established with two factors).
    pub token: String,
    /// The ten recovery codes, as shown once.
    pub recovery_codes: Vec<String>,
}

/// The `secret` parameter of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> String {
    let url = reqwest::Url::parse(uri).unwrap();
    url.query_pairs().find(|(k, _)| k == "secret").unwrap().1.into_owned()
}

/// The code an authenticator app shows at Unix second `unix` (SHA-1, 6 digits, 30 s),
/// computed by totp-rs directly.
pub fn totp_code_at(secret: &str, unix: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    totp.generate(u64::try_from(unix).unwrap()).to_string()
}

/// The code for the server's current time.
pub fn totp_code(app: &TestApp, secret: &str) -> String {
    totp_code_at(secret, app.now())
}

/// A state-changing request with the session cookie (and this site's `Origin`).
pub fn send_as(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    with_session(app, method, path, token).header("origin", app.address.as_str())
}

/// Starts an enrollment: the response to `POST /api/v1/me/mfa/totp`.
pub async fn begin_enrollment(app: &TestApp, token: &str) -> Response {
    send_as(app, reqwest::Method::POST, "/api/v1/me/mfa/totp", token).send().await.unwrap()
}

/// Sends `POST /api/v1/me/mfa/totp/confirm {code}`.
pub async fn confirm_enrollment(app: &TestApp, token: &str, code: &str) -> Response {
    send_as(app, reqwest::Method::POST, "/api/v1/me/mfa/totp/confirm", token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

/// Enrolls TOTP for the signed-in user of `token`, with a code for the server's current time.
pub async fn enroll_totp(app: &TestApp, token: &str) -> Enrolled {
    let response = begin_enrollment(app, token).await;
    assert_eq!(response.status().as_u16(), 201, "enrollment starts");
    let secret = secret_of(json(response).await["otpauth_uri"].as_str().unwrap());
    let response = confirm_enrollment(app, token, &totp_code(app, &secret)).await;
    assert_eq!(response.status().as_u16(), 200, "enrollment is confirmed");
    let token = session_token(&response).expect("a renewed session cookie");
    let body = json(response).await;
    let recovery_codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled { secret, token, recovery_codes }
}

/// The value of the pending-MFA cookie a response sets (empty when it deletes it).
pub fn mfa_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{MFA_COOKIE}=")))
        .map(|c| c.split(';').next().unwrap().split_once('=').unwrap().1.to_owned())
}

/// The password step of a login that needs a second factor: the pending cookie.
pub async fn password_step(app: &TestApp, username: &str) -> String {
    let response = login_request(app, username, PASSWORD).await;
    assert_eq!(response.status().as_u16(), 200, "password step of {username}");
    assert!(session_token(&response).is_none(), "no session before the second factor");
    mfa_cookie(&response).expect("a pending-MFA cookie")
}

/// Sends `POST /api/v1/auth/mfa` with the pending cookie and `body`.
pub async fn mfa_step(app: &TestApp, pending: &str, body: Value) -> Response {
    app.client
        .post(app.url("/api/v1/auth/mfa"))
        .header(COOKIE, format!("{MFA_COOKIE}={pending}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A full login with a TOTP code for the server's current time (the caller moves a manual
/// clock on between two logins: each time step works once). Returns the session token.
pub async fn login_with_totp(app: &TestApp, username: &str, secret: &str) -> String {
    let pending = password_step(app, username).await;
    let response = mfa_step(app, &pending, json!({ "code": totp_code(app, secret) })).await;
    assert_eq!(response.status().as_u16(), 200, "second factor of {username}");
    session_token(&response).expect("a session cookie")
}

/// A client whose requests come from `ip` (a loopback address such as 127.0.0.2), to act as
/// a different client address.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(crate::helpers::same_origin_headers())
        .build()
        .unwrap()
}

/// Argon2id at the default (OWASP minimum) parameters behind a pool, as the app builds it.
pub fn fast_hasher() -> PooledHasher {
    let params = HashParams::OWASP_MINIMUM;
    let pool = HashingPool::new(PasswordHasher::new(params, None), 2.try_into().unwrap());
    PooledHasher::new(pool, Duration::from_secs(5))
}

/// A hasher that counts verifications (real and dummy alike) and hashes.
#[derive(Default)]
pub struct CountingHasher {
    inner: Option<PooledHasher>,
    pub verifications: AtomicUsize,
    pub hashes: AtomicUsize,
}

impl CountingHasher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { inner: Some(fast_hasher()), ..Self::default() })
    }

    pub fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }

    fn inner(&self) -> &PooledHasher {
        self.inner.as_ref().unwrap()
    }
}

impl CredentialHasher for CountingHasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashFailure> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner().hash(password)
    }

    fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashFailure> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner().rehash_verified(candidate)
    }

    fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
    ) -> Result<Option<Verified>, HashFailure> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner().verify(candidate, stored)
    }

    fn dummy_verify(&self, candidate: &SecretString) -> Result<(), HashFailure> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner().dummy_verify(candidate)
    }
}

/// Overrides with a hand-moved clock starting now.
pub fn manual_clock() -> (Arc<ManualClock>, AuthOverrides) {
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let overrides = AuthOverrides { clock: Some(clock.clone()), ..AuthOverrides::default() };
    (clock, overrides)
}

/// Asserts a 422 naming `field` with `code`.
pub async fn assert_field_error(response: Response, field: &str, code: &str) -> Value {
    let status = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "validation_failed", "{body}");
    let fields = body["fields"].as_array().expect("fields");
    assert!(
        fields.iter().any(|f| f["field"] == field && f["code"] == code),
        "expected {field}/{code} in {body}"
    );
    body
}

/// Every audit record the app has written so far (all files of its audit folder), in order,
/// without the genesis lines.
pub fn audit_records(app: &TestApp) -> Vec<Value> {
    audit_records_in(&app.log_dir.path().join("audit"))
        .into_iter()
        .filter(|r| r.get("event").is_some())
        .collect()
}

/// The audit files of the folder `dir`, in chain order.
pub fn audit_files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Every line of the folder `dir` (genesis lines too), in chain order.
pub fn audit_records_in(dir: &std::path::Path) -> Vec<Value> {
    audit_files_in(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The audit records of one request.
pub fn audit_of_request(app: &TestApp, request_id: &str) -> Vec<Value> {
    audit_records(app).into_iter().filter(|r| r["request_id"] == request_id).collect()
}
