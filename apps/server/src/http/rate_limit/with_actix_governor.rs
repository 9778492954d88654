//! The rate limits on the actix-governor middleware (feature `actix-governor`, GPL-3.0-or-later).
//!
//! Three `Governor` layers share one limiter each across all workers: the general one keyed by
//! client address, and the authentication and CSP report ones, whose key extractor gives every
//! request outside their paths the key `None`, which it whitelists. Our extractors also write
//! the 429 body, so it is the same JSON error (with the request id) as every other error.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Weak};

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{Governor, GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::middleware::Condition;
use actix_web::{HttpResponse, HttpResponseBuilder};
use governor::Quota;
use sec_config::Settings;

use super::{
    EmptyQuota, HOUSEKEEPING_INTERVAL, is_auth_request, is_csp_report_path, key_of, quotas,
    too_many_requests,
};

/// Keys every request by its client address.
#[derive(Debug, Clone)]
pub struct GeneralKey {
    clock: DefaultClock,
}

impl KeyExtractor for GeneralKey {
    type Key = IpAddr;
    type KeyExtractionError = Infallible;

    fn extract(&self, req: &ServiceRequest) -> Result<Self::Key, Self::KeyExtractionError> {
        Ok(key_of(req))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        too_many_requests(negative.wait_time_from(self.clock.now()))
    }
}

/// Keys the requests to some paths by client address (`/api/v1/auth/*` and the auth forms for the authentication
/// bucket, `/csp-report` for the CSP report one); every other request gets `None`, which is
/// whitelisted.
#[derive(Debug, Clone)]
pub struct ScopedKey {
    clock: DefaultClock,
    /// Whether a request (its method, and its path as the router matches it) is one of this
    /// bucket's.
    applies_to: fn(&actix_web::http::Method, &str) -> bool,
}

impl KeyExtractor for ScopedKey {
    type Key = Option<IpAddr>;
    type KeyExtractionError = Infallible;

    fn extract(&self, req: &ServiceRequest) -> Result<Self::Key, Self::KeyExtractionError> {
        Ok((self.applies_to)(req.method(), req.match_info().as_str()).then(|| key_of(req)))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        too_many_requests(negative.wait_time_from(self.clock.now()))
    }

    // actix-governor asks for this list on every request; one element is cheap.
    fn whitelisted_keys(&self) -> Vec<Self::Key> {
        vec![None]
    }
}

/// The three limiters, shared by every worker.
#[derive(Debug, Clone)]
pub struct Limiter {
    enabled: bool,
    general: GovernorConfig<GeneralKey, NoOpMiddleware<QuantaInstant>>,
    auth: GovernorConfig<ScopedKey, NoOpMiddleware<QuantaInstant>>,
    csp_report: GovernorConfig<ScopedKey, NoOpMiddleware<QuantaInstant>>,
}

impl Limiter {
    /// Builds the limiters from `rate_limit.*`.
    pub fn new(settings: &Settings) -> Result<Self, EmptyQuota> {
        // For the Retry-After of refusals. Made once: creating a quanta clock runs CPUID,
        // which a virtual machine traps, and one per refusal made a flood of refused requests
        // cost twice as much CPU as the same flood served.
        let clock = DefaultClock::default();
        let quotas = quotas(settings);
        let scoped = |applies_to| ScopedKey { clock: clock.clone(), applies_to };
        Ok(Self {
            enabled: settings.rate_limit().enabled(),
            general: config(quotas.general, GeneralKey { clock: clock.clone() })?,
            auth: config(quotas.auth, scoped(is_auth_request))?,
            csp_report: config(quotas.csp_report, scoped(|_, path| is_csp_report_path(path)))?,
        })
    }

    /// The general layer, for `App::wrap`.
    pub fn general(&self) -> Condition<Governor<GeneralKey, NoOpMiddleware<QuantaInstant>>> {
        Condition::new(self.enabled, Governor::new(&self.general))
    }

    /// The authentication layer, for `App::wrap` inside [`Limiter::general`].
    pub fn auth(&self) -> Condition<Governor<ScopedKey, NoOpMiddleware<QuantaInstant>>> {
        Condition::new(self.enabled, Governor::new(&self.auth))
    }

    /// The CSP report layer, for `App::wrap` inside [`Limiter::general`].
    pub fn csp_report(&self) -> Condition<Governor<ScopedKey, NoOpMiddleware<QuantaInstant>>> {
        Condition::new(self.enabled, Governor::new(&self.csp_report))
    }

    /// Starts a task on the current runtime that drops quiet clients' buckets every minute,
    /// until the limiters are dropped.
    pub fn spawn_housekeeping(&self) {
        let general = Arc::downgrade(&self.general.limiter());
        let scoped = [&self.auth, &self.csp_report].map(|c| Arc::downgrade(&c.limiter()));
        actix_web::rt::spawn(async move {
            loop {
                actix_web::rt::time::sleep(HOUSEKEEPING_INTERVAL).await;
                // All three are dropped together, with the `Limiter`.
                let Some(general) = Weak::upgrade(&general) else { return };
                general.retain_recent();
                general.shrink_to_fit();
                for limiter in &scoped {
                    let Some(limiter) = Weak::upgrade(limiter) else { return };
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        });
    }
}

fn config<K: KeyExtractor>(
    quota: Quota,
    key: K,
) -> Result<GovernorConfig<K, NoOpMiddleware<QuantaInstant>>, EmptyQuota> {
    GovernorConfigBuilder::default()
        .key_extractor(key)
        .period(quota.replenish_interval())
        .burst_size(quota.burst_size().get())
        .finish()
        .ok_or(EmptyQuota)
}
