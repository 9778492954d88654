//! The rate limits directly on the MIT-licensed governor crate (the default build, without the
//! opt-in `actix-governor` feature): the same quotas, keys and 429 answers as the
//! actix-governor layers, in one middleware.

use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use governor::DefaultKeyedRateLimiter;
use governor::clock::Clock;
use sec_config::Settings;

use super::{
    EmptyQuota, HOUSEKEEPING_INTERVAL, is_auth_request, is_csp_report_path, key_of, quotas,
    too_many_requests,
};

/// The three limiters, shared by every worker.
#[derive(Debug, Clone)]
pub struct Limiter {
    enabled: bool,
    general: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    auth: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    csp_report: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Limiter {
    /// Builds the limiters from `rate_limit.*`.
    pub fn new(settings: &Settings) -> Result<Self, EmptyQuota> {
        let quotas = quotas(settings);
        Ok(Self {
            enabled: settings.rate_limit().enabled(),
            general: Arc::new(DefaultKeyedRateLimiter::keyed(quotas.general)),
            auth: Arc::new(DefaultKeyedRateLimiter::keyed(quotas.auth)),
            csp_report: Arc::new(DefaultKeyedRateLimiter::keyed(quotas.csp_report)),
        })
    }

    /// `Err(wait)` when the request is over a limit.
    fn check(&self, req: &ServiceRequest) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let key = key_of(req);
        let path = req.match_info().as_str();
        let limiters = [
            Some(&self.general),
            is_auth_request(req.method(), path).then_some(&self.auth),
            is_csp_report_path(path).then_some(&self.csp_report),
        ];
        for limiter in limiters.into_iter().flatten() {
            if let Err(not_until) = limiter.check_key(&key) {
                return Err(not_until.wait_time_from(limiter.clock().now()));
            }
        }
        Ok(())
    }

    /// Starts a task on the current runtime that drops quiet clients' buckets every minute,
    /// until the limiters are dropped.
    pub fn spawn_housekeeping(&self) {
        let limiters = [&self.general, &self.auth, &self.csp_report].map(Arc::downgrade);
        actix_web::rt::spawn(async move {
            loop {
                actix_web::rt::time::sleep(HOUSEKEEPING_INTERVAL).await;
                for limiter in &limiters {
                    // All three are dropped together, with the `Limiter`.
                    let Some(limiter) = Weak::upgrade(limiter) else { return };
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        });
    }
}

/// Middleware: 429 when the client is over a limit; register the [`Limiter`] as
/// `web::Data<Limiter>`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let verdict = req.app_data::<web::Data<Limiter>>().map_or(Ok(()), |l| l.check(&req));
    match verdict {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Err(wait) => Ok(req.into_response(too_many_requests(wait))),
    }
}
