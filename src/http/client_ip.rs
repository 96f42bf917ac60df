//! Who the client is: the TCP peer, or, when the peer is a trusted proxy, the nearest
//! address in `X-Forwarded-For` that is not itself a trusted proxy. An untrusted peer
//! cannot make kurz believe it is someone else by sending the header.

use super::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Networks whose `X-Forwarded-For` kurz believes (its load balancers).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses or networks: `127.0.0.1,10.0.0.0/8,::1`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{item}' is not an IP address or network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Walk the chain from the nearest hop outwards; the first untrusted hop is the client.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The client's address, worked out when a handler asks for it. `None` when the request did
/// not come over a socket (never, when served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The client of a request with these parts.
    pub fn of(proxies: &TrustedProxies, parts: (&axum::http::Extensions, &HeaderMap)) -> Self {
        let (extensions, headers) = parts;
        Self(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| proxies.client_ip(peer.ip(), headers)),
        )
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(
            &state.proxies,
            (&parts.extensions, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(xff) {
            headers.insert("x-forwarded-for", value);
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap_or_default()
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof_its_address() {
        assert_eq!(
            proxies().client_ip(ip("203.0.113.9"), &headers("1.2.3.4")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_passes_on_the_client_address() {
        assert_eq!(
            proxies().client_ip(ip("127.0.0.1"), &headers("198.51.100.7")),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_wins_over_what_the_client_claimed() {
        let chain = headers("6.6.6.6, 198.51.100.7, 10.1.2.3");
        assert_eq!(
            proxies().client_ip(ip("127.0.0.1"), &chain),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn garbage_in_the_header_stops_the_walk() {
        assert_eq!(
            proxies().client_ip(ip("127.0.0.1"), &headers("not-an-ip")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bad_lists_are_rejected() {
        assert!(TrustedProxies::parse("127.0.0.1, banana").is_err());
        assert!(TrustedProxies::parse("").is_ok_and(|p| p.0.is_empty()));
    }
}
