//! Assembles the application: database pool, migrations, audit trail, middleware, routes and
//! listener.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::error::JsonPayloadError;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use sec_audit::AuditTrail;
use sec_config::Settings;

use crate::audit::AuditSetupError;
use crate::auth::{AuthOverrides, AuthSetupError};
use crate::db::{Db, DbError};
use crate::error::{AppError, ErrorCode};
use crate::{audit, auth, catch_panic, request_id, routes};

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
    /// The audit trail could not be opened or written.
    #[error("audit trail: {0}")]
    Audit(#[from] AuditSetupError),
    /// The account rules could not be set up from the settings.
    #[error("auth: {0}")]
    Auth(#[from] AuthSetupError),
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    host: String,
    server: Server,
    db: Db,
    audit: AuditTrail,
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
            let report = tokio::task::spawn_blocking(move || migrating.migrate())
                .await
                .map_err(|_| StartupError::Task)??;
            if !report.applied.is_empty() {
                tracing::info!(applied = ?report.applied, "database migrations applied");
            }
        }

        let addr = settings.server().bind();
        let bind_err = |source| StartupError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;

        let auth_service = auth::build(settings, &db, &audit, &overrides)?;
        let app_db = db.clone();
        let app_audit = audit.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(auth::session_cookies))
                // Inside the request-id middleware (wrapped later = outer), so a caught panic
                // leaves with the id.
                .wrap(from_fn(catch_panic::middleware))
                .wrap(from_fn(request_id::middleware))
                .app_data(web::Data::new(app_db.clone()))
                .app_data(web::Data::new(app_audit.clone()))
                .app_data(web::Data::new(auth_service.clone()))
                .app_data(json_config())
                .app_data(web::FormConfig::default().limit(BODY_LIMIT))
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
        .listen(listener)
        .map_err(bind_err)?
        // Signals are handled by `stop_on_signals`: actix's own handler treats SIGINT as an
        // immediate stop, and we want both SIGINT and SIGTERM to drain in-flight requests.
        .disable_signals()
        .shutdown_timeout(settings.server().shutdown_timeout().as_secs());
        if let Some(workers) = settings.server().workers() {
            server = server.workers(workers);
        }

        let server = server.run();
        audit.emit(&audit::server_started()).map_err(AuditSetupError::from)?;
        Ok(Self { port: local.port(), host: local.ip().to_string(), server, db, audit })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://host:port` of the listener.
    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
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

    /// Serves until stopped, then records `ServerStopped`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Emit logs the failure itself; the server has stopped either way.
        let _ = self.audit.emit(&audit::server_stopped());
        result
    }
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(BODY_LIMIT).error_handler(|err, _req| {
        let code = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ErrorCode::PayloadTooLarge
            }
            JsonPayloadError::ContentType => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::InvalidJson,
        };
        AppError::with_cause(code, err.to_string()).into()
    })
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
