//! The embedded store: SQLite in WAL mode, one writer connection (SQLite allows one
//! writer at a time, so writes queue in the pool instead of failing with SQLITE_BUSY)
//! and a pool of readers that never block on it.

mod events;
mod keys;
mod links;
mod users;

use super::filter::FilterValue;
use super::sql::{acquired, list_queries};
use super::{Listing, Page, PoolStats, Schema, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

/// The embedded SQLite store.
pub struct SqliteStore {
    /// Exactly one connection: every write transaction runs on it, in turn.
    writer: SqlitePool,
    /// Read-only connections for lookups and lists.
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path, readers: u32, busy_timeout: Duration) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(busy_timeout)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .acquire_timeout(busy_timeout)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }

    /// A reader connection.
    async fn reader(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(acquired("sqlite_readers", self.readers.acquire()).await?)
    }

    /// The writer, outside a transaction (one statement commits itself).
    async fn writer(&self) -> StoreResult<PoolConnection<Sqlite>> {
        Ok(acquired("sqlite_writer", self.writer.acquire()).await?)
    }

    /// A write transaction on the writer.
    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(acquired("sqlite_writer", self.writer.begin()).await?)
    }

    /// One page of a list and its total, with the same filters.
    async fn list<T>(
        &self,
        table: &str,
        select: &str,
        filters: &[(&'static str, Option<FilterValue>)],
        page: Page,
    ) -> StoreResult<Listing<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let (mut count, mut rows) = list_queries::<Sqlite>(table, select, filters, page);
        let total = count
            .build_query_scalar()
            .fetch_one(&mut *self.reader().await?)
            .await?;
        let items = rows
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(Listing { items, total })
    }
}

/// Whether a row with this id exists (`sql` selects by id).
async fn exists(conn: &mut SqliteConnection, sql: &'static str, id: i64) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

#[async_trait]
impl Schema for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        // After a rollback, an older release runs on a newer schema (docs/DEPLOY.md).
        migrator.set_ignore_missing(true);
        migrator
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Other(sqlx::Error::Migrate(Box::new(e))))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [
            ("sqlite_writer", &self.writer),
            ("sqlite_readers", &self.readers),
        ]
        .into_iter()
        .map(|(name, pool)| PoolStats {
            name,
            size: pool.size(),
            idle: pool.num_idle(),
        })
        .collect()
    }
}
