//! What a link may carry beyond its target: an end (`expires_at`, `max_clicks`, and where to
//! send visits after it, `fallback_url`), the redirect's status, rules and variants, and a
//! password. All optional: a link with none of them is a plain redirect, stored with no
//! settings at all. The password is kept apart as a [`PasswordHash`]: the settings are what
//! the API shows, the hash is never shown.

use super::Timestamp;
use super::rules::{Rule, Variant};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash as Phc};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// The statuses a link may redirect with.
pub const REDIRECT_TYPES: [u16; 4] = [301, 302, 307, 308];
/// Password length bounds, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 4..=1024;

/// A link's lifecycle and routing settings, as stored (JSON) and as the API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkSettings {
    /// From this instant on (UTC) the link answers 410, or redirects to `fallback_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Human visits redirected before the link answers 410 (or redirects to
    /// `fallback_url`); bots, link previews and prefetches do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clicks: Option<i64>,
    /// Where an expired or exhausted link sends its visits instead of answering 410.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<String>,
    /// 301, 302 (the default), 307 or 308.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_type: Option<u16>,
    /// Tried in order; the first whose conditions all hold chooses the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// A weighted split, the same variant for the same visitor, when no rule matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
}

impl LinkSettings {
    /// `None` when nothing is set, so a plain link stores and caches no settings.
    pub fn or_none(self) -> Option<Self> {
        (self != Self::default()).then_some(self)
    }

    /// The redirect status (302 unless set).
    pub fn status(settings: Option<&Self>) -> u16 {
        settings.and_then(|s| s.redirect_type).unwrap_or(302)
    }

    /// Whether the same visit can get a different answer later or elsewhere: then no
    /// browser or proxy may keep the redirect, whatever its status.
    pub fn varies(&self) -> bool {
        self.expires_at.is_some()
            || self.max_clicks.is_some()
            || !self.rules.is_empty()
            || !self.variants.is_empty()
    }

    /// Rough bytes held, for the in-process cache's memory bound.
    pub fn weight(&self) -> usize {
        let rules: usize = self
            .rules
            .iter()
            .map(|rule| 160 + rule.target.len() + rule.when.query.len() * 48)
            .sum();
        let variants: usize = self.variants.iter().map(|v| 32 + v.url.len()).sum();
        std::mem::size_of::<Self>()
            + self.fallback_url.as_ref().map_or(0, String::len)
            + rules
            + variants
    }
}

/// An `expires_at` as a client may set it: a contract timestamp after `now`.
pub fn parse_expiry(raw: &str, now: Timestamp) -> Result<Timestamp, String> {
    let at = Timestamp::parse(raw)?;
    if at <= now {
        return Err("must be in the future".into());
    }
    Ok(at)
}

/// A link password's Argon2id hash in PHC form. Its `Debug` hides it, and it has no
/// `Display`: it is written to the store and the cache, never to a client or a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// Hashes a password as a client set it (checked for length). Slow on purpose (Argon2id
    /// with its default cost): callers run it off the request workers.
    pub fn new(password: &str) -> Result<Self, String> {
        if !PASSWORD_CHARS.contains(&password.chars().count()) {
            return Err(format!(
                "must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ));
        }
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| Self(hash.to_string()))
            .map_err(|e| format!("could not be hashed: {e}"))
    }

    /// Whether `password` is the one hashed. As slow as hashing.
    pub fn verify(&self, password: &str) -> bool {
        Phc::new(&self.0).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// The stored form, for the store's bind.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// Rough bytes held.
    pub fn weight(&self) -> usize {
        self.0.len()
    }
}

/// How a url's password shows in the API: `"has_password": true`, or nothing.
pub fn shown_as_set<S: Serializer>(
    hash: &Option<PasswordHash>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(hash.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_its_hash_hides_it() {
        let Ok(hash) = PasswordHash::new("correct horse") else {
            panic!("a good password hashes")
        };
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horsf"));
        assert!(hash.as_stored().starts_with("$argon2id$"));
        assert!(!hash.as_stored().contains("correct"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }

    #[test]
    fn passwords_are_bounded_in_characters() {
        assert!(PasswordHash::new("abc").is_err());
        assert!(PasswordHash::new(&"é".repeat(1024)).is_ok());
        assert!(PasswordHash::new(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn expiry_must_be_later_than_now() {
        let now = Timestamp::parse("2026-12-01T10:00:00").unwrap_or_else(|_| Timestamp::now());
        assert!(parse_expiry("2026-12-01T10:00:00", now).is_err());
        assert!(parse_expiry("2026-12-01T10:00:01", now).is_ok());
        assert!(parse_expiry("tomorrow", now).is_err());
    }

    #[test]
    fn settings_with_nothing_set_are_none() {
        assert_eq!(LinkSettings::default().or_none(), None);
        let capped = LinkSettings {
            max_clicks: Some(3),
            ..LinkSettings::default()
        };
        assert!(capped.clone().or_none().is_some_and(|s| s.varies()));
    }
}
