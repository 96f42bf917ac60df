//! Targets refused whatever the blocklist says: those that lead back to kurz itself (a
//! redirect loop, or a short link hiding another short link) and, when the operator asks,
//! private, loopback and link-local address literals and `localhost`.
//!
//! Only literals are judged: kurz never fetches a target, so a name that resolves to a
//! private address harms no one here; the rule keeps links to intranet addresses out of a
//! public service.

use super::host::{HostKind, HostName};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Networks that are not on the public internet.
const PRIVATE_NETWORKS: [IpNet; 12] = [
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(0, 0, 0, 0), 8)), // "this network"
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 8)),
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10)), // carrier-grade NAT
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(169, 254, 0, 0), 16)),
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(172, 16, 0, 0), 12)),
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16)),
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(255, 255, 255, 255), 32)),
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 128)),
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
    )), // unique local
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
    )), // link-local
];

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Blocked,
    OwnHost,
    Private,
}

impl Refusal {
    /// The 422 detail for `original_url`.
    pub fn problem(self) -> &'static str {
        match self {
            Self::Blocked => "leads to a blocked host",
            Self::OwnHost => "leads back to this service (a redirect loop)",
            Self::Private => "leads to a private, loopback or link-local address",
        }
    }

    /// The metric label.
    pub fn rule(self) -> &'static str {
        match self {
            Self::Blocked => "blocklist",
            Self::OwnHost => "own_host",
            Self::Private => "private",
        }
    }
}

/// A name kurz is reached by: a host, and a port when one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnHost {
    host: HostName<'static>,
    port: Option<u16>,
}

impl OwnHost {
    /// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
    fn parse(authority: &str) -> Option<Self> {
        let authority = authority.trim();
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            (&authority[..inside.len() + 2], after.strip_prefix(':'))
        } else if authority.matches(':').count() == 1 {
            let (host, port) = authority.split_once(':')?;
            (host, Some(port))
        } else {
            (authority, None)
        };
        let port = match port {
            Some(port) => Some(port.parse().ok()?),
            None => None,
        };
        Some(Self {
            host: HostName::parse(host)?,
            port,
        })
    }

    /// Without a port, any port of the host matches: behind a proxy the public port is unknown.
    fn matches(&self, host: &HostName<'_>, port: Option<u16>) -> bool {
        self.host == *host && self.port.is_none_or(|own| Some(own) == port)
    }
}

/// The rules of one running service.
#[derive(Debug, Clone, Default)]
pub struct TargetRules {
    public_hosts: Vec<OwnHost>,
    refuse_private: bool,
}

impl TargetRules {
    /// `public_hosts`: comma-separated `host` or `host:port` names (`KURZ_PUBLIC_HOSTS`).
    pub fn new(public_hosts: Option<&str>, refuse_private: bool) -> Result<Self, String> {
        let public_hosts = public_hosts
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| OwnHost::parse(item).ok_or_else(|| format!("'{item}' is not a host")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            public_hosts,
            refuse_private,
        })
    }

    /// Why a target at `host`:`port` (the port it would be reached on) is refused, given
    /// the `Host` the request was sent to.
    pub fn check(
        &self,
        host: &HostName<'_>,
        port: Option<u16>,
        request_host: Option<&str>,
    ) -> Option<Refusal> {
        let from_request = request_host.and_then(OwnHost::parse);
        let mut own = from_request.iter().chain(&self.public_hosts);
        if own.any(|own| own.matches(host, port)) {
            return Some(Refusal::OwnHost);
        }
        if self.refuse_private && is_private(host) {
            return Some(Refusal::Private);
        }
        None
    }
}

/// `localhost` and its subdomains (RFC 6761), and literals in [`PRIVATE_NETWORKS`],
/// including IPv4 addresses written as IPv4-mapped IPv6.
fn is_private(host: &HostName<'_>) -> bool {
    match host.kind() {
        HostKind::Domain => host.with_parents().any(|name| name == "localhost"),
        HostKind::Ip => host.ip().is_some_and(|ip| {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            PRIVATE_NETWORKS.iter().any(|net| net.contains(&ip))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rules: &TargetRules, target: &str, request_host: Option<&str>) -> Option<Refusal> {
        let url = url::Url::parse(target).unwrap_or_else(|e| panic!("{target}: {e}"));
        let host = url
            .host()
            .and_then(HostName::from_url_host)
            .unwrap_or_else(|| panic!("{target} has a host"));
        rules.check(&host, url.port_or_known_default(), request_host)
    }

    fn rules(public_hosts: &str, refuse_private: bool) -> TargetRules {
        TargetRules::new(Some(public_hosts), refuse_private)
            .unwrap_or_else(|e| panic!("valid rules: {e}"))
    }

    #[test]
    fn the_request_host_is_a_redirect_loop_on_its_port() {
        let rules = rules("", false);
        let host = Some("127.0.0.1:5000");
        assert_eq!(
            check(&rules, "http://127.0.0.1:5000/abc", host),
            Some(Refusal::OwnHost)
        );
        assert_eq!(check(&rules, "http://127.0.0.1:8080/abc", host), None);
        assert_eq!(
            check(&rules, "https://Sho.RT/abc", Some("sho.rt")),
            Some(Refusal::OwnHost)
        );
        assert_eq!(
            check(&rules, "https://www.sho.rt/abc", Some("sho.rt")),
            None
        );
    }

    #[test]
    fn configured_public_hosts_are_redirect_loops() {
        let rules = rules("sho.rt, kurz.example:8443, [::1]:5000", false);
        for target in [
            "https://sho.rt/x",
            "http://sho.rt:8080/x",
            "https://kurz.example:8443/",
            "http://[::1]:5000/",
        ] {
            assert_eq!(
                check(&rules, target, None),
                Some(Refusal::OwnHost),
                "{target}"
            );
        }
        for target in [
            "https://kurz.example/",
            "http://[::1]:80/",
            "https://example.com/",
        ] {
            assert_eq!(check(&rules, target, None), None, "{target}");
        }
    }

    #[test]
    fn private_literals_are_refused_only_when_asked() {
        let off = rules("", false);
        let on = rules("", true);
        for target in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://10.1.2.3/",
            "http://172.20.0.1/",
            "http://192.168.1.1:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://localhost:3000/",
            "http://LOCALHOST./",
            "http://app.localhost/",
        ] {
            assert_eq!(check(&off, target, None), None, "{target}");
            assert_eq!(check(&on, target, None), Some(Refusal::Private), "{target}");
        }
        for target in [
            "http://8.8.8.8/",
            "http://172.32.0.1/",
            "http://[2001:db8::1]/",
            "http://localhost.example/",
            "http://mylocalhost/",
        ] {
            assert_eq!(check(&on, target, None), None, "{target}");
        }
    }

    #[test]
    fn bad_public_hosts_are_rejected() {
        assert!(TargetRules::new(Some("ok.example, bad host"), false).is_err());
        assert!(TargetRules::new(Some("ok.example:99999"), false).is_err());
        assert!(TargetRules::new(Some(" , "), false).is_ok());
    }
}
