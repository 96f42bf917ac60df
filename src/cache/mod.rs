//! The link caches, wrapped around the link store and nothing else: lookups by short code
//! go L1 (in process) → L2 (Redis, shared) → store, and every link write that can change
//! what a code leads to invalidates it on every replica before the write answers. A cache
//! failure is a miss plus a metric, never an error.

mod bus;
mod link;
mod local;
mod rate;
mod refresh;
mod shared;
mod topology;

pub use local::Lookup;
pub use rate::SharedRateLimit;

use crate::config::{CacheSettings, L1Mode};
use crate::domain::{ImportedLink, Link, NewUrl, ShortCode, Timestamp, Url, UrlPatch};
use crate::store::{LinkStore, Listing, Page, StoreError, StoreResult, UrlFilter};
use async_trait::async_trait;
use local::LocalCache;
use shared::{Read, SharedCache};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use topology::Topology;

/// How many of a deleted user's urls are looked up per page when invalidating them.
const INVALIDATE_PAGE: i64 = 1_000;

/// Whether `condition` holds, looked at every 50 ms until it does or `limit` has passed
/// (the Redis tasks set the state it reads; nothing signals a change).
async fn holds_within(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The link store seen through the caches.
pub struct CachedLinks {
    inner: Arc<dyn LinkStore>,
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
    /// The links being read again ahead of their expiry (see [`refresh`]).
    refreshes: refresh::Refreshes,
    /// This cache itself, for the refreshes' background tasks.
    me: Weak<Self>,
}

impl CachedLinks {
    /// Wraps `inner`, and with Redis configured starts connecting and subscribing in the
    /// background (kurz serves while Redis is down). `single_process`: the store is the
    /// embedded one, which no other process writes.
    pub fn start(
        inner: Arc<dyn LinkStore>,
        single_process: bool,
        settings: &CacheSettings,
    ) -> anyhow::Result<Arc<Self>> {
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
        Ok(Arc::new_cyclic(|me| Self {
            inner,
            local,
            shared,
            l1: settings.l1,
            single_process,
            stop,
            tasks: std::sync::Mutex::new(tasks),
            l1_hits: metrics::counter!("kurz_cache_requests_total", "tier" => "l1", "result" => "hit"),
            refreshes: refresh::Refreshes::default(),
            me: me.clone(),
        }))
    }

    /// Rate-limit counting shared through Redis, when Redis is configured.
    pub fn shared_rate_limit(&self) -> Option<SharedRateLimit> {
        self.shared.clone().map(SharedRateLimit::new)
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
        if let Some(shared) = &self.shared
            && !holds_within(timeout, || shared.is_healthy()).await
        {
            tracing::warn!(
                "Redis not reachable: running replicas' caches will not be told of this import"
            );
        }
    }

    /// Stops the Redis tasks (the store below is closed by its owner).
    pub async fn stop(&self) {
        self.stop.cancel();
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            let _ = task.await;
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

    /// What `code` leads to: a link (possibly inactive) or nothing.
    pub async fn resolve(&self, code: &ShortCode) -> StoreResult<Lookup> {
        let key = code.as_str();
        if !self.l1_trusted() {
            return self.resolve_below_l1(code).await;
        }
        if let Some(hit) = self.local.get(key).await {
            self.l1_hits.increment(1);
            if hit.due {
                self.refresh_ahead(code);
            }
            return Ok(hit.lookup);
        }
        metrics::counter!("kurz_cache_requests_total", "tier" => "l1", "result" => "miss")
            .increment(1);
        self.local
            .get_or_fill(key, || self.resolve_below_l1(code))
            .await
            .map_err(StoreError::from_shared)
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
        let lookup = self.inner.find_link(code).await?.map(Arc::new);
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

    /// Runs `write`, a change to url `id`, then voids its code in every cache, in a task of
    /// its own: to the end even if the caller stops waiting (a client gone, the request
    /// timeout). The code is read first, so that it is voided also when the write failed
    /// in a way that may have committed (the answer to its `COMMIT` lost). A change
    /// committed and not announced would be served from the caches for their lifetime.
    async fn changing<F>(&self, id: i64, write: F) -> StoreResult<Option<Url>>
    where
        F: Future<Output = StoreResult<Option<Url>>> + Send + 'static,
    {
        let Some(me) = self.me.upgrade() else {
            return write.await;
        };
        let Some(before) = self.inner.get_url(id).await? else {
            return write.await;
        };
        let task = tokio::spawn(async move {
            let written = write.await;
            let unchanged = matches!(
                written,
                Ok(None)
                    | Err(StoreError::Conflict(_)
                        | StoreError::MissingReference(_)
                        | StoreError::Down)
            );
            if !unchanged {
                me.invalidate(std::slice::from_ref(&before.short_code))
                    .await;
            }
            written
        });
        // A panic goes on to the caller's, as if the write had run there (answered 500);
        // the task is never cancelled (the runtime outlives every request).
        task.await
            .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()))
    }

    async fn invalidate_all(&self) {
        self.local.flush();
        if let Some(shared) = &self.shared
            && !shared.invalidate_all().await
        {
            tracing::error!("could not publish a cache flush; other replicas may lag");
        }
    }

    /// Runs `write`, which takes user `owner`'s links from them (deleting the user), and
    /// invalidates those links: their click events name the owner.
    pub async fn disowning<T>(
        &self,
        owner: i64,
        write: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let codes = self.codes_of_owner(owner).await?;
        let written = write.await?;
        self.invalidate(&codes).await;
        Ok(written)
    }

    /// The codes of every url `owner` owns.
    async fn codes_of_owner(&self, owner: i64) -> StoreResult<Vec<String>> {
        let filter = UrlFilter {
            user_id: Some(owner),
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

/// Reads pass through; every write invalidates what it changed before it answers.
#[async_trait]
impl LinkStore for CachedLinks {
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
    async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>> {
        Ok(self.resolve(code).await?.map(|link| (*link).clone()))
    }
    async fn find_links(&self, codes: &[ShortCode]) -> StoreResult<Vec<Link>> {
        self.inner.find_links(codes).await
    }
    async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>> {
        self.inner.most_clicked(limit).await
    }
    async fn newest_unclicked_links(&self, limit: i64) -> StoreResult<Vec<Link>> {
        self.inner.newest_unclicked_links(limit).await
    }
    async fn spend_visit(&self, url_id: i64, cap: i64) -> StoreResult<bool> {
        self.inner.spend_visit(url_id, cap).await
    }
    async fn visits_spent(&self, url_id: i64) -> StoreResult<i64> {
        self.inner.visits_spent(url_id).await
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
        let inner = self.inner.clone();
        self.changing(id, async move { inner.update_url(id, patch, now).await })
            .await
    }
    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        let inner = self.inner.clone();
        self.changing(id, async move { inner.delete_url(id, now).await })
            .await
    }
    /// Imported rows may change any code: flush everything, everywhere.
    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        let imported = self.inner.import_urls(rows).await?;
        self.invalidate_all().await;
        Ok(imported)
    }
    /// The inserted codes may be cached as unknown: those are forgotten, everywhere.
    async fn import_links(
        &self,
        links: &[ImportedLink],
        dry_run: bool,
    ) -> StoreResult<Vec<Option<String>>> {
        let taken = self.inner.import_links(links, dry_run).await?;
        if !dry_run {
            let inserted: Vec<String> = links
                .iter()
                .zip(&taken)
                .filter(|(_, taken)| taken.is_none())
                .map(|(link, _)| link.url.short_code.as_str().to_owned())
                .collect();
            self.invalidate(&inserted).await;
        }
        Ok(taken)
    }
}
