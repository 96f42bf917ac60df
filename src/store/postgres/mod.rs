//! The production store: PostgreSQL through a connection pool. Works directly or through
//! PgBouncer in transaction mode (set the statement cache to 0 there: named prepared
//! statements do not survive a change of server connection). The resources are the shared
//! ones of [`super::sql`]; this module gives them PostgreSQL's connections and locks, and
//! [`writes`] the few statements only PostgreSQL writes this way.

mod pool;
mod writes;

use super::breaker::Breaker;
use super::sql::{self, Table, acquired};
use super::{PoolStats, Schema, StoreResult};
use async_trait::async_trait;
use pool::{Pool, Pooled, Transaction};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Connection, FromRow, PgConnection, Postgres};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

/// Pool and connection settings for [`PostgresStore::connect`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Longest wait for a pooled connection.
    pub acquire_timeout: Duration,
    /// Server-side limit on one statement.
    pub statement_timeout: Duration,
    /// Prepared statements cached per connection; 0 for PgBouncer in transaction mode.
    pub statement_cache: usize,
    /// Where migrations run, when not through the pool: the migrator holds a session-level
    /// lock and prepares named statements, which PgBouncer's transaction mode cannot carry.
    pub migration_url: Option<String>,
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// Whether statements are prepared by name and cached per connection (direct
    /// connections), or sent unnamed (PgBouncer in transaction mode, where a named
    /// statement would outlive the transaction it was prepared in and collide with another
    /// client's).
    prepared: bool,
    /// A direct connection for migrations, when the pool goes through PgBouncer.
    migration_url: Option<String>,
    /// Fails acquires at once while the database is known to be down.
    breaker: Breaker,
}

sql::resources!(PostgresStore, Postgres);

/// Serialises user writes, so the username/email check and the write cannot interleave
/// between replicas. User writes are rare; a single lock keeps them simple and correct.
const USER_WRITE_LOCK: i64 = 0x6b75_727a_0001;

impl PostgresStore {
    /// Creates the pool (see [`pool`]).
    pub fn connect(url: &str, options: &PostgresOptions) -> StoreResult<Self> {
        let mut connect = PgConnectOptions::from_str(url)?
            .application_name("kurz")
            .statement_cache_capacity(options.statement_cache);
        // PgBouncer refuses the `options` start-up parameter: 0 leaves the timeout to the server.
        if !options.statement_timeout.is_zero() {
            let timeout = format!("{}ms", options.statement_timeout.as_millis());
            connect = connect.options([("statement_timeout", timeout)]);
        }
        let pool = Pool::new(
            connect.clone(),
            options.max_connections,
            options.acquire_timeout,
        )?;
        Ok(Self {
            pool,
            breaker: Breaker::new(connect),
            prepared: options.statement_cache > 0,
            migration_url: options.migration_url.clone(),
        })
    }

    /// A statement, prepared by name or not as the connection allows.
    fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(sql).persistent(self.prepared)
    }

    fn query_as<T>(&self, sql: &'static str) -> QueryAs<'static, Postgres, T, PgArguments>
    where
        T: for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_as(sql).persistent(self.prepared)
    }

    fn query_scalar<T>(&self, sql: &'static str) -> QueryScalar<'static, Postgres, T, PgArguments>
    where
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_scalar(sql).persistent(self.prepared)
    }

    /// Whether statements may be prepared by name (see [`PostgresStore::prepared`]).
    fn persistent(&self) -> bool {
        self.prepared
    }

    /// A connection for statements outside an explicit transaction (see [`Session`]).
    async fn reader(&self) -> StoreResult<Session> {
        Ok(if self.prepared {
            Session::Pooled(self.acquire(self.pool.acquire()).await?)
        } else {
            Session::Pinned(self.acquire(self.pool.begin()).await?)
        })
    }

    async fn begin(&self) -> StoreResult<Transaction> {
        self.acquire(self.pool.begin()).await
    }

    /// A connection from the pool, through the breaker.
    async fn acquire<C>(
        &self,
        acquire: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    ) -> StoreResult<C> {
        self.breaker.acquire(acquired("postgres", acquire)).await
    }

    /// Where a url is created: its one statement needs no transaction around it (one round
    /// trip instead of three); behind PgBouncer it still gets one (see [`Session`]).
    async fn write_session(&self) -> StoreResult<Session> {
        self.reader().await
    }

    /// The url and its `created` event in one statement, atomic by itself: creates were
    /// bound by round trips.
    const INSERT_URL: &'static str = "WITH url AS ( \
           INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at, \
             settings, password_hash) \
           VALUES ($1, $2, $3, $4, $5, $6, $6, $9, $10) RETURNING id \
         ), created AS ( \
           INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
           SELECT id, $1, $7, $6, $8 FROM url \
         ) \
         SELECT id FROM url";

    /// `FOR UPDATE`: the row is locked until the transaction ends, so concurrent updates of
    /// one url apply in turn and each sees the other's result.
    const URL_FOR_UPDATE: &'static str = "SELECT id, user_id, short_code, original_url, title, is_active, \
         created_at, updated_at, settings, password_hash FROM urls WHERE id = $1 FOR UPDATE";

    /// The tables whose number of rows is kept as they change (migration 0008), and the
    /// query that reads it: what a list without filters reads instead of counting the table.
    const COUNTED: &'static [(&'static str, &'static str)] = &[(
        "urls",
        "SELECT coalesce(sum(n), 0)::bigint FROM row_counts WHERE name = 'urls'",
    )];

    /// Lifts the statement timeout for the rest of a transaction: rebuilding the click
    /// counters after a move reads every event, which takes longer than any request may.
    const UNBOUNDED: &'static str = "SET LOCAL statement_timeout = 0";

    /// Holds every other replica's user writes until this transaction ends.
    async fn lock_user_writes(&self, conn: &mut PgConnection) -> StoreResult<()> {
        self.query("SELECT pg_advisory_xact_lock($1)")
            .bind(USER_WRITE_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Blocks concurrent inserts into `table` until the import commits (reads go on).
    async fn lock_for_import(&self, conn: &mut PgConnection, table: Table) -> StoreResult<()> {
        let statement = match table {
            Table::Users => "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE",
            Table::Urls => "LOCK TABLE urls IN SHARE ROW EXCLUSIVE MODE",
            Table::Events => "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE",
            Table::ApiKeys => "LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE",
        };
        self.query(statement).execute(conn).await?;
        Ok(())
    }

    /// Moves a table's id sequence past its largest id, so later inserts never collide with
    /// imported rows. Called with the table locked against concurrent inserts.
    async fn move_sequence(&self, conn: &mut PgConnection, table: Table) -> StoreResult<()> {
        let statement = match table {
            Table::Users => {
                "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), 1))"
            }
            Table::Urls => {
                "SELECT setval(pg_get_serial_sequence('urls', 'id'), GREATEST((SELECT max(id) FROM urls), 1))"
            }
            Table::Events => {
                "SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST((SELECT max(id) FROM events), 1))"
            }
            Table::ApiKeys => {
                "SELECT setval(pg_get_serial_sequence('api_keys', 'id'), GREATEST((SELECT max(id) FROM api_keys), 1))"
            }
        };
        self.query(statement).execute(conn).await?;
        Ok(())
    }
}

/// A connection for statements outside an explicit transaction. Behind PgBouncer in
/// transaction mode it is a transaction of its own: sqlx sends a statement's parse and its
/// execution in two exchanges, and between them PgBouncer may hand the server connection
/// to another client, whose unnamed statement then meets our parameters.
enum Session {
    Pooled(Pooled),
    Pinned(Transaction),
}

impl Session {
    /// Makes a write in this session stick: a pinned session is a transaction, which would
    /// roll back when dropped.
    async fn commit(self) -> StoreResult<()> {
        if let Self::Pinned(transaction) = self {
            transaction.commit().await?;
        }
        Ok(())
    }
}

impl Deref for Session {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Self::Pooled(connection) => connection,
            Self::Pinned(transaction) => transaction,
        }
    }
}

impl DerefMut for Session {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Pooled(connection) => connection,
            Self::Pinned(transaction) => transaction,
        }
    }
}

#[async_trait]
impl Schema for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let migrations = sqlx::migrate!("./migrations/postgres");
        let Some(url) = &self.migration_url else {
            let mut connection = self.pool.acquire().await?;
            return sql::migrate(migrations, &mut *connection).await;
        };
        let mut direct = PgConnection::connect(url).await?;
        let result = sql::migrate(migrations, &mut direct).await;
        let _ = direct.close().await;
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        self.query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let (size, idle) = self.pool.status();
        vec![PoolStats {
            name: "postgres",
            size,
            idle,
        }]
    }
}
