//! Test harness: a fresh database per case, the real application on a random port, and an
//! HTTP client pointed at it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use actix_web::dev::ServerHandle;
use actix_web::web::ServiceConfig;
use diesel::{Connection, PgConnection, RunQueryDsl};
use sec_config::{Settings, Sources};
use server::auth::AuthOverrides;
use server::db::Db;
use server::startup::Application;

/// Which database a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

pub type CaseFn = fn(Backend) -> Pin<Box<dyn Future<Output = ()>>>;

/// A named test case and the backends it applies to.
pub struct Case {
    pub name: &'static str,
    pub run: CaseFn,
    only: Option<Backend>,
}

impl Case {
    /// A case that runs on both backends.
    pub fn both(name: &'static str, run: CaseFn) -> Self {
        Self { name, run, only: None }
    }

    /// A case that only makes sense on one backend (say why at the call site).
    pub fn only(backend: Backend, name: &'static str, run: CaseFn) -> Self {
        Self { name, run, only: Some(backend) }
    }

    pub fn runs_on(&self, backend: Backend) -> bool {
        self.only.is_none_or(|b| b == backend)
    }
}

/// Lists the async test functions of a module as cases for both backends.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub fn cases() -> Vec<$crate::helpers::Case> {
            vec![$($crate::helpers::Case::both(stringify!($name), |b| Box::pin($name(b)))),*]
        }
    };
}
pub(crate) use cases;

/// `TEST_DATABASE_URL`, when set and non-empty.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
}

/// A database that exists for one case and is removed after it.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Self::Sqlite { _dir: dir, url }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url().expect("TEST_DATABASE_URL");
                let name = format!("test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .expect("create test database");
                let mut url = reqwest::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self::Postgres { admin_url, name, url: url.to_string() }
            }
        }
    }

    /// The URL the application connects with.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Runs SQL as the administrator of the PostgreSQL server (outside the test database).
    pub fn admin_execute(&self, sql: &str) {
        let Self::Postgres { admin_url, .. } = self else {
            panic!("admin_execute is for PostgreSQL cases only");
        };
        let mut admin = PgConnection::establish(admin_url).expect("admin connection");
        diesel::sql_query(sql).execute(&mut admin).expect("admin statement");
    }

    /// The PostgreSQL database name.
    pub fn pg_name(&self) -> &str {
        match self {
            Self::Postgres { name, .. } => name,
            Self::Sqlite { .. } => panic!("pg_name is for PostgreSQL cases only"),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name, .. } = self {
            // FORCE ends the pool's connections still open; a failure here only leaks a
            // database on a throw-away test server.
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin);
            }
        }
    }
}

/// Settings for a test server on `database`, loaded through the real loader.
pub fn test_settings(database: &TestDatabase, log_dir: PathBuf) -> Settings {
    test_settings_with(database, log_dir, &[])
}

/// The MFA key of every test server of this process (so that siblings share it, as replicas
/// do): a fresh Fernet key, never a development one.
pub fn test_mfa_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let key = sec_config::MasterKey::generate().expect("a key");
        secrecy::ExposeSecret::expose_secret(key.encoded()).to_owned()
    })
}

/// [`test_settings`] with extra variables (later ones win), e.g. `APP__AUTH__MFA_KEYS=""` to
/// run without an MFA key.
pub fn test_settings_with(
    database: &TestDatabase,
    log_dir: PathBuf,
    extra: &[(&str, &str)],
) -> Settings {
    let missing_config_dir = log_dir.join("no-config");
    let mut vars: Vec<(String, String)> = [
        ("APP_ENV", "test".to_owned()),
        ("APP__SERVER__BIND", "127.0.0.1:0".to_owned()),
        ("APP__SERVER__WORKERS", "1".to_owned()),
        ("APP__SERVER__SHUTDOWN_TIMEOUT_SECS", "10".to_owned()),
        ("DATABASE_URL", database.url().to_owned()),
        ("APP__LOG__DIR", log_dir.display().to_string()),
        // Mail of the file transport stays with the case, not in the working tree.
        ("APP__MAIL__FILE_DIR", log_dir.join("mail").display().to_string()),
        ("APP__AUTH__MFA_KEYS", test_mfa_key().to_owned()),
        // The in-memory per-IP limits far above what any case sends (every case comes from
        // 127.0.0.1): the auth cases exercise the per-account throttling in the database, and
        // the rate-limit cases set their own limits.
        ("APP__RATE_LIMIT__BURST", "100000".to_owned()),
        ("APP__RATE_LIMIT__AUTH_BURST", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    Settings::load(&Sources::new(missing_config_dir, vars)).expect("test settings are valid")
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The plain-HTTP redirect listener's port, when `tls.redirect_http_bind` is set.
    pub redirect_port: Option<u16>,
    pub db: Db,
    pub client: reqwest::Client,
    pub handle: ServerHandle,
    pub log_dir: tempfile::TempDir,
    /// The clock the server's rules read (the system's unless overridden).
    pub clock: std::sync::Arc<dyn sec_auth::Clock>,
    // Last: dropped after the server's pool handles above.
    pub database: TestDatabase,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The server's time, in Unix seconds.
    pub fn now(&self) -> i64 {
        sec_auth::clock::unix_now(self.clock.as_ref())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }
}

/// Starts the application on a fresh database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the application with extra routes mounted (for behaviour that needs a handler the
/// product does not have, such as one that waits).
pub async fn spawn_app_with<F>(backend: Backend, extra_routes: F) -> TestApp
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    spawn_app_custom(backend, AuthOverrides::default(), extra_routes, &[]).await
}

/// Starts the application with extra settings variables and extra routes.
pub async fn spawn_app_configured<F>(
    backend: Backend,
    vars: &[(&str, &str)],
    extra_routes: F,
) -> TestApp
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    spawn_app_custom(backend, AuthOverrides::default(), extra_routes, vars).await
}

/// Starts the application with parts of the account rules replaced (clock, hasher).
pub async fn spawn_app_with_overrides(backend: Backend, overrides: AuthOverrides) -> TestApp {
    spawn_app_custom(backend, overrides, |_| {}, &[]).await
}

/// Starts the application with extra settings variables (e.g. `APP__AUTH__ADMIN_REQUIRES_MFA`).
pub async fn spawn_app_with_env(
    backend: Backend,
    overrides: AuthOverrides,
    vars: &[(&str, &str)],
) -> TestApp {
    spawn_app_custom(backend, overrides, |_| {}, vars).await
}

async fn spawn_app_custom<F>(
    backend: Backend,
    overrides: AuthOverrides,
    extra_routes: F,
    vars: &[(&str, &str)],
) -> TestApp
where
    F: Fn(&mut ServiceConfig) + Clone + Send + 'static,
{
    let database = TestDatabase::create(backend);
    let log_dir = tempfile::tempdir().expect("temp dir");
    let settings = test_settings_with(&database, log_dir.path().to_path_buf(), vars);
    let clock: std::sync::Arc<dyn sec_auth::Clock> =
        overrides.clock.clone().unwrap_or_else(|| std::sync::Arc::new(sec_auth::SystemClock));
    let app = Application::build_with_overrides(&settings, overrides, extra_routes)
        .await
        .expect("application builds");
    let address = app.url();
    let port = app.port();
    let redirect_port = app.redirect_port();
    let db = app.db().clone();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp { address, port, redirect_port, db, client: client(), handle, log_dir, clock, database }
}

/// An HTTP client that does not follow redirects and keeps no cookies (tests handle the
/// session cookie by hand, to see exactly what the server sets).
///
/// It sends `Sec-Fetch-Site: same-origin` on every request, as a current browser does for a
/// script of the app's own pages, so that cookie-authenticated requests pass the CSRF check;
/// a header the test sets itself wins. CSRF cases use [`bare_client`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(same_origin_headers())
        .build()
        .expect("client")
}

/// `Sec-Fetch-Site: same-origin`, what a current browser sends with a request from a page of
/// the app's own origin: the default headers of the test clients.
pub fn same_origin_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    headers
}

/// A client that sends no header of its own beyond what HTTP needs: no `Sec-Fetch-Site`,
/// `Origin` or `Referer`, like a script or an old browser.
pub fn bare_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A second server process-alike on the same database as `app` (its own pool, workers and
/// port), as another replica would be.
pub struct Sibling {
    pub address: String,
    pub handle: ServerHandle,
    _log_dir: tempfile::TempDir,
}

impl Sibling {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl TestApp {
    /// Starts another instance on this app's database.
    pub async fn sibling(&self, overrides: AuthOverrides) -> Sibling {
        self.sibling_with_env(overrides, &[]).await
    }

    /// Starts another instance on this app's database with extra settings variables (a
    /// rotated MFA key ring, say).
    pub async fn sibling_with_env(
        &self,
        overrides: AuthOverrides,
        vars: &[(&str, &str)],
    ) -> Sibling {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let settings = test_settings_with(&self.database, log_dir.path().to_path_buf(), vars);
        let app = Application::build_with_overrides(&settings, overrides, |_| {})
            .await
            .expect("second instance builds");
        let address = app.url();
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        Sibling { address, handle, _log_dir: log_dir }
    }
}

/// Parses a response body as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("JSON body")
}

/// Asserts that `response` is the standard error body with `code`, and that its request id
/// matches the `X-Request-Id` header. Returns the request id.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    let got = response.status().as_u16();
    if got != status {
        let body = response.text().await.unwrap_or_default();
        panic!("expected {status} {code}, got {got}: {body}");
    }
    let header = response
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id header")
        .to_str()
        .expect("ASCII id")
        .to_owned();
    let body = json(response).await;
    let object = body.as_object().expect("object body");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    // Nothing beyond the code and the id: no messages, causes or stack traces.
    assert_eq!(keys, ["error", "request_id"], "body: {body}");
    assert_eq!(body["error"], code, "body: {body}");
    assert_eq!(body["request_id"], header.as_str(), "body: {body}");
    header
}
