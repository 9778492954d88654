//! Assembles the application: database pool, migrations, audit trail, middleware, routes and
//! listeners.
//!
//! The layers wrap the routes in the order [`crate::http`] documents; `build_with_overrides`
//! applies them.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::error::UrlencodedError;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sec_audit::AuditTrail;
use sec_config::Settings;

use crate::audit::AuditSetupError;
use crate::audit::continuity::{Anchor, ContinuityError, Recorder};
use crate::auth::{AuthOverrides, AuthSetupError};
use crate::db::{Db, DbError};
use crate::http::client_ip::ClientIpPolicy;
use crate::http::csrf::CsrfPolicy;
use crate::http::error::{AppError, ErrorCode};
use crate::http::limits::{BodyReadTimeout, ConnectionCap, MaxUrlBytes};
use crate::http::rate_limit::{EmptyQuota, Limiter};
use crate::http::security_headers::SecurityHeaders;
use crate::http::tls::{HttpsRedirect, TlsError};
use crate::http::{catch_panic, client_ip, cors, csrf, limits, request_log, security_headers, tls};
use crate::routes::docs::ApiDocument;
use crate::{audit, auth, housekeeping, routes};

/// Largest JSON, form or raw body accepted by default (64 KiB). Routes that need more (file
/// uploads) raise it for themselves.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// Opening the database or applying migrations failed.
    #[error("database: {0}")]
    Database(#[from] DbError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `server.bind`.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Start-up work on the blocking pool failed.
    #[error("start-up task failed")]
    Task,
    /// The audit folder does not continue the recorded head (production), or the comparison
    /// failed otherwise than on an unreachable database.
    #[error("audit trail: {0}")]
    AuditContinuity(#[from] ContinuityError),
    /// The audit trail could not be opened or written.
    #[error("audit trail: {0}")]
    Audit(#[from] AuditSetupError),
    /// The account rules could not be set up from the settings.
    #[error("auth: {0}")]
    Auth(#[from] AuthSetupError),
    /// The TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// The rate limiter could not be built.
    #[error("rate limits: {0}")]
    RateLimit(#[from] EmptyQuota),
    /// The mail transport could not be set up (an unreadable CA file, no trusted roots).
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::MailSetupError),
    /// The OpenAPI document could not be rendered (not expected: it is plain data).
    #[error("OpenAPI document: {0}")]
    OpenApi(#[from] serde_json::Error),
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    host: String,
    https: bool,
    redirect_port: Option<u16>,
    server: Server,
    db: Db,
    audit: AuditTrail,
    recorder: Recorder,
    /// Dropped when the server has stopped: ends the recorder's task.
    stop_recorder: tokio::sync::watch::Sender<()>,
    recorder_task: actix_web::rt::task::JoinHandle<()>,
    stop_outbox: tokio::sync::watch::Sender<()>,
    outbox_task: actix_web::rt::task::JoinHandle<()>,
}

impl Application {
    /// Builds the server from validated settings: opens the pool, applies migrations when
    /// `database.migrate_on_start` is set, opens the audit trail, binds `server.bind` (port 0
    /// picks a free port, which tests use; [`Application::port`] tells which) and records
    /// `ServerStarted`.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, |_| {}).await
    }

    /// Like [`Application::build`], with extra routes mounted next to the built-in ones: the
    /// hook a fork (or a test) uses to add its own endpoints.
    pub async fn build_with<F>(settings: &Settings, extra_routes: F) -> Result<Self, StartupError>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        Self::build_with_overrides(settings, AuthOverrides::default(), extra_routes).await
    }

    /// Like [`Application::build_with`], with parts of the account rules replaced (a clock
    /// that tests move by hand, a hasher that counts its calls).
    pub async fn build_with_overrides<F>(
        settings: &Settings,
        overrides: AuthOverrides,
        extra_routes: F,
    ) -> Result<Self, StartupError>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let audit = audit::open(settings)?;
        let db = Db::new(settings.database())?;
        if settings.database().migrate_on_start() {
            let migrating = db.clone();
            let report = crate::blocking::run(move || migrating.migrate())
                .await
                .map_err(|_| StartupError::Task)??;
            if !report.applied.is_empty() {
                tracing::info!(applied = ?report.applied, "database migrations applied");
            }
        }
        // Before anything is written: does the folder still hold the head recorded in the
        // database? A database that is down only postpones the question (not ready until then).
        let recorder = Recorder::new(Anchor::from_settings(settings)?, db.clone(), audit.clone());
        match recorder.settle().await {
            Ok(_) => {}
            Err(ContinuityError::Database(e)) => tracing::warn!(
                error = %e,
                "cannot compare the audit trail with its recorded head yet; not ready until then"
            ),
            Err(e) => return Err(e.into()),
        }

        let tls_config = settings.tls().files().map(tls::server_config).transpose()?;
        let (listener, local) = bind(settings.server().bind())?;
        let redirect = settings.tls().redirect_http_bind().map(bind).transpose()?;

        let limiter = Limiter::new(settings)?;
        limiter.spawn_housekeeping();
        let headers = web::Data::new(SecurityHeaders::from_settings(settings));
        let csrf_policy = web::Data::new(CsrfPolicy::from_settings(settings));
        let client_ip_policy = web::Data::new(ClientIpPolicy::from_settings(settings));
        let max_url = web::Data::new(MaxUrlBytes(settings.limits().max_url_bytes()));
        let body_timeout = web::Data::new(BodyReadTimeout(settings.limits().body_read_timeout()));
        let connection_cap = ConnectionCap::from_settings(settings);
        let https_redirect = redirect.as_ref().map(|_| {
            web::Data::new(HttpsRedirect::new(settings.server().public_origin(), local.port()))
        });
        let cors_settings = settings.cors().clone();
        let api_document = web::Data::new(ApiDocument::new(crate::openapi::pretty_json()?));

        let auth_service = auth::build(settings, &db, &audit, &overrides)?;
        let hash_admission = web::Data::new(auth::HashAdmission::from_settings(settings));
        housekeeping::spawn(db.clone(), &auth_service, settings);
        let mailer = crate::mail::Mailer::from_settings(settings)?;
        tracing::info!(transport = %mailer.describe(), "mail is sent through the outbox");
        // Links in mail point at the public origin; without one (development, tests), at this
        // listener.
        let origin = settings.server().public_origin().map_or_else(
            || own_url(settings.tls().enabled(), &local.ip().to_string(), local.port()),
            ToString::to_string,
        );
        let delivery =
            crate::outbox::MailDelivery::new(mailer, &origin, settings.auth().totp_issuer());
        let (stop_outbox, outbox_stop) = tokio::sync::watch::channel(());
        let outbox_task = crate::outbox::spawn(
            db.clone(),
            &auth_service,
            std::sync::Arc::new(delivery),
            crate::outbox::OutboxConfig::from_settings(settings),
            outbox_stop,
        );
        let app_db = db.clone();
        let app_audit = audit.clone();
        let app_recorder = recorder.clone();
        #[cfg(not(feature = "actix-governor"))]
        let limiter_data = web::Data::new(limiter.clone());
        let mut server = HttpServer::new(move || {
            // The first `wrap` is the innermost layer: the order is the one `crate::http` documents.
            let app = App::new()
                // Session cookie refresh and `no-store` for authenticated answers, around the
                // handler only.
                .wrap(from_fn(auth::session_cookies))
                // Inside the request-id middleware, so a caught panic leaves with the id.
                .wrap(from_fn(catch_panic::middleware))
                .wrap(from_fn(csrf::middleware))
                .wrap(cors::layer(&cors_settings))
                .wrap(from_fn(cors::only_for_allowed_origins));
            #[cfg(feature = "actix-governor")]
            let app = app.wrap(limiter.csp_report()).wrap(limiter.auth()).wrap(limiter.general());
            #[cfg(not(feature = "actix-governor"))]
            let app = app
                .wrap(from_fn(crate::http::rate_limit::middleware))
                .app_data(limiter_data.clone());
            let app = app
                .wrap(from_fn(limits::body_deadline))
                .wrap(from_fn(tls::redirect_middleware))
                .wrap(from_fn(limits::middleware))
                .wrap(from_fn(request_log::middleware))
                // A browser's navigation gets an error page (or the sign-in or confirmation
                // page) instead of the JSON error body of any layer inside.
                .wrap(from_fn(crate::routes::pages::errors::middleware))
                .wrap(from_fn(security_headers::middleware))
                // Outermost: every layer above reads the client address it resolves.
                .wrap(from_fn(client_ip::middleware))
                .app_data(client_ip_policy.clone())
                .app_data(headers.clone())
                .app_data(csrf_policy.clone())
                .app_data(max_url.clone())
                .app_data(body_timeout.clone());
            let app = match &https_redirect {
                Some(redirect) => app.app_data(redirect.clone()),
                None => app,
            };
            app.app_data(web::Data::new(app_db.clone()))
                .app_data(web::Data::new(app_audit.clone()))
                .app_data(web::Data::new(app_recorder.clone()))
                .app_data(web::Data::new(auth_service.clone()))
                .app_data(hash_admission.clone())
                .app_data(api_document.clone())
                .app_data(json_config())
                .app_data(form_config())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    AppError::with_cause(ErrorCode::BadRequest, e.to_string()).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    AppError::with_cause(ErrorCode::BadRequest, e.to_string()).into()
                }))
                .configure(routes::configure)
                .configure(extra_routes.clone())
                .default_service(web::to(routes::not_found))
        })
        // Signals are handled by `stop_on_signals`: actix's own handler treats SIGINT as an
        // immediate stop, and we want both SIGINT and SIGTERM to drain in-flight requests.
        .disable_signals()
        .shutdown_timeout(settings.server().shutdown_timeout().as_secs())
        .client_request_timeout(settings.limits().client_request_timeout())
        .client_disconnect_timeout(settings.limits().client_disconnect_timeout())
        .keep_alive(limits::keep_alive(settings.limits()))
        .max_connections(settings.limits().max_connections())
        .max_connection_rate(settings.limits().max_connection_rate())
        .worker_max_blocking_threads(blocking_threads_per_worker(settings))
        .on_connect(move |connection, data| connection_cap.on_connect(connection, data));
        if let Some(workers) = settings.server().workers() {
            server = server.workers(workers);
        }
        let listen_err = |addr| move |source| StartupError::Bind { addr, source };
        server = match tls_config {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .map_err(listen_err(local))?;
        let redirect_port = match redirect {
            Some((listener, addr)) => {
                server = server.listen(listener).map_err(listen_err(addr))?;
                tracing::info!("redirecting http://{addr} to HTTPS");
                Some(addr.port())
            }
            None => None,
        };

        let server = server.run();
        audit.emit(&audit::server_started()).map_err(AuditSetupError::from)?;
        let (stop_recorder, recorder_stop) = tokio::sync::watch::channel(());
        let recorder_task = recorder.spawn(server.handle(), recorder_stop);
        Ok(Self {
            port: local.port(),
            host: local.ip().to_string(),
            https: settings.tls().enabled(),
            redirect_port,
            server,
            db,
            audit,
            recorder,
            stop_recorder,
            recorder_task,
            stop_outbox,
            outbox_task,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://host:port` of the listener, `https://` when it serves TLS.
    pub fn url(&self) -> String {
        own_url(self.https, &self.host, self.port)
    }

    /// The port of the plain-HTTP redirect listener, when `tls.redirect_http_bind` is set.
    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect_port
    }

    /// The database pool the server uses.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The audit trail the server writes.
    pub fn audit(&self) -> &AuditTrail {
        &self.audit
    }

    /// A handle to stop the server: `stop(true)` finishes in-flight requests first (up to
    /// `server.shutdown_timeout_secs`), `stop(false)` drops them.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Starts a task that stops the server gracefully on SIGTERM or SIGINT.
    pub fn stop_on_signals(&self) {
        let handle = self.handle();
        tokio::spawn(async move {
            let signal = wait_for_shutdown_signal().await;
            tracing::info!(signal, "shutdown requested; finishing in-flight requests");
            handle.stop(true).await;
        });
    }

    /// Serves until stopped, then records `ServerStopped` and the audit chain's head. Fails
    /// when production stopped the server because the audit folder did not continue the
    /// recorded head (found after start-up, once the database answered).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Emit logs the failure itself; the server has stopped either way.
        let _ = self.audit.emit(&audit::server_stopped());
        // The recorder's task ends (and lets go of the trail) before this returns, so that the
        // folder's lock is free once the server has stopped.
        drop(self.stop_recorder);
        let _ = self.recorder_task.await;
        // The outbox worker finishes the call it is in and stops, so the process does not exit
        // under a database driver or a send.
        // At most 10 s: a send to a relay that hangs is left to its lease (the message goes out
        // again from another replica or the next start).
        drop(self.stop_outbox);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.outbox_task).await;
        if let Err(e) = self.recorder.record_now().await {
            tracing::error!(error = %e, "the audit chain head was not recorded at shutdown");
        }
        if let Some(gap) = self.recorder.refused() {
            return Err(std::io::Error::other(ContinuityError::Refused(gap)));
        }
        result
    }
}

/// Threads each worker may start for blocking work: rule code that reaches the database
/// through the `AuthStore` (a request's own queries and its authentication run on the database
/// threads instead, `db/executor.rs`, one per pooled connection and shared by the workers), and
/// logins and registrations waiting for a hashing thread. tokio's default (512 divided by the workers)
/// let a login flood start hundreds of threads that only wait, past the process limits the
/// deploy files set (compose `pids`, systemd `TasksMax`). This many are enough for every pooled
/// connection to be in use and for every hash the hashing pool admits (`slots` running plus
/// `auth.hash_queue` waiting) to wait at the same time; further blocking work waits in the
/// runtime's queue without a thread of its own.
fn blocking_threads_per_worker(settings: &Settings) -> usize {
    let pool = usize::try_from(settings.database().pool_max_size()).unwrap_or(usize::MAX);
    pool.saturating_add(auth::hashing_slots(settings).get())
        .saturating_add(settings.auth().hash_queue())
}

/// Binds `addr`; port 0 picks a free port, which the returned address names.
fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let bind_err = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Form bodies: the same cap and error codes as JSON.
fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(BODY_LIMIT).error_handler(|err, _req| {
        let code = match &err {
            UrlencodedError::Overflow { .. } => ErrorCode::PayloadTooLarge,
            UrlencodedError::ContentType => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::BadRequest,
        };
        AppError::with_cause(code, crate::http::body_error::form_cause(&err)).into()
    })
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|err, _req| crate::http::body_error::json_rejection(&err).into())
}

#[cfg(unix)]
async fn wait_for_shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

#[cfg(not(unix))]
async fn wait_for_shutdown_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}

/// `http://host:port` of a listener, `https://` when it serves TLS, IPv6 hosts in brackets.
fn own_url(https: bool, host: &str, port: u16) -> String {
    let scheme = if https { "https" } else { "http" };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}
