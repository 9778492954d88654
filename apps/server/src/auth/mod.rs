//! The app's side of `sec-auth`: builds the rules from the settings on the database and the
//! audit trail, runs them off the async workers, and speaks HTTP for them (the session cookie,
//! the extractors that authenticate a request and check a permission, error mapping).

mod extract;
mod sealer;

use std::num::NonZeroUsize;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use sec_audit::{Actor, AuditEvent, AuditRecord, AuditTrail};
use sec_auth::{
    Auth, AuthConfig, AuthError, Clock, CredentialHasher, MfaPolicy, NoSealer, PooledHasher,
    Principal, RequestMeta, SecretSealer, SessionPolicy, StoreError, SystemClock, ThrottlePolicy,
};
use sec_config::Settings;
use sec_core::{HashParams, HashingPool, PasswordHasher, PasswordPolicy};

pub use extract::{
    AnySession, CurrentSession, FORM_TOKEN_FIELD, FactorChange, FactorChangeForm,
    FactorChangeSession, FormRule, MfaChallengeCookie, PermissionMarker, Permitted, PermittedForm,
    PublicForm, Recent, RecentSession, RecentVerifiedForm, Require, VerifiedForm, auth_service,
    form_token, perm, public_form_token, session_cookie_value, session_cookies,
};
pub use sealer::KeyRingSealer;

use crate::db::{Db, DbAuthStore};
use crate::http::client_ip::ClientAddr;
use crate::http::cookies::{MFA_COOKIE, SESSION_COOKIE};
use crate::http::error::{AppError, ErrorCode, FieldError};
use crate::http::request_id;

/// Parts of the rules a test (or a fork) may replace.
#[derive(Clone, Default)]
pub struct AuthOverrides {
    /// The clock, instead of the system's.
    pub clock: Option<Arc<dyn Clock>>,
    /// The password hasher, instead of Argon2id from the settings.
    pub hasher: Option<Arc<dyn CredentialHasher>>,
}

impl std::fmt::Debug for AuthOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOverrides")
            .field("clock", &self.clock.is_some())
            .field("hasher", &self.hasher.is_some())
            .finish()
    }
}

/// The auth setup could not be built from the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthSetupError {
    /// Argon2 parameters out of range.
    #[error("password hashing parameters: {0}")]
    Hashing(#[from] sec_core::HashConfigError),
    /// Password policy out of range.
    #[error("password policy: {0}")]
    Policy(#[from] sec_core::PolicyConfigError),
}

/// The rules, shared by every worker.
pub type AuthService = Arc<Auth>;

/// Builds the rules from the settings, over `db`, writing audit events to `audit`.
///
/// # Errors
/// [`AuthSetupError`] for hashing or policy settings out of range.
pub fn build(
    settings: &Settings,
    db: &Db,
    audit: &AuditTrail,
    overrides: &AuthOverrides,
) -> Result<AuthService, AuthSetupError> {
    let a = settings.auth();
    let hasher = match &overrides.hasher {
        Some(h) => h.clone(),
        None => {
            let params = HashParams::new(
                a.argon2_memory_kib(),
                a.argon2_iterations(),
                a.argon2_parallelism(),
            )?;
            let slots = hashing_slots(settings);
            let pool =
                HashingPool::with_queue(PasswordHasher::new(params, None), slots, a.hash_queue());
            Arc::new(PooledHasher::new(pool, a.hash_wait())) as Arc<dyn CredentialHasher>
        }
    };
    let clock = overrides.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    let config = AuthConfig {
        sessions: SessionPolicy {
            idle_secs: i64::try_from(a.session_idle_timeout_secs()).unwrap_or(i64::MAX),
            absolute_secs: i64::try_from(a.session_absolute_timeout_secs()).unwrap_or(i64::MAX),
            max_per_account: a.max_sessions_per_account(),
            // From the settings, which checked the idle timeout against this very value.
            touch_interval_secs: i64::try_from(a.session_touch_interval_secs()).unwrap_or(60),
        },
        password_policy: Arc::new(PasswordPolicy::new(a.password_min_chars())?),
        throttle: ThrottlePolicy {
            base_delay_secs: i64::try_from(a.throttle_base_delay_secs()).unwrap_or(1),
            max_delay_secs: i64::try_from(a.throttle_max_delay_secs()).unwrap_or(900),
            account_hard_limit: a.throttle_hard_limit(),
            reset_after_secs: i64::try_from(a.throttle_reset_secs()).unwrap_or(86_400),
            ..ThrottlePolicy::default()
        },
        reauth_window_secs: i64::try_from(a.reauth_window_secs()).unwrap_or(i64::MAX),
        admin_requires_mfa: a.admin_requires_mfa(),
        lifecycle: sec_auth::LifecyclePolicy {
            verify_email_ttl_secs: i64::try_from(a.verify_email_ttl_secs()).unwrap_or(i64::MAX),
            reset_ttl_secs: i64::try_from(a.password_reset_ttl_secs()).unwrap_or(i64::MAX),
            require_verified_email: a.require_verified_email(),
        },
        mfa: MfaPolicy { issuer: a.totp_issuer().to_owned(), ..MfaPolicy::default() },
        ..AuthConfig::default()
    };
    let sealer: Arc<dyn SecretSealer> = match a.mfa_keys() {
        Some(ring) => Arc::new(KeyRingSealer::new(ring.clone())),
        None => {
            tracing::warn!(
                "no MFA key is configured (auth.mfa_keys): TOTP enrollment and sign-in with a \
                 second factor are unavailable, and so is administration while \
                 auth.admin_requires_mfa is on"
            );
            Arc::new(NoSealer)
        }
    };
    let auth = Auth::new(
        Arc::new(DbAuthStore::new(db.clone())),
        hasher,
        clock,
        Arc::new(TrailSink(audit.clone())),
        config,
    )
    .with_sealer(sealer);
    Ok(Arc::new(auth))
}

/// Concurrent password hashes: `auth.hash_concurrency`, or by default one per core, but one
/// core is left for everything else when there are several, so that a login flood slows
/// logins down instead of every request.
pub fn hashing_slots(settings: &Settings) -> NonZeroUsize {
    settings.auth().hash_concurrency().and_then(NonZeroUsize::new).unwrap_or_else(|| {
        let cores = sec_core::default_max_concurrent_hashes().get();
        NonZeroUsize::new(cores.saturating_sub(1)).unwrap_or(NonZeroUsize::MIN)
    })
}

/// Audit events from the rules go to the hash-chained trail. A failed write is logged (the
/// trail reports it too) and does not fail the user's request.
struct TrailSink(AuditTrail);

impl sec_auth::AuditSink for TrailSink {
    fn record(&self, record: AuditRecord) {
        if let Err(e) = self.0.emit(&record) {
            tracing::error!(error = %e, "audit event could not be written");
        }
    }
}

/// What the rules need to know about `req`: client address (the [`ClientAddr`] resolved once
/// for the request, so the throttle, session records and the audit trail all see the client
/// behind a trusted proxy, never the proxy), `User-Agent`, request id.
pub fn request_meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        ip: ClientAddr::of(req),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: request_id::current(),
    }
}

/// Records `event`, done by the signed-in user of `principal` in request `req`, in the audit
/// trail: for what the app does itself, outside the rules (deleting a note). Actor, source
/// address and request id are filled in as the rules fill them ([`RequestMeta::audit`]); the
/// write (a file append under the trail's lock) runs on the blocking pool, in the request's
/// span. Call it once the action has happened: a failed write is logged, as the rules' are,
/// and does not fail the request.
pub async fn audit_user_action(req: &HttpRequest, principal: &Principal, event: AuditEvent) {
    let Some(trail) = req.app_data::<actix_web::web::Data<AuditTrail>>() else {
        tracing::error!(event = event.name(), "no audit trail in the app: event NOT recorded");
        return;
    };
    let sink = TrailSink(trail.get_ref().clone());
    let record = request_meta(req).audit(event, Actor::User(principal.user.id.into()));
    let written = crate::blocking::run(move || sec_auth::AuditSink::record(&sink, record)).await;
    if written.is_err() {
        tracing::error!("the audit task failed: event NOT recorded");
    }
}

/// Runs blocking rule code on the blocking thread pool, carrying the request's span.
///
/// # Errors
/// The rule's refusal, as an [`AppError`].
pub async fn blocking<T, F>(work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AuthError> + Send + 'static,
    T: Send + 'static,
{
    crate::blocking::run(work)
        .await
        .map_err(|_| AppError::internal("auth task failed"))?
        .map_err(AppError::from)
}

/// Admission of the requests that hash a password before they take a blocking thread: a
/// login or registration runs only while it holds one of `slots + auth.hash_queue` permits,
/// shared by every worker, and is answered 503 `busy` at once when none is free.
///
/// The hashing pool refuses the same requests itself, but only once they run on a blocking
/// thread; tokio queues blocking work without limit behind its bounded threads, so a flood of
/// logins queued there ahead of everything else, and every database call of other requests
/// (`GET /api/v1/me`) waited behind it. Admitted here, at most `slots + hash_queue` logins and
/// registrations are on blocking threads at once, fewer than one worker's thread bound
/// (`startup::blocking_threads_per_worker`), so database work always finds a thread.
#[derive(Debug, Clone)]
pub struct HashAdmission(Arc<tokio::sync::Semaphore>);

impl HashAdmission {
    /// Permits for `slots + auth.hash_queue` requests.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(hashing_slots(settings).get().saturating_add(settings.auth().hash_queue()))
    }

    fn new(permits: usize) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(permits)))
    }

    fn try_admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        self.0.clone().try_acquire_owned().map_err(|_| AppError::from(AuthError::Busy))
    }
}

/// [`blocking`] for rule code that hashes a password (login, registration): admitted by the
/// app's [`HashAdmission`] first, or answered 503 `busy` without taking a thread. An app built
/// without one (some tests) runs the work unadmitted.
///
/// # Errors
/// [`AuthError::Busy`] as 503 when no permit is free; otherwise as [`blocking`].
pub async fn blocking_hashing<T, F>(req: &HttpRequest, work: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, AuthError> + Send + 'static,
    T: Send + 'static,
{
    let permit = match req.app_data::<actix_web::web::Data<HashAdmission>>() {
        Some(admission) => Some(admission.try_admit()?),
        None => None,
    };
    let result = blocking(work).await;
    drop(permit);
    result
}

/// The session cookie carrying `token`: `__Host-`, Secure, HttpOnly, SameSite=Lax, Path=/,
/// no Domain, and no Max-Age (it ends with the browser session; the server enforces the real
/// timeouts).
pub fn session_cookie(token: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that deletes the session cookie in the browser.
pub fn clearing_cookie() -> Cookie<'static> {
    let mut cookie = session_cookie("");
    cookie.set_max_age(CookieDuration::ZERO);
    cookie
}

/// The cookie of a login waiting for its second factor: the same attributes as the session
/// cookie (`__Host-`, Secure, HttpOnly, Path=/), SameSite=Strict (it is only ever sent by
/// this site's own sign-in page), and a Max-Age matching the server-side expiry.
pub fn mfa_cookie(token: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(MFA_COOKIE, token.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(max_age_secs.max(0)))
        .finish()
}

/// A cookie that deletes the pending-MFA cookie in the browser.
pub fn clearing_mfa_cookie() -> Cookie<'static> {
    mfa_cookie("", 0)
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(problems) => AppError::validation(
                problems.into_iter().map(|p| FieldError::new(p.field, p.code, p.message)).collect(),
            ),
            AuthError::InvalidCredentials => AppError::new(ErrorCode::InvalidCredentials),
            AuthError::Throttled { retry_after_secs } => AppError::too_many_requests(
                std::time::Duration::from_secs(u64::try_from(retry_after_secs).unwrap_or(1)),
            ),
            AuthError::Unauthenticated => AppError::new(ErrorCode::Unauthorized),
            AuthError::Forbidden => AppError::new(ErrorCode::Forbidden),
            AuthError::NotFound => AppError::new(ErrorCode::NotFound),
            AuthError::LastAdmin => AppError::new(ErrorCode::LastAdmin),
            AuthError::Busy => AppError::busy(std::time::Duration::from_secs(1)),
            AuthError::ReauthRequired => AppError::new(ErrorCode::ReauthRequired),
            AuthError::MfaRequired => AppError::new(ErrorCode::MfaRequired),
            AuthError::MfaNotEnabled => AppError::new(ErrorCode::MfaNotEnabled),
            AuthError::MfaUnavailable => AppError::new(ErrorCode::MfaUnavailable),
            AuthError::InvalidToken => AppError::new(ErrorCode::InvalidToken),
            AuthError::EmailUnverified => AppError::new(ErrorCode::EmailUnverified),
            AuthError::Store(StoreError::Unavailable(cause)) => {
                AppError::with_cause(ErrorCode::DatabaseUnavailable, cause)
            }
            AuthError::Store(other) => AppError::internal(other),
            other => AppError::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use actix_web::ResponseError;
    use actix_web::http::StatusCode;

    use super::HashAdmission;

    #[test]
    fn admission_refuses_beyond_its_permits_as_busy_and_a_finished_request_frees_one() {
        let admission = HashAdmission::new(2);
        let first = admission.try_admit().unwrap();
        let _second = admission.try_admit().unwrap();
        let refused = admission.try_admit().unwrap_err();
        assert_eq!(refused.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.error_response().headers().contains_key("retry-after"));
        drop(first);
        assert!(admission.try_admit().is_ok(), "a released permit admits the next request");
    }
}
