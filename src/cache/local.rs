//! L1: the in-process cache of short-code lookups. Bounded in bytes, short TTL, shorter TTL
//! for negative entries (unknown or inactive codes), and single-flight fills so a burst on
//! one cold code makes one lookup below.
//!
//! Invalidation is exact even against a fill that was in flight when the invalidation
//! arrived: every entry remembers the invalidation sequence number current when its fill
//! *started*, and an entry older than its code's latest invalidation (or the last flush)
//! is treated as a miss.

use crate::domain::Link;
use crate::store::StoreError;
use moka::Expiry;
use moka::future::Cache;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A cached lookup: `None` means the code leads nowhere (unknown); inactive links are
/// cached as they are and refused by the redirect decision.
pub type Lookup = Option<Arc<Link>>;

#[derive(Clone)]
struct Entry {
    lookup: Lookup,
    /// The invalidation sequence number when this entry's fill began.
    filled_at: u64,
    /// How long it is kept, drawn when it was filled (see [`Ttl::lifetime`]).
    lifetime: Duration,
    /// From when a visit reads the link again in the background (see [`super::refresh`]):
    /// the last eighth of the TTL before it expires; never for an unknown or inactive code.
    refresh_from: Option<Instant>,
}

/// Whether a lookup is an unknown or inactive code (kept seconds only, never refreshed).
fn is_negative(lookup: &Lookup) -> bool {
    lookup.as_ref().is_none_or(|link| !link.is_active)
}

/// A current cached lookup, and whether it is due for a refresh.
pub struct Hit {
    pub lookup: Lookup,
    pub due: bool,
}

struct Ttl {
    positive: Duration,
    negative: Duration,
}

impl Ttl {
    /// How long a lookup filled now is kept.
    fn lifetime(&self, lookup: &Lookup) -> Duration {
        if is_negative(lookup) {
            self.negative
        } else {
            spread(self.positive)
        }
    }
}

/// Each entry is kept for the lifetime drawn when it was filled, also one that replaces
/// another (a refresh): left to moka, a replacement keeps the lifetime left of the entry it
/// replaces, so a refreshed link expired when the old one would have and its next visit
/// went down to the store after all.
struct Lifetimes;

impl Expiry<String, Entry> for Lifetimes {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.lifetime)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// The lifetime of a link filled now: somewhere in the last quarter of `ttl`, never past it.
/// Links are filled in bursts (the pre-warm's thousands at start-up, every code at once
/// when load begins or after a flush); with one lifetime they all expire in the same
/// instant and every next visit goes down to the store at once (BENCHMARKS.md, thirteenth
/// round). Spread, a burst of fills comes back as a trickle over a quarter of the TTL, and
/// no link is kept longer than configured.
pub(super) fn spread(ttl: Duration) -> Duration {
    ttl.mul_f64(rand::random_range(0.75..=1.0))
}

/// Rough bytes an entry holds, for the byte bound.
fn weigh(code: &str, entry: &Entry) -> u32 {
    let link = entry.lookup.as_ref().map_or(0, |link| link.weight());
    u32::try_from(128 + code.len() + link).unwrap_or(u32::MAX)
}

pub struct LocalCache {
    entries: Cache<String, Entry>,
    /// Codes invalidated recently → the sequence number of their invalidation. Kept as long
    /// as an entry could live, so a stale in-flight fill is always caught.
    tombstones: Cache<String, u64>,
    sequence: AtomicU64,
    flushed_at: AtomicU64,
    ttl: Ttl,
}

impl LocalCache {
    pub fn new(max_bytes: u64, ttl: Duration, negative_ttl: Duration) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|code: &String, entry: &Entry| weigh(code, entry))
            .expire_after(Lifetimes)
            .build();
        let tombstones = Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(ttl.max(negative_ttl) * 2)
            .build();
        Self {
            entries,
            tombstones,
            sequence: AtomicU64::new(0),
            flushed_at: AtomicU64::new(0),
            ttl: Ttl {
                positive: ttl,
                negative: negative_ttl,
            },
        }
    }

    /// An entry filled now, from a read begun at invalidation sequence `filled_at`.
    fn entry(&self, lookup: Lookup, filled_at: u64) -> Entry {
        let lifetime = self.ttl.lifetime(&lookup);
        let refresh_from = (!is_negative(&lookup))
            .then(|| Instant::now() + lifetime.saturating_sub(self.ttl.positive / 8));
        Entry {
            lookup,
            filled_at,
            lifetime,
            refresh_from,
        }
    }

    async fn is_current(&self, code: &str, entry: &Entry) -> bool {
        // Fast path: nothing at all was invalidated since this entry's fill began.
        if entry.filled_at >= self.sequence.load(Ordering::Acquire) {
            return true;
        }
        entry.filled_at >= self.flushed_at.load(Ordering::Acquire)
            && self
                .tombstones
                .get(code)
                .await
                .is_none_or(|at| entry.filled_at >= at)
    }

    /// A current cached lookup, if any.
    pub async fn get(&self, code: &str) -> Option<Hit> {
        let entry = self.entries.get(code).await?;
        if !self.is_current(code, &entry).await {
            return None;
        }
        let due = entry.refresh_from.is_some_and(|at| Instant::now() >= at);
        Some(Hit {
            lookup: entry.lookup,
            due,
        })
    }

    /// The cached lookup, or the result of `fill` (shared by every concurrent caller for
    /// the same code). Errors are not cached.
    pub async fn get_or_fill<F, Fut>(&self, code: &str, fill: F) -> Result<Lookup, Arc<StoreError>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Lookup, StoreError>>,
    {
        // Twice at most: the second fill starts after the invalidation that voided the first.
        for _ in 0..2 {
            let started = self.sequence.load(Ordering::Acquire);
            let init = async {
                metrics::counter!("kurz_cache_fills_total", "tier" => "l1").increment(1);
                fill().await.map(|lookup| self.entry(lookup, started))
            };
            let entry = self.entries.try_get_with(code.to_owned(), init).await?;
            if self.is_current(code, &entry).await {
                return Ok(entry.lookup);
            }
            self.entries.invalidate(code).await;
        }
        fill().await.map_err(Arc::new)
    }

    /// Where invalidations stand now, for [`LocalCache::put`].
    pub fn mark(&self) -> u64 {
        self.sequence.load(Ordering::Acquire)
    }

    /// Stores a lookup read from the store after `mark` was taken (pre-warming, refreshing):
    /// an invalidation of its code since then, or a flush, voids it as it voids a fill that
    /// was in flight.
    pub async fn put(&self, code: &str, lookup: Lookup, mark: u64) {
        let entry = self.entry(lookup, mark);
        self.entries.insert(code.to_owned(), entry).await;
    }

    /// Voids one code, including any fill of it now in flight. Two invalidations of one
    /// code at once may record theirs in either order: the later mark is kept, or a fill
    /// started between them would count as current.
    pub async fn invalidate(&self, code: &str) {
        let at = self.sequence.fetch_add(1, Ordering::AcqRel) + 1;
        self.tombstones
            .entry(code.to_owned())
            .and_upsert_with(|kept| async move { kept.map_or(at, |kept| at.max(*kept.value())) })
            .await;
        self.entries.invalidate(code).await;
    }

    /// Voids everything (after missed invalidations, or a bulk import); the later mark is
    /// kept, as for one code.
    pub fn flush(&self) {
        let at = self.sequence.fetch_add(1, Ordering::AcqRel) + 1;
        self.flushed_at.fetch_max(at, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
