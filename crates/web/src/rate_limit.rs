//! Per-client rate limits with actix-governor: a strict quota on the sign-in routes, a generous one on
//! every other route. Each route declares its [`Quota`] and the middleware sits on the matched
//! resource, so what counts is the route the router chose, never a spelling of the path
//! (`/auth/logi%6E` is the login route and is counted as such). Requests that match no route are
//! answered 404 by the default service without touching a quota.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::governor::NotUntil;
use actix_governor::{
    Governor, GovernorConfig, GovernorConfigBuilder, KeyExtractor, SimpleKeyExtractionError,
};
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::middleware::Condition;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};

use crate::{ApiError, TrustedProxies};

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

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = ApiError::TooManyRequests {
            code: "rate_limited",
            retry_after_secs,
        }
        .error_response();
        response
            .headers_mut()
            .remove(header::HeaderName::from_static("x-ratelimit-after"));
        response
    }
}

/// One quota's shared state: a token every `period`, at most `burst` at once, per client key.
pub type ClientGovernor = GovernorConfig<ClientKey, NoOpMiddleware>;

/// The middleware that enforces one quota, switched off with `RATE_LIMIT_ENABLED=false`.
pub type QuotaMiddleware = Condition<Governor<ClientKey, NoOpMiddleware>>;

/// Both quotas, built once and shared by every worker (the limiter state lives behind an `Arc`).
#[derive(Clone)]
pub struct RateLimits {
    enabled: bool,
    auth: ClientGovernor,
    api: ClientGovernor,
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
        let build = |period: Duration, burst: u32| {
            GovernorConfigBuilder::default()
                .period(period.max(Duration::from_nanos(1)))
                .burst_size(burst)
                .key_extractor(ClientKey::new(proxies.clone()))
                .finish()
        };
        let (auth_per_min, auth_burst) = auth;
        let (api_per_sec, api_burst) = api;
        Some(RateLimits {
            enabled,
            auth: build(Duration::from_secs(60).checked_div(auth_per_min)?, auth_burst)?,
            api: build(Duration::from_secs(1).checked_div(api_per_sec)?, api_burst)?,
        })
    }

    /// The middleware for a resource whose routes are held to `quota`.
    pub fn for_routes(&self, quota: Quota) -> QuotaMiddleware {
        let config = match quota {
            Quota::Auth => &self.auth,
            Quota::Api => &self.api,
        };
        Condition::new(self.enabled, Governor::new(config))
    }

    /// Forgets clients whose allowance has fully recovered, so the limiters' memory follows the
    /// clients of the last few minutes rather than every address ever seen.
    pub fn forget_idle(&self) -> usize {
        let mut forgotten = 0;
        for config in [&self.auth, &self.api] {
            let limiter = config.limiter();
            let before = limiter.len();
            limiter.retain_recent();
            limiter.shrink_to_fit();
            forgotten += before.saturating_sub(limiter.len());
        }
        forgotten
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
        let limiter = limits.api.limiter();
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
