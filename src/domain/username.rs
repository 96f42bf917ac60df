//! `Username`: a user's handle.

use super::text::{Count, bounded};

/// Longest username accepted.
pub const MAX_LEN: usize = 64;

/// 1..=64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = bounded(raw, MAX_LEN, Count::Chars)?;
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_is_accepted_and_trimmed() {
        assert_eq!(
            Username::parse(" alice ").map(|u| u.0),
            Ok("alice".to_owned())
        );
    }

    #[test]
    fn empty_overlong_and_control_names_are_rejected() {
        assert!(Username::parse("").is_err());
        assert!(Username::parse("   ").is_err());
        assert!(Username::parse(&"a".repeat(MAX_LEN + 1)).is_err());
        assert!(Username::parse("a\u{0}b").is_err());
    }
}
