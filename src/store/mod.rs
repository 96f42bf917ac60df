//! The `Store` trait: everything kurz persists, behind one interface with two
//! implementations (embedded SQLite, PostgreSQL), checked by one conformance suite.

mod filter;
mod postgres;
mod retry;
mod sqlite;

pub use postgres::{PostgresOptions, PostgresStore};
pub use retry::RetryingStore;
pub use sqlite::SqliteStore;

use crate::domain::{
    ApiKey, ApiKeyUse, Event, NewApiKey, NewEvent, NewUrl, NewUser, ShortCode, Timestamp, Url,
    UrlPatch, User, UserPatch,
};
use async_trait::async_trait;

/// Which rows of a list to return: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// A connection pool's size now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: usize,
}

/// One page of a list plus the number of rows matching its filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
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
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: Option<String>,
}

/// Why a store call failed, in the terms the HTTP layer maps to statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; the field names which one (`username`, `email`, `short_code`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// A row referred to by id does not exist (`user`, `url`).
    #[error("{0} not found")]
    MissingReference(&'static str),
    /// The store cannot be reached or is overloaded; worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a broken database.
    #[error("store error: {0}")]
    Other(#[source] sqlx::Error),
    /// Stored data that cannot be read back as a domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// One failure shared by every request that waited on the same coalesced lookup.
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// Classifies a driver error: connection-level trouble is transient.
    pub fn from_sqlx(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => Self::Unavailable(err),
            sqlx::Error::Database(db) if is_transient_code(db.code().as_deref()) => {
                Self::Unavailable(err)
            }
            _ => Self::Other(err),
        }
    }

    /// Maps a unique or foreign-key violation to the client-facing error it means
    /// (`unique`/`foreign` name the field and the referenced row); anything else as `from_sqlx`.
    pub fn from_constraint(err: sqlx::Error, unique: &'static str, foreign: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(unique),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                Self::MissingReference(foreign)
            }
            _ => Self::from_sqlx(err),
        }
    }

    /// True when retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Shared(inner) => inner.is_transient(),
            _ => false,
        }
    }

    /// Unwraps an error shared by coalesced callers when this caller is its only holder.
    pub fn from_shared(shared: std::sync::Arc<StoreError>) -> Self {
        std::sync::Arc::try_unwrap(shared).unwrap_or_else(Self::Shared)
    }

    /// True when the failed call surely changed nothing, so a write may be sent again
    /// without risking a duplicate: the connection was never made, or the database rolled
    /// the whole transaction back (serialization failure, deadlock, busy).
    pub fn is_safe_to_repeat(&self) -> bool {
        match self {
            Self::Unavailable(sqlx::Error::Io(io)) => {
                io.kind() == std::io::ErrorKind::ConnectionRefused
            }
            Self::Unavailable(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("5" | "6" | "261" | "517" | "40001" | "40P01" | "57P03" | "53300")
            ),
            _ => false,
        }
    }
}

/// SQLite busy/locked, PostgreSQL serialization failure, deadlock, admin shutdown,
/// cannot-connect-now, too-many-connections.
fn is_transient_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("5" | "6" | "261" | "517" | "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300")
    )
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::from_sqlx(err)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Awaits a connection (or a transaction, whose BEGIN is then included) from a pool and
/// records how long that took: a pool too small for the load shows here first.
pub(crate) async fn acquired<T>(
    pool: &'static str,
    acquire: impl std::future::Future<Output = T>,
) -> T {
    let start = std::time::Instant::now();
    let connection = acquire.await;
    metrics::histogram!("kurz_store_pool_acquire_seconds", "pool" => pool)
        .record(start.elapsed().as_secs_f64());
    connection
}

/// Splits rows for multi-row INSERTs into chunks of a few fixed sizes (greedy, largest
/// first), so each size's statement is prepared once and then reused from the statement
/// cache; chunks of every possible size would each be prepared anew.
pub(crate) fn insert_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    const SIZES: [usize; 4] = [256, 32, 4, 1];
    std::iter::from_fn(move || {
        let size = SIZES.into_iter().find(|size| rows.len() >= *size)?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// Everything kurz persists. Every write that has an audit event writes it in the
/// same transaction, so a url never exists without its history.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and `/ready`.
    fn kind(&self) -> &'static str;
    /// Creates or migrates the schema.
    async fn migrate(&self) -> StoreResult<()>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pools, waiting for connections in use.
    async fn close(&self);
    /// Connections per pool, for metrics.
    fn pool_stats(&self) -> Vec<PoolStats>;

    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: i64) -> StoreResult<Option<User>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>>;
    /// `Ok(None)` when no such user.
    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>>;
    /// Deletes the user and sets `user_id` to null on their urls. `false` when no such user.
    async fn delete_user(&self, id: i64) -> StoreResult<bool>;

    /// Inserts the url and its `created` event. `Conflict("short_code")` when the code is taken,
    /// `MissingReference("user")` when the owner does not exist.
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url>;
    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>>;
    async fn get_url_by_code(&self, code: &ShortCode) -> StoreResult<Option<Url>>;
    /// The `limit` most-clicked active urls, most clicked first (for cache pre-warming).
    async fn hot_urls(&self, limit: i64) -> StoreResult<Vec<Url>>;
    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>>;
    /// Applies the patch, bumps `updated_at` to `now` and appends one `updated` event per changed field.
    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>>;
    /// Deletes the url and appends its `deleted` event. Returns the deleted row.
    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>>;

    /// Appends one event after checking that the url and user it names exist.
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event>;
    /// Appends many events at once (the click writer's batches), without reference checks.
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()>;
    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>>;

    /// Upserts rows by id, keeping their ids and timestamps, and moves the id sequence past them.
    /// All or nothing. Returns the number of rows processed.
    async fn import_users(&self, rows: &[User]) -> StoreResult<u64>;
    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64>;
    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64>;

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

#[cfg(test)]
mod tests {
    use super::insert_chunks;

    #[test]
    fn insert_chunks_cover_every_row_in_a_few_sizes() {
        let rows: Vec<u32> = (0..1000).collect();
        let sizes: Vec<usize> = insert_chunks(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes.iter().all(|s| [256, 32, 4, 1].contains(s)));
        assert_eq!(insert_chunks::<u32>(&[]).count(), 0);
    }
}
