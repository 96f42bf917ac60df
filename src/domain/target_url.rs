//! `TargetUrl`: where a short link leads.

use super::text::{Count, bounded};
use std::fmt;

/// Longest target accepted; browsers and proxies start to truncate beyond this.
pub const MAX_LEN: usize = 2048;

/// An absolute `http` or `https` URL with a host, at most [`MAX_LEN`] bytes.
/// Kept exactly as the client wrote it (after trimming surrounding spaces),
/// so a redirect answers with the target the client stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl(String);

impl TargetUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = bounded(raw, MAX_LEN, Count::Bytes)?;
        if raw.chars().any(|c| c.is_control() || c == ' ') {
            return Err("must not contain spaces or control characters".into());
        }
        // The URL standard reads `https:///x` and `http:x` as having host `x`; clients mean
        // something else, so demand `scheme://host` literally.
        let authority = raw.split_once("://").map(|(_, rest)| rest);
        if authority.is_none_or(|rest| rest.is_empty() || rest.starts_with(['/', '\\'])) {
            return Err("must be an absolute http(s) URL with a host".into());
        }
        let parsed =
            url::Url::parse(raw).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("must use the http or https scheme".into());
        }
        match parsed.host_str() {
            Some(host) if !host.is_empty() => Ok(Self(raw.to_owned())),
            _ => Err("must have a host".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted() {
        for ok in [
            "https://example.com",
            "http://example.com/path?q=1#frag",
            "https://sub.example.co.uk:8443/a/b",
            "http://127.0.0.1:8080/",
        ] {
            assert_eq!(TargetUrl::parse(ok).map(|u| u.0), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn other_schemes_are_rejected() {
        for bad in [
            "ftp://example.com",
            "javascript:alert(1)",
            "mailto:a@b.c",
            "file:///etc/passwd",
            "data:text/html,hi",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_and_hostless_urls_are_rejected() {
        for bad in [
            "not-a-url",
            "/relative",
            "example.com",
            "http://",
            "https:///path",
            "",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overlong_urls_are_rejected() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert!(TargetUrl::parse(&long).is_err());
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_but_inner_spaces_are_not_allowed() {
        assert_eq!(
            TargetUrl::parse("  https://example.com/x  ").map(|u| u.0),
            Ok("https://example.com/x".to_owned())
        );
        assert!(TargetUrl::parse("https://exa mple.com").is_err());
    }
}
