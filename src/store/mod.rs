//! What kurz persists, as small traits per resource — users, links, events, API keys, and
//! the schema itself — with two backends (embedded SQLite, PostgreSQL), one file per
//! resource each, checked by one conformance suite. SQL and row mapping that both dialects
//! share live in [`sql`]; retries are a helper each backend calls ([`retry`]).

pub mod breaker;
mod creates;
mod error;
mod filter;
mod pool;
mod postgres;
pub mod retry;
mod sql;
mod sqlite;
mod transfer;

pub use error::{StoreError, StoreResult};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sql::Table;
pub use sqlite::SqliteStore;
pub use transfer::{Pinned, Rows, Transfer};

use crate::domain::stats::Counters;
use crate::domain::{
    ApiKey, ApiKeyUse, Event, ImportedLink, ImportedUser, Link, NewApiKey, NewEvent, NewUrl,
    NewUser, ShortCode, Timestamp, Url, UrlPatch, User, UserPatch, Visited,
};
use async_trait::async_trait;
use std::sync::Arc;

/// Which rows of a list to return: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// One page of a list plus the number of rows matching its filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A connection pool's size now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub username: Option<String>,
    /// Compared case-insensitively.
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlFilter {
    pub user_id: Option<i64>,
    pub is_active: Option<bool>,
    pub short_code: Option<String>,
    /// Text found, without regard to case, in the code, the target or the title.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: Option<String>,
}

/// The database itself: its schema, its health, its pools.
#[async_trait]
pub trait Schema: Send + Sync + 'static {
    /// Which backend this is, for logs and `/ready`.
    fn kind(&self) -> &'static str;
    /// Creates or migrates the schema.
    async fn migrate(&self) -> StoreResult<()>;
    /// Starts the store's own upkeep for a store that serves, once it is migrated (the
    /// embedded store's events indexer). A store opened for a command, or as the source of
    /// a copy, does without: its reads are exact all the same.
    fn start_upkeep(&self) {}
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pools: idle connections at once, those in use as they come back.
    async fn close(&self);
    /// Connections per pool, for metrics.
    fn pool_stats(&self) -> Vec<PoolStats>;
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// `Conflict("username" | "email")` when another user has either.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: i64) -> StoreResult<Option<User>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>>;
    /// `Ok(None)` when no such user.
    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>>;
    /// Deletes the user; their urls stay with `user_id` null. `false` when no such user.
    async fn delete_user(&self, id: i64) -> StoreResult<bool>;
    /// Upserts rows by id, keeping their ids and timestamps, and moves the id sequence past
    /// them; rows without an id upsert by username (see [`ImportedUser`]) and take new ids.
    /// All or nothing. Returns the number of rows processed.
    async fn import_users(&self, rows: &[ImportedUser]) -> StoreResult<u64>;
}

/// Short links. Every write records its audit event in the same transaction, so a url
/// never exists without its history.
#[async_trait]
pub trait LinkStore: Send + Sync + 'static {
    /// Inserts the url and its `created` event. `Conflict("short_code")` when the code is
    /// taken, `MissingReference("user")` when the owner does not exist.
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url>;
    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>>;
    /// What a redirect needs of `code`.
    async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>>;
    /// What a redirect needs of each of `codes` that exists, in one read (for refreshing
    /// cached links many at a time); a code that names no url is left out.
    async fn find_links(&self, codes: &[ShortCode]) -> StoreResult<Vec<Link>>;
    /// The `limit` most-clicked active links, most clicked first (for cache pre-warming),
    /// read from the click counters kept with every batch of clicks, not from the events.
    async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>>;
    /// The `limit` newest active links never clicked, newest first (for pre-warming beyond
    /// the most clicked: a link is shared, and visited, soon after it is made or imported).
    async fn newest_unclicked_links(&self, limit: i64) -> StoreResult<Vec<Link>>;
    /// Counts one more human visit of capped link `url_id` if fewer than `cap` were
    /// counted; whether it was. Atomic across every replica: this is the cap's one count.
    async fn spend_visit(&self, url_id: i64, cap: i64) -> StoreResult<bool>;
    /// The human visits counted against link `url_id`'s cap so far.
    async fn visits_spent(&self, url_id: i64) -> StoreResult<i64>;
    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>>;
    /// Applies the patch, bumps `updated_at` to `now` and appends one `updated` event per
    /// changed field.
    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>>;
    /// Deletes the url and appends its `deleted` event. Returns the deleted row.
    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>>;
    /// As [`UserStore::import_users`].
    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64>;
    /// Links from another shortener, all in one transaction: each takes a fresh id and is
    /// written with its `created` event (`audit::imported_event`), unless its code is
    /// taken (by an earlier link or one before it in `links`), which is left as it is. For
    /// each link, the target its code already led to, or `None` when it was inserted.
    /// `dry_run` answers the same and rolls everything back.
    async fn import_links(
        &self,
        links: &[ImportedLink],
        dry_run: bool,
    ) -> StoreResult<Vec<Option<String>>>;
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends one event after checking that the url and user it names exist.
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event>;
    /// Appends the `click` (and `blocked`) events of many visits at once (the click
    /// writer's batches), without reference checks, and adds their clicks to the links'
    /// click counters in the same transaction. `key` names the batch: a batch whose key
    /// was already written (a retry after a commit whose answer was lost) writes nothing
    /// and succeeds.
    async fn append_batch(&self, visits: &[Visited], key: i64) -> StoreResult<()>;
    /// [`EventStore::append_batch`] under a fresh key.
    async fn append_visits(&self, visits: &[Visited]) -> StoreResult<()> {
        self.append_batch(visits, rand::random()).await
    }
    async fn get_event(&self, id: i64) -> StoreResult<Option<Event>>;
    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>>;
    /// As [`UserStore::import_users`]; the click counters are recounted afterwards.
    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64>;
    /// Removes `click` events older than `before` among the `ids` ids from the oldest click
    /// on (one bounded step of retention); how many went. `0`: no click is older. The
    /// counters stay.
    async fn forget_clicks(&self, before: Timestamp, ids: i64) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a minted key. `MissingReference("user")` when its user does not exist.
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey>;
    /// Every key, revoked and expired ones included, oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Marks the key revoked (keeping the first revocation time). `false` when no such key.
    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool>;
    /// The key whose secret hashes to `secret_hash`, usable or not.
    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Adds request counts and moves last-used times forward (never back).
    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()>;
}

/// The click counters: what the stats are read from.
#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// The counters of `url_id` (`None`: every link, with the top links) in the hour
    /// buckets `[first, end)`; the dimensions (counted per day) of the days those hours touch.
    async fn counters(&self, url_id: Option<i64>, buckets: (i64, i64)) -> StoreResult<Counters>;
    /// Every human click each of `url_ids` ever had, from the hourly counters (links
    /// without any are left out): one statement, for a page of a list.
    async fn humans_by_link(&self, url_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// The key visitors are hashed with on `day` (days since 1970-01-01 UTC): made on first
    /// use and the same for every replica. Keys and visitor records from before yesterday
    /// are deleted on the way.
    async fn visitor_key(&self, day: i64) -> StoreResult<String>;
}

/// One backend seen through its resource traits; cheap to clone.
#[derive(Clone)]
pub struct Stores {
    pub schema: Arc<dyn Schema>,
    pub users: Arc<dyn UserStore>,
    pub links: Arc<dyn LinkStore>,
    pub events: Arc<dyn EventStore>,
    pub keys: Arc<dyn KeyStore>,
    pub transfer: Arc<dyn Transfer>,
    pub stats: Arc<dyn StatsStore>,
}

impl Stores {
    /// Every resource of one backend.
    pub fn of<B>(backend: B) -> Self
    where
        B: Schema + UserStore + LinkStore + EventStore + KeyStore + Transfer + StatsStore,
    {
        let backend = Arc::new(backend);
        Self {
            schema: backend.clone(),
            users: backend.clone(),
            links: backend.clone(),
            events: backend.clone(),
            keys: backend.clone(),
            transfer: backend.clone(),
            stats: backend,
        }
    }
}
