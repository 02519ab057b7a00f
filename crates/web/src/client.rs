//! Who is on the other end of the connection, for sessions, security events, the audit log and the
//! rate limiter.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

use crate::ApiError;

const USER_AGENT_MAX: usize = 512;

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); registered as app data.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address: the TCP peer, or, when the peer is a trusted proxy, the right-most address
    /// of `X-Forwarded-For` that is not itself a trusted proxy. Entries left of that are whatever the
    /// client claimed, so they are never used.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !self.trusts(*ip))
                .unwrap_or(peer),
        )
    }
}

/// The client's address (see [`TrustedProxies::client_ip`]) of a request.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let proxies = req
        .app_data::<web::Data<TrustedProxies>>()
        .map(|p| p.get_ref().clone())
        .unwrap_or_default();
    proxies.client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// The client's IP address and user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address.
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to 512 characters.
    pub user_agent: Option<String>,
}

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ip = client_ip(req).map(|ip| ip.to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(USER_AGENT_MAX).collect());
        ready(Ok(ClientInfo { ip, user_agent }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(xff).unwrap(),
        );
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(Some(ip("203.0.113.9")), &headers("1.2.3.4")),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_wins() {
        let proxies = TrustedProxies(vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.168.1.1/32".parse().unwrap(),
        ]);
        // A client spoofing "1.1.1.1" in front of its real address 198.51.100.7.
        let h = headers("1.1.1.1, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            proxies.client_ip(Some(ip("192.168.1.1")), &h),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.1.1.1")), &headers("garbage")),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.1.1.1")), &HeaderMap::new()),
            Some(ip("10.1.1.1"))
        );
    }
}
