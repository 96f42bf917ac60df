//! `RetryingStore`: wraps any store and retries transient failures with bounded, jittered
//! backoff, so a database restart or a serialization failure costs a few milliseconds
//! instead of an error page. Reads retry on any transient failure; writes only when the
//! failure proves nothing was written (see [`StoreError::is_safe_to_repeat`]), so a retry
//! never duplicates a row.

use super::{
    EventFilter, Listing, Page, PoolStats, Store, StoreError, StoreResult, UrlFilter, UserFilter,
};
use crate::domain::{
    ApiKey, ApiKeyUse, Event, NewApiKey, NewEvent, NewUrl, NewUser, ShortCode, Timestamp, Url,
    UrlPatch, User, UserPatch,
};
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Three more attempts, 20 ms → 200 ms apart with jitter: enough to ride over a dropped
/// connection or a failover, short enough to answer within a client's patience.
const POLICY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(20))
    .with_max_delay(Duration::from_millis(200))
    .with_max_times(3)
    .with_jitter();

pub struct RetryingStore {
    inner: Arc<dyn Store>,
}

impl RetryingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }

    async fn read<T, F, Fut>(&self, op: &'static str, call: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let start = Instant::now();
        let result = call
            .retry(POLICY)
            // A pool timeout already waited its full budget; waiting again only piles up requests.
            .when(|e: &StoreError| {
                e.is_transient() && !matches!(e, StoreError::Unavailable(sqlx::Error::PoolTimedOut))
            })
            .notify(|e, wait| notify(op, e, wait))
            .await;
        observe(op, start);
        result
    }

    async fn write<T, F, Fut>(&self, op: &'static str, call: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let start = Instant::now();
        let result = call
            .retry(POLICY)
            .when(StoreError::is_safe_to_repeat)
            .notify(|e, wait| notify(op, e, wait))
            .await;
        observe(op, start);
        result
    }
}

fn observe(op: &'static str, start: Instant) {
    metrics::histogram!("kurz_store_operation_duration_seconds", "op" => op)
        .record(start.elapsed().as_secs_f64());
}

fn notify(op: &'static str, err: &StoreError, wait: Duration) {
    metrics::counter!("kurz_store_retries_total", "op" => op).increment(1);
    tracing::warn!(op, error = %err, wait_ms = wait.as_millis() as u64, "store call failed; retrying");
}

#[async_trait]
impl Store for RetryingStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        self.inner.pool_stats()
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write("create_user", || self.inner.create_user(user.clone()))
            .await
    }
    async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
        self.read("get_user", || self.inner.get_user(id)).await
    }
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>> {
        self.read("list_users", || self.inner.list_users(filter, page))
            .await
    }
    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>> {
        self.write("update_user", || self.inner.update_user(id, patch.clone()))
            .await
    }
    async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        self.write("delete_user", || self.inner.delete_user(id))
            .await
    }

    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        self.write("create_url", || self.inner.create_url(url.clone()))
            .await
    }
    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
        self.read("get_url", || self.inner.get_url(id)).await
    }
    async fn get_url_by_code(&self, code: &ShortCode) -> StoreResult<Option<Url>> {
        self.read("get_url_by_code", || self.inner.get_url_by_code(code))
            .await
    }
    async fn hot_urls(&self, limit: i64) -> StoreResult<Vec<Url>> {
        self.read("hot_urls", || self.inner.hot_urls(limit)).await
    }
    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>> {
        self.read("list_urls", || self.inner.list_urls(filter, page))
            .await
    }
    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>> {
        self.write("update_url", || {
            self.inner.update_url(id, patch.clone(), now)
        })
        .await
    }
    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        self.write("delete_url", || self.inner.delete_url(id, now))
            .await
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        self.write("create_event", || self.inner.create_event(event.clone()))
            .await
    }
    /// Not retried here: the click writer has its own, longer retry loop.
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        let start = Instant::now();
        let result = self.inner.append_events(events).await;
        observe("append_events", start);
        result
    }
    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>> {
        self.read("list_events", || self.inner.list_events(filter, page))
            .await
    }

    async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
        self.write("import_users", || self.inner.import_users(rows))
            .await
    }
    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        self.write("import_urls", || self.inner.import_urls(rows))
            .await
    }
    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
        self.write("import_events", || self.inner.import_events(rows))
            .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        self.write("create_api_key", || self.inner.create_api_key(key.clone()))
            .await
    }
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read("list_api_keys", || self.inner.list_api_keys())
            .await
    }
    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        self.write("revoke_api_key", || self.inner.revoke_api_key(id, now))
            .await
    }
    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.read("find_api_key", || self.inner.find_api_key(secret_hash))
            .await
    }
    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        self.write("record_api_key_use", || self.inner.record_api_key_use(uses))
            .await
    }
}
