//! `ShortCode`: the path segment that names a link.

use rand::RngExt;
use rand::distr::Alphanumeric;
use std::fmt;

/// Length of generated codes.
pub const GENERATED_LEN: usize = 6;
/// Bounds of a custom code chosen by a client.
pub const CUSTOM_MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 32;

/// Words a custom code may not take, because they are (or may become) routes.
/// Compared case-insensitively.
const RESERVED: &[&str] = &[
    "health", "ready", "metrics", "users", "urls", "events", "api", "admin", "docs", "openapi",
    "static", "assets", "login", "logout", "keys", "report", "swagger", "favicon", "links",
    "reports", "signin", "signout", "ui", "stats",
];

/// A short code that is well-formed: 1..=32 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShortCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShortCodeError {
    #[error("must be {CUSTOM_MIN_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error("may contain only letters, digits, '_' and '-'")]
    Charset,
    #[error("is reserved")]
    Reserved,
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl ShortCode {
    /// Parses a code taken from a request path or a seed file. Malformed codes are
    /// rejected here, before any cache or store is asked.
    pub fn parse(raw: &str) -> Result<Self, ShortCodeError> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(ShortCodeError::Length);
        }
        if !raw.chars().all(allowed) {
            return Err(ShortCodeError::Charset);
        }
        Ok(Self(raw.to_owned()))
    }

    /// Parses a code a client asks for: stricter length and no reserved words.
    pub fn parse_custom(raw: &str) -> Result<Self, ShortCodeError> {
        if raw.len() < CUSTOM_MIN_LEN || raw.len() > MAX_LEN {
            return Err(ShortCodeError::Length);
        }
        let code = Self::parse(raw)?;
        if code.names_a_route() {
            return Err(ShortCodeError::Reserved);
        }
        Ok(code)
    }

    /// A fresh random code from the thread-local CSPRNG. Uniqueness is the
    /// store's job: callers retry on a unique violation.
    pub fn generate() -> Self {
        let code: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(GENERATED_LEN)
            .map(char::from)
            .collect();
        Self(code)
    }

    /// Whether this code is a reserved word, the name of a route or one that may become
    /// one: such codes are never handed out, and a request for them is the route's.
    pub fn names_a_route(&self) -> bool {
        RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_alphanumerics() {
        for _ in 0..1000 {
            let code = ShortCode::generate();
            assert_eq!(code.as_str().len(), GENERATED_LEN);
            assert!(code.as_str().chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn generated_codes_differ() {
        let codes: std::collections::HashSet<_> =
            (0..1000).map(|_| ShortCode::generate()).collect();
        assert!(codes.len() > 990);
    }

    #[test]
    fn custom_codes_accept_the_allowed_alphabet() {
        assert!(ShortCode::parse_custom("my-link_01").is_ok());
        assert!(ShortCode::parse_custom("abc").is_ok());
        assert!(ShortCode::parse_custom(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn custom_codes_too_short_too_long_off_the_alphabet_or_naming_routes_are_rejected() {
        let long = "a".repeat(33);
        let too_long_or_short = ["ab", long.as_str()];
        let off_the_alphabet = ["a b c", "abc/def", "abc.def", "héllo", "abc%20", "abc?x"];
        let route_words = ["health", "USERS", "Metrics", "ready", "urls", "events"];
        for (raws, problem) in [
            (&too_long_or_short[..], ShortCodeError::Length),
            (&off_the_alphabet[..], ShortCodeError::Charset),
            (&route_words[..], ShortCodeError::Reserved),
        ] {
            for raw in raws {
                assert_eq!(ShortCode::parse_custom(raw), Err(problem.clone()), "{raw}");
            }
        }
    }

    #[test]
    fn lookup_codes_reject_empty_and_overlong_input() {
        assert!(ShortCode::parse("").is_err());
        assert!(ShortCode::parse(&"a".repeat(33)).is_err());
        assert!(ShortCode::parse("x").is_ok());
    }
}
