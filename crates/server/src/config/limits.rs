//! Per-client rate limits and the proxies trusted to name the client (`RATE_LIMIT_*`,
//! `TRUSTED_PROXIES`).

use ipnet::IpNet;

use super::reader::Reader;

/// Per-client request quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `RATE_LIMIT_ENABLED`.
    pub enabled: bool,
    /// `RATE_LIMIT_AUTH_PER_MIN`.
    pub auth_per_min: u32,
    /// `RATE_LIMIT_AUTH_BURST`.
    pub auth_burst: u32,
    /// `RATE_LIMIT_API_PER_SEC`.
    pub api_per_sec: u32,
    /// `RATE_LIMIT_API_BURST`.
    pub api_burst: u32,
}

/// `TRUSTED_PROXIES` ranges shorter than these are refused in production: a /8 is the widest private
/// IPv4 network (10.0.0.0/8), and no real proxy fleet spans more than a /16 of IPv6; anything wider is
/// a typo or "trust everyone" (0.0.0.0/0, ::/0), which lets any client pick its rate-limit bucket.
pub(super) const TRUSTED_V4_MIN_PREFIX: u8 = 8;
pub(super) const TRUSTED_V6_MIN_PREFIX: u8 = 16;

impl Reader<'_> {
    pub(super) fn rate_limits(&mut self) -> RateLimits {
        let enabled = match self
            .get("RATE_LIMIT_ENABLED")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                self.problem(format!("RATE_LIMIT_ENABLED must be true or false, not {other:?}"));
                true
            }
        };
        let mut positive = |name: &str, default: u32| {
            let value = self
                .parse(name, Some(default), "a positive number")
                .unwrap_or(default);
            if value == 0 {
                self.problem(format!("{name} must be at least 1"));
            }
            value.max(1)
        };
        RateLimits {
            enabled,
            auth_per_min: positive("RATE_LIMIT_AUTH_PER_MIN", 30),
            auth_burst: positive("RATE_LIMIT_AUTH_BURST", 10),
            api_per_sec: positive("RATE_LIMIT_API_PER_SEC", 100),
            api_burst: positive("RATE_LIMIT_API_BURST", 200),
        }
    }

    pub(super) fn trusted_proxies(&mut self) -> Vec<IpNet> {
        let mut nets = Vec::new();
        for entry in self.list("TRUSTED_PROXIES") {
            let parsed = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => nets.push(net),
                Err(_) => self.problem(format!(
                    "TRUSTED_PROXIES: {entry:?} is not an address or CIDR range"
                )),
            }
        }
        nets
    }
}

/// Whether a trusted range is so wide that almost any client could name its own address.
pub(super) fn too_broad(net: &IpNet) -> bool {
    match net {
        IpNet::V4(v4) => v4.prefix_len() < TRUSTED_V4_MIN_PREFIX,
        // ::ffff:0:0/96 is all of IPv4 written as IPv6: judge such a range by its IPv4 part.
        IpNet::V6(v6) if v6.prefix_len() >= 96 && v6.network().to_ipv4_mapped().is_some() => {
            v6.prefix_len() - 96 < TRUSTED_V4_MIN_PREFIX
        }
        IpNet::V6(v6) => v6.prefix_len() < TRUSTED_V6_MIN_PREFIX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxy_ranges_wider_than_a_slash_8_or_slash_16_are_too_broad() {
        for (net, broad) in [
            ("0.0.0.0/0", true),
            ("10.0.0.0/7", true),
            ("10.0.0.0/8", false),
            ("192.168.1.10/32", false),
            ("::/0", true),
            ("fc00::/7", true),
            ("2001:db8::/16", false),
            ("2001:db8::/32", false),
            ("::ffff:0:0/96", true),
            ("::ffff:10.0.0.0/104", false),
        ] {
            let parsed: IpNet = net.parse().unwrap();
            assert_eq!(too_broad(&parsed), broad, "{net}");
        }
    }
}
