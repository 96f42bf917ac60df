//! API keys: what a key may do (its scope), how a key is minted, and how a presented key is
//! recognised without the secret ever being stored.

use super::Timestamp;
use rand::RngExt;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// Every key starts with this, so leaked keys are easy to find by secret scanners.
pub const KEY_MARKER: &str = "kurz_";
/// Random characters after the marker: 40 alphanumerics ≈ 238 bits.
const SECRET_CHARS: usize = 40;
/// The marker plus this many random characters identify a key in listings and logs
/// without revealing enough of it to matter.
const PREFIX_CHARS: usize = 8;

/// What a key may do. Scopes nest: `admin` can do everything `write` can, `write`
/// everything `read` can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read links (`GET /urls`, `GET /urls/{id}`).
    Read,
    /// Create links and events, update and delete the links of the key's own user.
    Write,
    /// Everything: users, bulk import, any link, the event history.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope '{other}' (expected read, write or admin)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// True when a key of this scope may do what `needed` allows.
    pub fn grants(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl TryFrom<String> for Scope {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored key as operators see it: never the secret, only its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    /// The user whose links a `write` key manages.
    pub user_id: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub request_count: i64,
}

/// A stored key whole, its secret's hash included: what moves when the data moves to
/// another store (`kurz migrate-store`, `kurz restore`), so every key keeps working there.
/// Never served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredApiKey {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret_hash: String,
}

impl ApiKey {
    /// Why the key cannot be used at `now`, if it cannot.
    pub fn unusable_at(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("revoked")
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Some("expired")
        } else {
            None
        }
    }
}

/// A key to store: the hash of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scope: Scope,
    pub user_id: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl NewApiKey {
    /// The key as stored under `id`: not yet revoked, never used.
    pub fn stored_as(self, id: i64) -> ApiKey {
        ApiKey {
            id,
            name: self.name,
            prefix: self.prefix,
            scope: self.scope,
            user_id: self.user_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: None,
            last_used_at: None,
            request_count: 0,
        }
    }
}

/// Requests made with one key since the last flush, to add to its stored counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyUse {
    pub id: i64,
    pub requests: i64,
    pub last_used_at: Timestamp,
}

/// A freshly minted key: the secret to show once, and what to store.
pub struct MintedKey {
    pub secret: String,
    pub key: NewApiKey,
}

/// Mints a new random key.
pub fn mint(
    name: String,
    scope: Scope,
    user_id: Option<i64>,
    expires_at: Option<Timestamp>,
) -> MintedKey {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SECRET_CHARS)
        .map(char::from)
        .collect();
    let secret = format!("{KEY_MARKER}{random}");
    let key = NewApiKey {
        name,
        prefix: display_prefix(&secret).to_owned(),
        secret_hash: hash_secret(&secret),
        scope,
        user_id,
        created_at: Timestamp::now(),
        expires_at,
    };
    MintedKey { secret, key }
}

/// The stored form of a secret. A plain SHA-256 is enough: the secret is 238 random bits,
/// so there is nothing for a slow password hash to protect against, and lookups stay cheap.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The part of a presented key safe to log: the marker and a few characters. Something
/// that is not a kurz key (a password pasted in, another system's token) may be short
/// enough to be whole in that prefix: none of it is logged.
pub fn display_prefix(secret: &str) -> &str {
    if !secret.starts_with(KEY_MARKER) {
        return "(not a kurz key)";
    }
    let end = secret
        .char_indices()
        .nth(KEY_MARKER.len() + PREFIX_CHARS)
        .map_or(secret.len(), |(i, _)| i);
    &secret[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest() {
        assert!(Scope::Admin.grants(Scope::Write));
        assert!(Scope::Admin.grants(Scope::Read));
        assert!(Scope::Write.grants(Scope::Read));
        assert!(!Scope::Read.grants(Scope::Write));
        assert!(!Scope::Write.grants(Scope::Admin));
    }

    #[test]
    fn scopes_parse_case_insensitively_and_reject_others() {
        assert_eq!(Scope::parse("ADMIN"), Ok(Scope::Admin));
        assert!(Scope::parse("root").is_err());
    }

    #[test]
    fn minted_keys_are_random_and_stored_only_as_hashes() {
        let a = mint("a".into(), Scope::Read, None, None);
        let b = mint("b".into(), Scope::Read, None, None);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_MARKER));
        assert_eq!(a.secret.len(), KEY_MARKER.len() + SECRET_CHARS);
        assert_eq!(a.key.secret_hash, hash_secret(&a.secret));
        assert!(!a.key.secret_hash.contains(&a.secret[KEY_MARKER.len()..]));
        assert_eq!(a.key.prefix.len(), KEY_MARKER.len() + PREFIX_CHARS);
        assert!(a.secret.starts_with(&a.key.prefix));
    }

    #[test]
    fn display_prefix_never_panics_on_short_or_multibyte_input() {
        assert_eq!(display_prefix("kurz_"), "kurz_");
        assert_eq!(display_prefix("kurz_éééééééééééé").chars().count(), 13);
        // What is not a kurz key is not logged at all: a short password would be whole.
        for other in ["", "hunter2", "ééééééééééééééééé"] {
            assert_eq!(display_prefix(other), "(not a kurz key)");
        }
    }
}
