//! `Email`: a user's address, checked for shape only (delivery is not kurz's business).

use super::text::{Count, bounded};

/// Longest address accepted (RFC 5321's limit).
pub const MAX_LEN: usize = 254;

/// One `@` with a non-empty local part and a dotted-or-not domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = bounded(raw, MAX_LEN, Count::Bytes)?;
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces".into());
        }
        match raw.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(raw.to_owned()))
            }
            _ => Err("must be an email address like name@example.com".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
