//! Per-client rate limits: a strict quota on the sign-in routes, a generous one on every other route,
//! counted in Redis when `REDIS_URL` is set ([`shared`], so several instances share one quota) and in
//! memory with actix-governor's limiter otherwise, or while Redis does not answer. Each route declares its [`Quota`] and the middleware sits on the matched
//! resource, so what counts is the route the router chose, never a spelling of the path
//! (`/auth/logi%6E` is the login route and is counted as such). Requests that match no route are
//! answered 404 by the default service without touching a quota.

use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::clock::{Clock, DefaultClock};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, Error};
use futures_util::future::LocalBoxFuture;

use crate::metrics::{Metrics, FALLBACKS};
use crate::{ApiError, TrustedProxies};

pub mod shared;
pub use shared::SharedTier;
use shared::Verdict;

/// Which quota a route is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// The sign-in routes: the ones that check passwords or secrets (`RATE_LIMIT_AUTH_*`).
    Auth,
    /// Every other route (`RATE_LIMIT_API_*`).
    Api,
}

/// The key of a client: its address, with IPv6 addresses cut to their /64, since one subscriber
/// usually holds a whole /64 and could otherwise rotate through 2^64 keys.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
    }
}

/// Keys requests by client address (honouring `TRUSTED_PROXIES`).
#[derive(Debug, Clone)]
pub struct ClientKey {
    proxies: Arc<TrustedProxies>,
}

impl ClientKey {
    /// A key extractor trusting `X-Forwarded-For` from these proxies only.
    pub fn new(proxies: TrustedProxies) -> Self {
        ClientKey {
            proxies: Arc::new(proxies),
        }
    }
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        self.proxies
            .client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
            .map(client_key)
            .ok_or_else(|| SimpleKeyExtractionError::new("no client address"))
    }
}

/// One quota's in-memory state: a token every `period`, at most `burst` at once, per client key.
pub type ClientGovernor = GovernorConfig<ClientKey, NoOpMiddleware>;

/// One quota's parameters, shared by both tiers.
#[derive(Clone, Copy)]
struct QuotaParams {
    name: &'static str,
    interval: Duration,
    burst: u32,
}

/// Both quotas, built once and shared by every worker: in memory (actix-governor's limiter state
/// lives behind an `Arc`), and in Redis when `REDIS_URL` is set.
#[derive(Clone)]
pub struct RateLimits {
    enabled: bool,
    keys: ClientKey,
    auth: (ClientGovernor, QuotaParams),
    api: (ClientGovernor, QuotaParams),
    shared: Option<SharedTier>,
}

impl RateLimits {
    /// Quotas of `auth_per_min` (burst `auth_burst`) on sign-in routes and `api_per_sec` (burst
    /// `api_burst`) on the others; `None` when a rate or burst is zero.
    pub fn new(
        enabled: bool,
        proxies: &TrustedProxies,
        auth: (u32, u32),
        api: (u32, u32),
    ) -> Option<RateLimits> {
        let build = |name: &'static str, period: Duration, burst: u32| {
            let period = period.max(Duration::from_nanos(1));
            let config = GovernorConfigBuilder::default()
                .period(period)
                .burst_size(burst)
                .key_extractor(ClientKey::new(proxies.clone()))
                .finish()?;
            Some((
                config,
                QuotaParams {
                    name,
                    interval: period,
                    burst,
                },
            ))
        };
        let (auth_per_min, auth_burst) = auth;
        let (api_per_sec, api_burst) = api;
        Some(RateLimits {
            enabled,
            keys: ClientKey::new(proxies.clone()),
            auth: build(
                "auth",
                Duration::from_secs(60).checked_div(auth_per_min)?,
                auth_burst,
            )?,
            api: build("api", Duration::from_secs(1).checked_div(api_per_sec)?, api_burst)?,
            shared: None,
        })
    }

    /// Counts in Redis first (see [`shared`]); the in-memory limiters decide while it does not answer.
    pub fn with_shared(mut self, shared: SharedTier) -> RateLimits {
        self.shared = Some(shared);
        self
    }

    /// The shared tier, when there is one.
    pub fn shared(&self) -> Option<&SharedTier> {
        self.shared.as_ref()
    }

    /// The middleware for a resource whose routes are held to `quota`.
    pub fn for_routes(&self, quota: Quota) -> QuotaMiddleware {
        QuotaMiddleware {
            limits: self.clone(),
            quota,
        }
    }

    fn quota(&self, quota: Quota) -> &(ClientGovernor, QuotaParams) {
        match quota {
            Quota::Auth => &self.auth,
            Quota::Api => &self.api,
        }
    }

    /// `Ok(())` when the request may go on; `Err(wait)` when it is refused for that long; and whether
    /// Redis decided (false: the in-memory tier did).
    async fn check(&self, quota: Quota, client: IpAddr) -> (Result<(), Duration>, bool) {
        let (governor, params) = self.quota(quota);
        if let Some(shared) = self.shared.as_ref().filter(|s| s.usable()) {
            match shared
                .check(params.name, client, params.interval, params.burst)
                .await
            {
                Some(Verdict::Allowed) => return (Ok(()), true),
                Some(Verdict::Refused(wait)) => return (Err(wait), true),
                // Redis did not answer: this request is counted in memory, like every request
                // until Redis answers again.
                None => {}
            }
        }
        let decided = governor
            .limiter()
            .check_key(&client)
            .map_err(|negative| negative.wait_time_from(DefaultClock::default().now()));
        (decided, false)
    }

    /// Forgets clients whose allowance has fully recovered, so the limiters' memory follows the
    /// clients of the last few minutes rather than every address ever seen.
    pub fn forget_idle(&self) -> usize {
        let mut forgotten = 0;
        for (config, _) in [&self.auth, &self.api] {
            let limiter = config.limiter();
            let before = limiter.len();
            limiter.retain_recent();
            limiter.shrink_to_fit();
            forgotten += before.saturating_sub(limiter.len());
        }
        forgotten
    }
}

/// The 429 of a refused request.
fn refusal(wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        code: "rate_limited",
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// The middleware that holds one resource's routes to their quota (a no-op with
/// `RATE_LIMIT_ENABLED=false`). A refusal is answered here, before any credential is checked.
#[derive(Clone)]
pub struct QuotaMiddleware {
    limits: RateLimits,
    quota: Quota,
}

impl<S, B> Transform<S, ServiceRequest> for QuotaMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = QuotaService<S>;
    type InitError = ();
    type Future = Ready<Result<QuotaService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(QuotaService {
            service: Rc::new(service),
            limits: Rc::new(self.limits.clone()),
            quota: self.quota,
        }))
    }
}

/// [`QuotaMiddleware`] around one resource.
pub struct QuotaService<S> {
    service: Rc<S>,
    // Shared by the requests of one worker: a request clones a pointer, not the limiters' handles.
    limits: Rc<RateLimits>,
    quota: Quota,
}

impl<S, B> Service<ServiceRequest> for QuotaService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let limits = Rc::clone(&self.limits);
        let quota = self.quota;
        Box::pin(async move {
            if limits.enabled {
                let client = limits.keys.extract(&req).map_err(Error::from)?;
                let (decided, by_redis) = limits.check(quota, client).await;
                if limits.shared.is_some() && !by_redis {
                    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
                        metrics.total_increment(FALLBACKS);
                    }
                }
                if let Err(wait) = decided {
                    return Ok(req.error_response(refusal(wait)).map_into_right_body());
                }
            }
            service.call(req).await.map(ServiceResponse::map_into_left_body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn recovered_clients_are_forgotten() {
        let proxies = TrustedProxies(Vec::new());
        // 1000 a second: a client is fully recovered a few milliseconds after its request.
        let limits = RateLimits::new(true, &proxies, (60_000, 1), (1000, 1)).unwrap();
        let limiter = limits.api.0.limiter();
        for n in 0..50u8 {
            let ip = IpAddr::from([10, 0, 0, n]);
            assert!(limiter.check_key(&ip).is_ok());
        }
        assert_eq!(limiter.len(), 50);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(limits.forget_idle(), 50);
        assert_eq!(limiter.len(), 0);
    }
}
