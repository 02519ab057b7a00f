//! Per-client rate limits with actix-governor: a strict quota on the sign-in routes, a generous one on
//! the rest. Both limiters sit on the whole app; each one's key extractor marks the requests it does
//! not govern as exempt (a whitelisted key), so one route list decides which quota applies.

use std::net::IpAddr;
use std::sync::Arc;

use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::NotUntil;
use actix_governor::{KeyExtractor, SimpleKeyExtractionError};
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};

use crate::{ApiError, TrustedProxies};

/// Paths (under `/api/v1`) held to the sign-in quota: the ones that check passwords or secrets.
const AUTH_PATHS: [&str; 6] = [
    "/auth/signup",
    "/auth/login",
    "/auth/refresh",
    "/auth/oauth/exchange",
    "/auth/github/",
    "/invitations/accept",
];

/// Whether a request path is governed by the sign-in quota.
pub fn is_auth_path(path: &str) -> bool {
    path.strip_prefix("/api/v1").is_some_and(|rest| {
        AUTH_PATHS
            .iter()
            .any(|p| rest == *p || (p.ends_with('/') && rest.starts_with(p)))
    })
}

/// A limiter's key: the client address, or exempt when the other limiter governs the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// Not governed by this limiter.
    Exempt,
    /// A client address.
    Client(IpAddr),
}

/// Which quota a limiter enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// The sign-in routes.
    Auth,
    /// Every other route.
    Api,
}

/// Keys requests by client address (honouring `TRUSTED_PROXIES`) for one quota.
#[derive(Debug, Clone)]
pub struct ClientKey {
    quota: Quota,
    proxies: Arc<TrustedProxies>,
}

impl ClientKey {
    /// A key extractor for `quota`.
    pub fn new(quota: Quota, proxies: TrustedProxies) -> Self {
        ClientKey {
            quota,
            proxies: Arc::new(proxies),
        }
    }
}

impl KeyExtractor for ClientKey {
    type Key = RateKey;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<RateKey, Self::KeyExtractionError> {
        let governed = match self.quota {
            Quota::Auth => is_auth_path(req.path()),
            Quota::Api => !is_auth_path(req.path()),
        };
        if !governed {
            return Ok(RateKey::Exempt);
        }
        let ip = self
            .proxies
            .client_ip(req.peer_addr().map(|a| a.ip()), req.headers());
        ip.map(RateKey::Client)
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

    fn whitelisted_keys(&self) -> Vec<RateKey> {
        vec![RateKey::Exempt]
    }
}

#[cfg(test)]
mod tests {
    use super::is_auth_path;

    #[test]
    fn sign_in_routes_get_the_strict_quota() {
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/signup",
            "/api/v1/auth/github/authorize",
            "/api/v1/invitations/accept",
        ] {
            assert!(is_auth_path(path), "{path}");
        }
        for path in [
            "/api/v1/me",
            "/api/v1/auth/sessions",
            "/api/v1/auth/logininfo",
            "/healthz",
            "/auth/login",
        ] {
            assert!(!is_auth_path(path), "{path}");
        }
    }
}
