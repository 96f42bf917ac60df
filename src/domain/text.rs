//! Free text of one kind — a username, an email address, where a link leads: trimmed,
//! bounded, then checked by its kind. The checks every kind starts with are written once.

use std::fmt;
use std::marker::PhantomData;

/// What a kind of text must be beyond being trimmed, non-empty and within its limit.
pub trait Kind {
    /// The limit, and what it counts.
    const MAX: (usize, Count);
    /// What else the trimmed text must be (the 422 detail when it is not).
    fn check(text: &str) -> Result<(), String>;
}

/// What a length limit counts.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Chars,
    Bytes,
}

/// Text of kind `K` that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<K>(String, PhantomData<K>);

impl<K: Kind> Text<K> {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        let (max, count) = K::MAX;
        let (length, unit) = match count {
            Count::Chars => (text.chars().count(), "characters"),
            Count::Bytes => (text.len(), "bytes"),
        };
        if length > max {
            return Err(format!("must be at most {max} {unit}"));
        }
        K::check(text)?;
        Ok(Self(text.to_owned(), PhantomData))
    }
}

impl<K> Text<K> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<K> fmt::Display for Text<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest username accepted.
pub const USERNAME_MAX: usize = 64;
/// Longest address accepted (RFC 5321's limit).
pub const EMAIL_MAX: usize = 254;
/// Longest target accepted; browsers and proxies start to truncate beyond this.
pub const TARGET_MAX: usize = 2048;

/// 1..=64 characters after trimming, no control characters.
pub type Username = Text<Handle>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {}

impl Kind for Handle {
    const MAX: (usize, Count) = (USERNAME_MAX, Count::Chars);

    fn check(text: &str) -> Result<(), String> {
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(())
    }
}

/// One `@` with a non-empty local part and a dotted-or-not domain, no spaces.
pub type Email = Text<EmailAddress>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailAddress {}

impl Kind for EmailAddress {
    const MAX: (usize, Count) = (EMAIL_MAX, Count::Bytes);

    fn check(text: &str) -> Result<(), String> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces".into());
        }
        match text.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(())
            }
            _ => Err("must be an email address like name@example.com".into()),
        }
    }
}

/// An absolute `http` or `https` URL with a host, at most [`TARGET_MAX`] bytes.
/// Kept exactly as the client wrote it (after trimming surrounding spaces),
/// so a redirect answers with the target the client stored.
pub type TargetUrl = Text<Target>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {}

impl Kind for Target {
    const MAX: (usize, Count) = (TARGET_MAX, Count::Bytes);

    fn check(text: &str) -> Result<(), String> {
        if text.chars().any(|c| c.is_control() || c == ' ') {
            return Err("must not contain spaces or control characters".into());
        }
        // The URL standard reads `https:///x` and `http:x` as having host `x`; clients mean
        // something else, so demand `scheme://host` literally.
        let authority = text.split_once("://").map(|(_, rest)| rest);
        if authority.is_none_or(|rest| rest.is_empty() || rest.starts_with(['/', '\\'])) {
            return Err("must be an absolute http(s) URL with a host".into());
        }
        let parsed =
            url::Url::parse(text).map_err(|_| "must be an absolute http(s) URL".to_owned())?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("must use the http or https scheme".into());
        }
        match parsed.host_str() {
            Some(host) if !host.is_empty() => Ok(()),
            _ => Err("must have a host".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_is_accepted_and_trimmed() {
        assert_eq!(
            Username::parse(" alice ").map(|u| u.as_str().to_owned()),
            Ok("alice".to_owned())
        );
    }

    #[test]
    fn empty_overlong_and_control_names_are_rejected() {
        assert!(Username::parse("").is_err());
        assert!(Username::parse("   ").is_err());
        assert!(Username::parse(&"a".repeat(USERNAME_MAX + 1)).is_err());
        assert!(Username::parse("a\u{0}b").is_err());
    }

    /// Addresses and targets are bounded in bytes (RFC 5321's octets; what proxies truncate),
    /// and the refusal says so: a target of 1,000 two-byte characters is 2,000 bytes.
    #[test]
    fn byte_bounded_texts_are_refused_in_bytes_and_say_so() {
        let wide = format!("https://example.com/{}", "é".repeat(1015));
        assert!(wide.chars().count() <= TARGET_MAX && wide.len() > TARGET_MAX);
        assert_eq!(
            TargetUrl::parse(&wide).err().as_deref(),
            Some("must be at most 2048 bytes")
        );
        let address = format!("{}@example.com", "é".repeat(122));
        assert!(address.chars().count() <= EMAIL_MAX && address.len() > EMAIL_MAX);
        assert_eq!(
            Email::parse(&address).err().as_deref(),
            Some("must be at most 254 bytes")
        );
    }

    #[test]
    fn an_ordinary_address_is_accepted() {
        assert!(Email::parse("forestorbit68@opswise.net").is_ok());
    }

    #[test]
    fn addresses_without_exactly_one_at_and_both_sides_are_rejected() {
        for bad in ["plainaddress", "@example.com", "name@", "a@b@c", "", "   "] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_with_spaces_are_rejected() {
        assert!(Email::parse("a b@example.com").is_err());
    }

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted() {
        for ok in [
            "https://example.com",
            "http://example.com/path?q=1#frag",
            "https://sub.example.co.uk:8443/a/b",
            "http://127.0.0.1:8080/",
        ] {
            assert_eq!(
                TargetUrl::parse(ok).map(|u| u.as_str().to_owned()),
                Ok(ok.to_owned())
            );
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
        let long = format!("https://example.com/{}", "a".repeat(TARGET_MAX));
        assert!(TargetUrl::parse(&long).is_err());
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_but_inner_spaces_are_not_allowed() {
        assert_eq!(
            TargetUrl::parse("  https://example.com/x  ").map(|u| u.as_str().to_owned()),
            Ok("https://example.com/x".to_owned())
        );
        assert!(TargetUrl::parse("https://exa mple.com").is_err());
    }
}
