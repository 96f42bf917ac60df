//! The redirect caches, as a `Store` decorator: lookups by short code go L1 (in process) →
//! L2 (Redis, shared) → store, and every write that can change what a code leads to
//! invalidates it on every replica before the write answers. A cache failure is a miss
//! plus a metric, never an error.

mod bus;
mod local;
mod rate;
mod shared;
mod topology;

pub use local::Lookup;
pub use rate::SharedRateLimit;

use crate::config::{CacheSettings, L1Mode};
use crate::domain::{
    ApiKey, ApiKeyUse, Event, NewApiKey, NewEvent, NewUrl, NewUser, ShortCode, Timestamp, Url,
    UrlPatch, User, UserPatch,
};
use crate::store::{
    EventFilter, Listing, Page, PoolStats, Store, StoreError, StoreResult, UrlFilter, UserFilter,
};
use async_trait::async_trait;
use local::LocalCache;
use shared::{Read, SharedCache};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use topology::Topology;

/// How many of a deleted user's urls are looked up per page when invalidating them.
const INVALIDATE_PAGE: i64 = 1_000;

/// The store seen through the caches.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    local: Arc<LocalCache>,
    shared: Option<Arc<SharedCache>>,
    l1: L1Mode,
    /// True for the embedded store: one process owns the data, so L1 is always exact.
    single_process: bool,
    stop: CancellationToken,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// `kurz_cache_requests_total{tier="l1",result="hit"}`, registered once: every cached
    /// redirect counts one.
    l1_hits: metrics::Counter,
}

impl CachedStore {
    /// Rate-limit counting shared through Redis, when Redis is configured.
    pub fn shared_rate_limit(&self) -> Option<SharedRateLimit> {
        self.shared.clone().map(SharedRateLimit::new)
    }

    /// Wraps `inner`, and with Redis configured starts connecting and subscribing in the
    /// background (kurz serves while Redis is down).
    pub fn start(inner: Arc<dyn Store>, settings: &CacheSettings) -> anyhow::Result<Arc<Self>> {
        let secs = Duration::from_secs;
        let local = Arc::new(LocalCache::new(
            settings.l1_max_bytes,
            secs(settings.l1_ttl_secs),
            secs(settings.negative_ttl_secs),
        ));
        let timeout = Duration::from_millis(settings.redis_timeout_ms);
        let shared = Topology::from_settings(settings, timeout)?.map(|topology| {
            Arc::new(SharedCache::new(
                topology,
                &settings.redis_prefix,
                secs(settings.cache_ttl_secs),
                secs(settings.negative_ttl_secs),
                timeout,
            ))
        });
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(shared) = &shared {
            tasks.push(tokio::spawn(shared.clone().connect(stop.clone())));
            tasks.push(tokio::spawn(bus::run(
                shared.clone(),
                local.clone(),
                stop.clone(),
            )));
        }
        let single_process = inner.kind() == "sqlite";
        Ok(Arc::new(Self {
            inner,
            local,
            shared,
            l1: settings.l1,
            single_process,
            stop,
            tasks: std::sync::Mutex::new(tasks),
            l1_hits: metrics::counter!("kurz_cache_requests_total", "tier" => "l1", "result" => "hit"),
        }))
    }

    /// `off` without Redis, `ok` while Redis answers and invalidations arrive, else `degraded`.
    pub fn status(&self) -> &'static str {
        match &self.shared {
            None => "off",
            Some(shared) if shared.is_healthy() && shared.subscribed.load(Ordering::Acquire) => {
                "ok"
            }
            Some(_) => "degraded",
        }
    }

    /// Waits until Redis is connected (or `timeout` passes), for short-lived commands that
    /// must reach the replicas.
    pub async fn wait_for_redis(&self, timeout: Duration) {
        let Some(shared) = &self.shared else { return };
        let start = std::time::Instant::now();
        while !shared.is_healthy() {
            if start.elapsed() > timeout {
                tracing::warn!(
                    "Redis not reachable: running replicas' caches will not be told of this import"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether L1 may answer now (see [`L1Mode`]).
    fn l1_trusted(&self) -> bool {
        match self.l1 {
            L1Mode::On => true,
            L1Mode::Off => false,
            L1Mode::Auto => match &self.shared {
                Some(shared) => shared.subscribed.load(Ordering::Acquire),
                None => self.single_process,
            },
        }
    }

    /// What `code` leads to: a url (possibly inactive) or nothing.
    pub async fn resolve(&self, code: &ShortCode) -> StoreResult<Lookup> {
        let key = code.as_str();
        if !self.l1_trusted() {
            return self.resolve_below_l1(code).await;
        }
        if let Some(hit) = self.local.get(key).await {
            self.l1_hits.increment(1);
            return Ok(hit);
        }
        metrics::counter!("kurz_cache_requests_total", "tier" => "l1", "result" => "miss")
            .increment(1);
        self.local
            .get_or_fill(key, || self.resolve_below_l1(code))
            .await
            .map_err(StoreError::from_shared)
    }

    /// What L1 alone knows of `code` (no counting, no fill): `None` on a miss, or when L1
    /// cannot be trusted right now. For the redirect fast path, which counts its own hit.
    pub async fn cached(&self, code: &ShortCode) -> Option<Lookup> {
        if !self.l1_trusted() {
            return None;
        }
        self.local.get(code.as_str()).await
    }

    /// Counts an L1 hit served by [`CachedStore::cached`].
    pub fn count_l1_hit(&self) {
        self.l1_hits.increment(1);
    }

    /// L2, then the store (filling L2).
    async fn resolve_below_l1(&self, code: &ShortCode) -> StoreResult<Lookup> {
        let generations = match &self.shared {
            None => None,
            Some(shared) => match shared.read(code.as_str()).await {
                Read::Hit(lookup) => {
                    metrics::counter!("kurz_cache_requests_total", "tier" => "l2", "result" => "hit").increment(1);
                    return Ok(lookup);
                }
                Read::Miss(generations) => {
                    metrics::counter!("kurz_cache_requests_total", "tier" => "l2", "result" => "miss").increment(1);
                    Some(generations)
                }
                Read::Unavailable => None,
            },
        };
        metrics::counter!("kurz_cache_store_lookups_total").increment(1);
        let lookup = self.inner.get_url_by_code(code).await?.map(Arc::new);
        if let (Some(shared), Some(generations)) = (&self.shared, generations) {
            shared.write(code.as_str(), &lookup, generations).await;
        }
        Ok(lookup)
    }

    /// Drops `codes` from every replica's caches.
    async fn invalidate(&self, codes: &[String]) {
        for code in codes {
            self.local.invalidate(code).await;
            if let Some(shared) = &self.shared
                && !shared.invalidate(code).await
            {
                tracing::error!(
                    code,
                    "could not publish a cache invalidation; other replicas may lag"
                );
            }
        }
    }

    async fn invalidate_all(&self) {
        self.local.flush();
        if let Some(shared) = &self.shared
            && !shared.invalidate_all().await
        {
            tracing::error!("could not publish a cache flush; other replicas may lag");
        }
    }

    /// Loads the `limit` most-clicked active links into both tiers.
    pub async fn prewarm(&self, limit: i64) -> StoreResult<usize> {
        if limit <= 0 {
            return Ok(0);
        }
        let hot = self.inner.hot_urls(limit).await?;
        for url in &hot {
            let lookup = Some(Arc::new(url.clone()));
            if let Some(shared) = &self.shared
                && let Read::Miss(generations) = shared.read(&url.short_code).await
            {
                shared.write(&url.short_code, &lookup, generations).await;
            }
            self.local.put(&url.short_code, lookup).await;
        }
        metrics::gauge!("kurz_cache_prewarmed_links").set(hot.len() as f64);
        Ok(hot.len())
    }

    /// The codes of every url `user_id` owns.
    async fn codes_of_user(&self, user_id: i64) -> StoreResult<Vec<String>> {
        let filter = UrlFilter {
            user_id: Some(user_id),
            ..UrlFilter::default()
        };
        let mut codes = Vec::new();
        loop {
            let page = Page {
                limit: INVALIDATE_PAGE,
                offset: codes.len() as i64,
            };
            let listing = self.inner.list_urls(&filter, page).await?;
            let fetched = listing.items.len();
            codes.extend(listing.items.into_iter().map(|u| u.short_code));
            if fetched < INVALIDATE_PAGE as usize {
                return Ok(codes);
            }
        }
    }
}

#[async_trait]
impl Store for CachedStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    /// Stops the Redis tasks, then closes the store.
    async fn close(&self) {
        self.stop.cancel();
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
        self.inner.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        self.inner.pool_stats()
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.inner.create_user(user).await
    }
    async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
        self.inner.get_user(id).await
    }
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>> {
        self.inner.list_users(filter, page).await
    }
    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>> {
        self.inner.update_user(id, patch).await
    }
    /// The user's urls lose their owner, which their click events record: invalidate them.
    async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        let codes = self.codes_of_user(id).await?;
        let deleted = self.inner.delete_user(id).await?;
        self.invalidate(&codes).await;
        Ok(deleted)
    }

    /// A custom code may have been asked for before it existed, so every cache drops its
    /// "unknown" answer before the create answers. A freshly generated code needs none of
    /// that: a cache holds an answer only for a code someone asked for, and nobody can ask
    /// for a random code before it is handed out except by guessing one in 62⁶; even then
    /// the cost is a 404 for at most `KURZ_NEGATIVE_TTL_SECS`. Skipping it spares every
    /// create its Redis round trips and every replica an L1 tombstone.
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        let fresh = url.fresh_code;
        let created = self.inner.create_url(url).await?;
        if !fresh {
            self.invalidate(std::slice::from_ref(&created.short_code))
                .await;
        }
        Ok(created)
    }
    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
        self.inner.get_url(id).await
    }
    async fn get_url_by_code(&self, code: &ShortCode) -> StoreResult<Option<Url>> {
        Ok(self.resolve(code).await?.map(|url| (*url).clone()))
    }
    async fn hot_urls(&self, limit: i64) -> StoreResult<Vec<Url>> {
        self.inner.hot_urls(limit).await
    }
    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>> {
        self.inner.list_urls(filter, page).await
    }
    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>> {
        let updated = self.inner.update_url(id, patch, now).await?;
        if let Some(url) = &updated {
            self.invalidate(std::slice::from_ref(&url.short_code)).await;
        }
        Ok(updated)
    }
    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        let deleted = self.inner.delete_url(id, now).await?;
        if let Some(url) = &deleted {
            self.invalidate(std::slice::from_ref(&url.short_code)).await;
        }
        Ok(deleted)
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        self.inner.create_event(event).await
    }
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        self.inner.append_events(events).await
    }
    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>> {
        self.inner.list_events(filter, page).await
    }

    async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
        self.inner.import_users(rows).await
    }
    /// Imported rows may change any code: flush everything, everywhere.
    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        let imported = self.inner.import_urls(rows).await?;
        self.invalidate_all().await;
        Ok(imported)
    }
    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
        self.inner.import_events(rows).await
    }

    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        self.inner.create_api_key(key).await
    }
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_api_keys().await
    }
    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        self.inner.revoke_api_key(id, now).await
    }
    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.inner.find_api_key(secret_hash).await
    }
    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        self.inner.record_api_key_use(uses).await
    }
}
