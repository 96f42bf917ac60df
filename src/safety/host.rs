//! Host names as the blocklist and the target rules compare them: the URL standard's form
//! (lower case, IDNA/punycode, IPv4 in dotted decimal, IPv6 in brackets), without a
//! trailing dot. Reading a stored target's host is on the redirect path, so a host already
//! in that form (nearly all of them) is borrowed from the target; only the others go
//! through the URL parser.

use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Domain,
    Ip,
}

/// A normalised host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName<'a> {
    name: Cow<'a, str>,
    is_ip: bool,
}

impl<'a> HostName<'a> {
    /// A host as written in a list or a setting: a domain (any case, Unicode or punycode,
    /// trailing dot allowed) or an IP literal (IPv6 with or without brackets).
    pub fn parse(text: &str) -> Option<HostName<'static>> {
        let text = text.trim_end_matches('.');
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return inner
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(HostName::from_ip_v6);
        }
        if let Ok(v6) = text.parse::<std::net::Ipv6Addr>() {
            return Some(HostName::from_ip_v6(v6));
        }
        HostName::from_url_host(url::Host::parse(text).ok()?)
    }

    /// The host of a parsed URL.
    pub fn from_url_host<S: AsRef<str>>(host: url::Host<S>) -> Option<HostName<'static>> {
        match host {
            url::Host::Domain(domain) => {
                let domain = domain.as_ref().trim_end_matches('.');
                (!domain.is_empty()).then(|| HostName {
                    name: Cow::Owned(domain.to_owned()),
                    is_ip: false,
                })
            }
            url::Host::Ipv4(v4) => Some(HostName {
                name: Cow::Owned(v4.to_string()),
                is_ip: true,
            }),
            url::Host::Ipv6(v6) => Some(HostName::from_ip_v6(v6)),
        }
    }

    /// An IPv4 address written as IPv6 (`[::ffff:203.0.113.7]`) is the IPv4 address: that
    /// is where a browser connects, so that is what the blocklist is asked about.
    fn from_ip_v6(v6: std::net::Ipv6Addr) -> HostName<'static> {
        let name = match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{v6}]"),
        };
        HostName {
            name: Cow::Owned(name),
            is_ip: true,
        }
    }

    /// The host of an absolute URL (a stored target), borrowed from it when it is already
    /// normal. `None` when the URL has no host the parser accepts.
    pub fn of_target(target: &'a str) -> Option<Self> {
        if let Some(host) = plain_domain_of(target) {
            return Some(HostName {
                name: Cow::Borrowed(host),
                is_ip: false,
            });
        }
        let parsed = url::Url::parse(target).ok()?;
        HostName::from_url_host(parsed.host()?)
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> HostKind {
        if self.is_ip {
            HostKind::Ip
        } else {
            HostKind::Domain
        }
    }

    /// The address of an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        if !self.is_ip {
            return None;
        }
        let text = self.as_str();
        let text = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        text.parse().ok()
    }

    /// This host, then each parent domain up to the top-level one (`a.b.example`,
    /// `b.example`, `example`); an IP literal has no parents.
    pub fn with_parents(&self) -> impl Iterator<Item = &str> {
        let is_ip = self.is_ip;
        std::iter::successors(Some(self.as_str()), move |name| {
            if is_ip {
                None
            } else {
                name.split_once('.').map(|(_, parent)| parent)
            }
        })
    }

    pub fn into_owned(self) -> HostName<'static> {
        HostName {
            name: Cow::Owned(self.name.into_owned()),
            is_ip: self.is_ip,
        }
    }
}

impl std::fmt::Display for HostName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host of `scheme://[userinfo@]host[:port]…` when it is a domain the URL parser would
/// leave as it is: lower-case ASCII letters, digits and hyphens in non-empty labels, the
/// last of which is not a number (a numeric last label makes the parser read an IPv4
/// address). A trailing dot is dropped.
fn plain_domain_of(target: &str) -> Option<&str> {
    let (_, rest) = target.split_once("://")?;
    // The URL standard ends the authority at any of these (`\` too, for http and https).
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = host_port
        .split_once(':')
        .map_or(host_port, |(host, _)| host);
    let host = host.strip_suffix('.').unwrap_or(host);
    let plain_labels = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let last = host.rsplit('.').next().unwrap_or(host);
    let numeric_last = last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x");
    (plain_labels && !numeric_last).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> Option<String> {
        HostName::parse(text).map(|h| h.as_str().to_owned())
    }

    fn parsed(text: &str) -> HostName<'static> {
        HostName::parse(text).unwrap_or_else(|| panic!("{text} is a host"))
    }

    #[test]
    fn hosts_are_normalised_like_the_url_parser_does() {
        assert_eq!(host("Evil.Example."), Some("evil.example".into()));
        assert_eq!(host("bücher.example"), Some("xn--bcher-kva.example".into()));
        assert_eq!(
            host("xn--bcher-kva.example"),
            Some("xn--bcher-kva.example".into())
        );
        assert_eq!(host("0x7f.1"), Some("127.0.0.1".into()));
        assert_eq!(host("::1"), Some("[::1]".into()));
        assert_eq!(host("[0:0::1]"), Some("[::1]".into()));
        assert_eq!(host("::ffff:203.0.113.7"), Some("203.0.113.7".into()));
        assert_eq!(host("[::ffff:cb00:7107]"), Some("203.0.113.7".into()));
        assert_eq!(host(""), None);
        assert_eq!(host("."), None);
        assert_eq!(host("a/b"), None);
        assert_eq!(host("a b"), None);
    }

    /// The cheap path must agree with the URL parser on every target it accepts.
    #[test]
    fn target_hosts_match_the_url_parser() {
        for target in [
            "https://example.com",
            "https://example.com/",
            "http://a.b.example.com:8080/x?y#z",
            "https://user:pass@evil.example/",
            "https://good.example@evil.example/",
            "https://good.example:pw@evil.example:443",
            "http://evil.example./path",
            "https://EVIL.example/",
            "https://%65vil.example/",
            "https://bücher.example/",
            "https://xn--bcher-kva.example/",
            "http://127.0.0.1:8080/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://1.2.3.4.5.example/",
            "http://[::1]:5000/",
            "http://[::ffff:10.0.0.1]/",
            "http://evil.example\\@good.example/",
            "http://evil.example?@good.example/",
            "http://evil.example#@good.example/",
            "http://a-b.c-d.example/",
            "http://sub.0x.example/",
            "http://123.example/",
            "http://example.123/",
        ] {
            let expected = url::Url::parse(target)
                .ok()
                .and_then(|u| u.host().and_then(HostName::from_url_host))
                .map(|h| h.as_str().to_owned());
            let got = HostName::of_target(target).map(|h| h.as_str().to_owned());
            assert_eq!(got, expected, "{target}");
        }
    }

    #[test]
    fn normal_domains_are_borrowed_from_the_target() {
        let target = "https://a.example/x";
        let host = HostName::of_target(target);
        assert!(matches!(
            host,
            Some(HostName {
                name: Cow::Borrowed("a.example"),
                ..
            })
        ));
    }

    #[test]
    fn a_domain_lists_its_parents_and_an_ip_does_not() {
        let domain = parsed("a.b.example");
        assert_eq!(
            domain.with_parents().collect::<Vec<_>>(),
            ["a.b.example", "b.example", "example"]
        );
        let ip = parsed("10.1.2.3");
        assert_eq!(ip.with_parents().collect::<Vec<_>>(), ["10.1.2.3"]);
        assert_eq!(ip.ip(), "10.1.2.3".parse().ok());
    }
}
