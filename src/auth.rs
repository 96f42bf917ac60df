//! The key ring: recognises presented API keys (through a short-lived cache, so a busy
//! client costs one store lookup per few seconds, not one per request) and counts their
//! use, written to the store in batches.

use crate::domain::api_key::{display_prefix, hash_secret};
use crate::domain::{ApiKey, ApiKeyUse, Timestamp};
use crate::store::{KeyStore, StoreError};
use moka::future::Cache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Distinct secrets remembered (valid or not). Bounded so a flood of made-up keys cannot
/// grow memory; each entry is a few hundred bytes.
const CACHED_KEYS: u64 = 10_000;
/// How often use counts reach the store.
const USE_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyRefusal {
    #[error("unknown API key")]
    Unknown,
    #[error("API key {0}")]
    Unusable(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KeyRefusal {
    /// The label of the failed-authentication metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Unusable(why) => why,
            Self::Store(_) => "store",
        }
    }
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    /// By secret hash; `None` remembers an unknown key for as long.
    known: Cache<String, Option<Arc<ApiKey>>>,
    uses: Arc<Mutex<HashMap<i64, ApiKeyUse>>>,
}

impl KeyRing {
    pub fn new(store: Arc<dyn KeyStore>, cache_for: Duration) -> Self {
        Self {
            store,
            known: Cache::builder()
                .max_capacity(CACHED_KEYS)
                .time_to_live(cache_for)
                .build(),
            uses: Arc::default(),
        }
    }

    /// The key behind `secret` if it may be used now; counts the use.
    pub async fn authenticate(&self, secret: &str) -> Result<Arc<ApiKey>, KeyRefusal> {
        self.authenticate_hash(hash_secret(secret)).await
    }

    /// The key whose secret hashes to `hash` (what a UI session holds instead of the
    /// secret itself) if it may be used now; counts the use.
    pub async fn authenticate_hash(&self, hash: String) -> Result<Arc<ApiKey>, KeyRefusal> {
        let store = self.store.clone();
        let found = self
            .known
            .try_get_with(hash.clone(), async move {
                store.find_api_key(&hash).await.map(|key| key.map(Arc::new))
            })
            .await
            .map_err(StoreError::from_shared)?;
        let key = found.ok_or(KeyRefusal::Unknown)?;
        let now = Timestamp::now();
        if let Some(why) = key.unusable_at(now) {
            return Err(KeyRefusal::Unusable(why));
        }
        self.count_use(key.id, now);
        Ok(key)
    }

    fn count_use(&self, id: i64, now: Timestamp) {
        let mut uses = self
            .uses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = uses.entry(id).or_insert(ApiKeyUse {
            id,
            requests: 0,
            last_used_at: now,
        });
        entry.requests += 1;
        entry.last_used_at = entry.last_used_at.max(now);
    }

    /// Writes the counted uses to the store. On failure they are put back for next time,
    /// so a store outage delays the counters without losing them.
    pub async fn flush_uses(&self) {
        let batch: Vec<ApiKeyUse> = {
            let mut uses = self
                .uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            uses.drain().map(|(_, usage)| usage).collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(err) = self.store.record_api_key_use(&batch).await {
            tracing::warn!(error = %err, keys = batch.len(), "recording API key use failed; will retry");
            let mut uses = self
                .uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for usage in batch {
                let entry = uses.entry(usage.id).or_insert(ApiKeyUse {
                    requests: 0,
                    ..usage
                });
                entry.requests += usage.requests;
                entry.last_used_at = entry.last_used_at.max(usage.last_used_at);
            }
        }
    }

    /// Flushes use counts every few seconds for the life of the process.
    pub fn spawn_flusher(&self) {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(USE_FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ring.flush_uses().await;
            }
        });
    }
}

/// What may be logged of a presented secret.
pub fn loggable(secret: &str) -> &str {
    display_prefix(secret)
}
