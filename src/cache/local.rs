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

    /// Voids one code, including any fill of it now in flight.
    pub async fn invalidate(&self, code: &str) {
        let at = self.sequence.fetch_add(1, Ordering::AcqRel) + 1;
        self.tombstones.insert(code.to_owned(), at).await;
        self.entries.invalidate(code).await;
    }

    /// Voids everything (after missed invalidations, or a bulk import).
    pub fn flush(&self) {
        let at = self.sequence.fetch_add(1, Ordering::AcqRel) + 1;
        self.flushed_at.store(at, Ordering::Release);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn url(target: &str) -> Lookup {
        Some(Arc::new(Link {
            id: 1,
            user_id: None,
            short_code: "abc".into(),
            target: target.into(),
            is_active: true,
            settings: None,
            password_hash: None,
        }))
    }

    #[test]
    fn links_filled_together_expire_over_the_last_quarter_of_the_ttl_and_unknowns_at_once() {
        let ttl = Ttl {
            positive: Duration::from_secs(40),
            negative: Duration::from_secs(5),
        };
        let link = url("https://example.com/");
        let lifetimes: Vec<Duration> = (0..1_000).map(|_| ttl.lifetime(&link)).collect();
        let (Some(shortest), Some(longest)) = (lifetimes.iter().min(), lifetimes.iter().max())
        else {
            unreachable!("a thousand lifetimes")
        };
        assert!(*shortest >= Duration::from_secs(30), "{shortest:?}");
        assert!(*longest <= Duration::from_secs(40), "{longest:?}");
        // A thousand draws within one tenth of the range: under 1 in 10^990 by chance.
        assert!(
            *longest - *shortest > Duration::from_secs(1),
            "spread, not one instant: {shortest:?} to {longest:?}"
        );
        assert_eq!(ttl.lifetime(&None), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_link_read_before_its_invalidation_and_put_after_it_is_not_served() {
        let cache = cache();
        let before = cache.mark();
        // The store is read here; then the link changes and its code is invalidated.
        cache.invalidate("abc").await;
        cache
            .put("abc", url("https://example.com/old"), before)
            .await;
        assert!(cache.get("abc").await.is_none(), "the old target is void");

        let after = cache.mark();
        cache
            .put("abc", url("https://example.com/new"), after)
            .await;
        let served = cache
            .get("abc")
            .await
            .and_then(|hit| hit.lookup)
            .map(|l| l.target.clone());
        assert_eq!(served.as_deref(), Some("https://example.com/new"));
    }

    fn cache() -> LocalCache {
        LocalCache::new(1 << 20, Duration::from_secs(60), Duration::from_secs(5))
    }

    fn target_of(lookup: &Result<Lookup, Arc<StoreError>>) -> Option<String> {
        lookup.as_ref().ok()?.as_ref().map(|u| u.target.clone())
    }

    #[tokio::test]
    async fn a_burst_of_misses_on_one_code_fills_once() {
        let cache = Arc::new(cache());
        let fills = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (cache, fills) = (cache.clone(), fills.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fill("abc", || async {
                            fills.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(url("https://a.example"))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(
                target_of(
                    &task
                        .await
                        .unwrap_or_else(|_| Err(Arc::new(StoreError::Corrupt("join".into()))))
                )
                .as_deref(),
                Some("https://a.example")
            );
        }
        assert_eq!(fills.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_invalidation_voids_a_fill_that_was_in_flight() {
        // The "store": a fill reads it, then takes its time before answering.
        let target = Arc::new(std::sync::Mutex::new("https://old.example".to_owned()));
        let cache = Arc::new(cache());
        let fill = {
            let target = target.clone();
            move || {
                let read = target.lock().map(|t| t.clone()).unwrap_or_default();
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(url(&read))
                }
            }
        };
        let slow = {
            let (cache, fill) = (cache.clone(), fill.clone());
            tokio::spawn(async move { cache.get_or_fill("abc", fill).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // A write commits and invalidates while the fill is still reading the old value.
        *target.lock().unwrap_or_else(|e| e.into_inner()) = "https://new.example".to_owned();
        cache.invalidate("abc").await;
        let answered = slow
            .await
            .unwrap_or_else(|_| Err(Arc::new(StoreError::Corrupt("join".into()))));
        assert_eq!(target_of(&answered).as_deref(), Some("https://new.example"));
        let cached = cache
            .get("abc")
            .await
            .and_then(|hit| hit.lookup)
            .map(|u| u.target.clone());
        assert_eq!(cached.as_deref(), Some("https://new.example"));
    }

    #[tokio::test]
    async fn a_link_is_due_for_a_refresh_in_its_last_eighth_and_a_refreshed_one_lives_anew() {
        // Links live 3 to 4 s here, and are due for a refresh in their last 0.5 s.
        let cache = LocalCache::new(1 << 20, Duration::from_secs(4), Duration::from_secs(10));
        let start = Instant::now();
        cache
            .put("abc", url("https://a.example"), cache.mark())
            .await;
        cache.put("gone", None, cache.mark()).await;
        let due = |hit: Option<Hit>| hit.map(|hit| hit.due);
        assert_eq!(due(cache.get("abc").await), Some(false), "fresh");
        // Looked at every 20 ms: due before it expires.
        loop {
            match due(cache.get("abc").await) {
                Some(true) => break,
                Some(false) => tokio::time::sleep(Duration::from_millis(20)).await,
                None => panic!("expired before it was due"),
            }
        }
        assert_eq!(
            due(cache.get("gone").await),
            Some(false),
            "unknowns are not refreshed"
        );

        // The refresh (at 2.5 s at the earliest) lives 3 s at least from then: past the first
        // entry's longest lifetime, it is served, and not due.
        cache
            .put("abc", url("https://b.example"), cache.mark())
            .await;
        tokio::time::sleep_until((start + Duration::from_millis(4_200)).into()).await;
        let Some(hit) = cache.get("abc").await else {
            panic!("the refreshed link expired with the first");
        };
        let target = hit.lookup.map(|link| link.target.clone());
        assert_eq!(target.as_deref(), Some("https://b.example"));
        assert!(!hit.due);
    }

    #[tokio::test]
    async fn a_flush_voids_everything() {
        let cache = cache();
        cache
            .put("abc", url("https://a.example"), cache.mark())
            .await;
        assert!(cache.get("abc").await.is_some());
        cache.flush();
        assert!(cache.get("abc").await.is_none());
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = cache();
        let failed = cache
            .get_or_fill("abc", || async { Err(StoreError::Corrupt("boom".into())) })
            .await;
        assert!(failed.is_err());
        let ok = cache
            .get_or_fill("abc", || async { Ok(url("https://a.example")) })
            .await;
        assert_eq!(target_of(&ok).as_deref(), Some("https://a.example"));
    }
}
