//! The embedded store: SQLite in WAL mode, one writer connection (SQLite allows one
//! writer at a time, so writes queue in the pool instead of failing with SQLITE_BUSY)
//! and a pool of readers that never block on it. The resources are the shared ones of
//! [`super::sql`]; this module gives them SQLite's connections, and its own way of writing
//! click batches ([`click_batches`]), groups of creates ([`creates`]) and key uses
//! ([`writes`]). The writer and the readers are pooled by [`crate::store::pool`]; a
//! connection of its own checkpoints the WAL ([`checkpoint`]).

mod checkpoint;
mod click_batches;
mod creates;
mod event_counts;
mod event_index;
mod files;
mod writes;

use super::creates::Creates;
use super::filter::{Kept, Lookup};
use super::pool;
use super::sql::{self, Table, acquired};
use super::{PoolStats, Schema, StoreResult};
use async_trait::async_trait;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{FromRow, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// SQLite's connections, pooled by kurz.
pub type Pool = pool::Pool<SqliteConnection>;
type Transaction = pool::Transaction<SqliteConnection>;

/// The writer for a query that carries its own `BEGIN` and `COMMIT` (the click batches and
/// the create batches): under load every trip to SQLite's worker thread waits for the
/// runtime to schedule the task again, and a transaction held across several trips kept the
/// one writer idle while every other write waited. Should the query fail part-way, the
/// transaction is rolled back before the connection goes back to the pool, so no later
/// write finds it open.
pub struct OneHop(pool::Pooled<SqliteConnection>);

impl OneHop {
    /// The writer pool's connection.
    async fn on(writer: &Pool) -> StoreResult<Self> {
        let connection = acquired("sqlite_writer", writer.acquire()).await?;
        Ok(Self(connection.opening()))
    }

    /// Nothing to do: the query committed.
    async fn commit(mut self) -> StoreResult<()> {
        self.0.committed();
        Ok(())
    }
}

impl std::ops::Deref for OneHop {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.0
    }
}

impl std::ops::DerefMut for OneHop {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }
}

/// The embedded SQLite store.
pub struct SqliteStore {
    /// Exactly one connection: every write transaction runs on it, in turn.
    writer: Pool,
    /// Read-only connections for lookups and lists.
    readers: Pool,
    /// Creates, written in groups on the writer (see [`creates`]).
    creates: Creates,
    /// One connection that copies the WAL into the database file (see [`checkpoint`]).
    checkpointer: SqlitePool,
    /// One connection that keeps the events' indexes by link and by user, in a file of
    /// their own (see [`event_index`]).
    indexer: Pool,
    /// The indexer's task and the check of the events' counts are started once, by a
    /// store that serves (`start_upkeep`).
    upkeep: std::sync::Once,
}

sql::resources!(SqliteStore, Sqlite);

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
        // The writer touches pages all over the click counters (and, when this was measured,
        // the events' indexes): 8 MiB of page cache (the default is 2) spared it a quarter
        // of its reads.
        let writer = Pool::new(
            options
                .clone()
                .pragma("cache_size", "-8192")
                .pragma("wal_autocheckpoint", checkpoint::WRITER_FALLBACK_PAGES),
            1,
            busy_timeout,
        )?;
        // Opened now, so that a path kurz cannot write fails here, and the file exists
        // before a reader (read-only, which cannot create it) opens it.
        drop(writer.acquire().await?);
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(busy_timeout)
            .connect_with(options.clone())
            .await?;
        checkpoint::start(checkpointer.clone());
        // Made before the readers, which attach it read-only.
        let indexer = event_index::open(path, options.clone(), busy_timeout).await?;
        let readers = Pool::set_up(
            options.read_only(true),
            Some(event_index::attach(path)?),
            readers,
            busy_timeout,
        )?;
        let creates = Creates::start(creates::SqliteCreates {
            writer: writer.clone(),
            readers: readers.clone(),
        });
        Ok(Self {
            writer,
            readers,
            creates,
            checkpointer,
            indexer,
            upkeep: std::sync::Once::new(),
        })
    }

    /// The files kurz derives from the database at `path` (the events' index file and
    /// SQLite's own beside it): made again when missing.
    pub fn derived_files(path: &Path) -> [std::path::PathBuf; 3] {
        files::derived(path)
    }

    /// The files beside the database at `path` that go with a scratch copy of it: SQLite's
    /// own, and the events' index file with SQLite's own beside that.
    pub fn scratch_files(path: &Path) -> impl Iterator<Item = std::path::PathBuf> {
        files::journal(path).into_iter().chain(files::derived(path))
    }

    /// A reader connection.
    async fn reader(&self) -> StoreResult<pool::Pooled<SqliteConnection>> {
        Ok(acquired("sqlite_readers", self.readers.acquire()).await?)
    }

    /// Nothing to pin: exports and moves read a copy of the file (`transfer::snapshot`).
    async fn hold_snapshot(&self) -> StoreResult<Option<crate::store::Pinned>> {
        Ok(None)
    }

    /// No pinned snapshot to read: the rows are read as they are.
    async fn snapshot_rows<T>(
        &self,
        _: &'static str,
        _: (i64, i64),
    ) -> StoreResult<Option<Vec<T>>> {
        Ok(None)
    }

    /// A write transaction on the writer.
    async fn begin(&self) -> StoreResult<Transaction> {
        Ok(acquired("sqlite_writer", self.writer.begin()).await?)
    }

    /// Statements are prepared once per connection and cached.
    fn persistent(&self) -> bool {
        true
    }

    fn query(&self, sql: &'static str) -> Query<'static, Sqlite, SqliteArguments> {
        sqlx::query(sql)
    }

    fn query_as<T>(&self, sql: &'static str) -> QueryAs<'static, Sqlite, T, SqliteArguments>
    where
        T: for<'r> FromRow<'r, SqliteRow>,
    {
        sqlx::query_as(sql)
    }

    fn query_scalar<T>(&self, sql: &'static str) -> QueryScalar<'static, Sqlite, T, SqliteArguments>
    where
        (T,): for<'r> FromRow<'r, SqliteRow>,
    {
        sqlx::query_scalar(sql)
    }

    /// Reading a url to change it: the single writer already keeps writes apart.
    const URL_FOR_UPDATE: &'static str = sql::links::BY_ID;

    /// The links of the codes in a JSON array of text.
    const LINKS_BY_CODES: &'static str = "SELECT id, user_id, short_code, original_url AS target, \
         is_active, settings, password_hash FROM urls WHERE short_code IN (SELECT value FROM json_each($1))";

    /// The number of urls, kept by triggers (migration 0010): a count walks every leaf page
    /// of an index of urls (7 ms a list page at 1,000,000 urls). Counted after all should its
    /// row be missing. The number of events, kept by the writes (see [`event_counts`]).
    const COUNTED: &'static [(&'static str, &'static str)] = &[
        (
            "urls",
            "SELECT coalesce((SELECT n FROM row_counts WHERE name = 'urls'), (SELECT count(*) FROM urls))",
        ),
        ("events", event_counts::TOTAL),
    ];

    /// The events of each type are counted as they are written (see [`event_counts`]).
    const EVENTS_BY_TYPE: Option<&'static Kept> = Some(&event_counts::BY_TYPE);

    /// One event appended and counted in one trip to SQLite's thread.
    const INSERT_EVENT: &'static str = event_counts::INSERT_COUNTED;

    /// Events by link and by user are read through their index file.
    const EVENT_LOOKUPS: &'static [(&'static str, &'static Lookup)] = &[
        ("url_id", &event_index::BY_URL),
        ("user_id", &event_index::BY_USER),
    ];

    /// SQLite has no statement timeout to lift.
    const UNBOUNDED: &'static str = "SELECT 1";

    /// Nothing to lock: every write runs on the one writer connection, in turn.
    async fn lock_user_writes(&self, _conn: &mut SqliteConnection) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to lock (the one writer) and no sequence to move (`AUTOINCREMENT` follows
    /// the largest id by itself). Imported events have ids of their own, which the events'
    /// index file cannot follow: they draw a new generation (see [`Self::events_renumbered`]).
    async fn lock_for_import(&self, conn: &mut SqliteConnection, table: Table) -> StoreResult<()> {
        if let Table::Events = table {
            self.events_renumbered(conn).await?;
        }
        Ok(())
    }

    /// Events were imported or cleared, so their ids no longer grow in commit order: a new
    /// generation, and the events' index file is made again.
    async fn events_renumbered(&self, conn: &mut SqliteConnection) -> StoreResult<()> {
        sqlx::query("UPDATE event_marks SET generation = random()")
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Retention looked at the events below `id`: the entries of the events' index file
    /// below it may name removed events, and are checked.
    async fn events_forgotten_below(
        &self,
        conn: &mut SqliteConnection,
        id: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE event_marks SET forgotten_below = max(forgotten_below, $1)")
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn move_sequence(&self, _conn: &mut SqliteConnection, _table: Table) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl Schema for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut writer = self.writer.acquire().await?;
        sql::migrate(sqlx::migrate!("./migrations/sqlite"), &mut *writer).await?;
        // A file ahead of the database is started again before any read trusts it.
        event_index::check(&self.indexer).await
    }

    fn start_upkeep(&self) {
        self.upkeep.call_once(|| {
            event_index::start(self.indexer.clone());
            event_counts::start_check(self.readers.clone(), self.writer.clone());
        });
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.close().await;
        self.indexer.close().await;
        self.writer.close().await;
        self.readers.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [
            ("sqlite_writer", &self.writer),
            ("sqlite_readers", &self.readers),
        ]
        .into_iter()
        .map(|(name, pool)| {
            let (size, idle) = pool.status();
            PoolStats { name, size, idle }
        })
        .collect()
    }
}
