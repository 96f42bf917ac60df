//! The production store: PostgreSQL through a connection pool. Works directly or through
//! PgBouncer in transaction mode (set the statement cache to 0 there: named prepared
//! statements do not survive a change of server connection). The resources are the shared
//! ones of [`super::sql`]; this module gives them PostgreSQL's connections ([`connections`],
//! pooled by [`crate::store::pool`]) and locks, [`creates`] its statement for a group of creates, and [`writes`] the
//! few other statements only PostgreSQL writes this way.

mod connections;
mod creates;
mod snapshot;
mod writes;

use super::breaker::Breaker;
use super::creates::Creates;
use super::sql::{self, Table};
use super::{PoolStats, Schema, StoreResult};
use async_trait::async_trait;
use connections::{Connections, Session};
use connections::{Pool, Transaction};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Connection, FromRow, PgConnection, Postgres};
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

/// The number of events of one type, kept as they change (migration 0009): a type never
/// written has no row, and none of its events.
static EVENTS_OF_TYPE: crate::store::filter::Kept = crate::store::filter::Kept {
    count: &[
        "SELECT coalesce(sum(n), 0)::bigint FROM row_counts WHERE name = 'events:' || ",
        "",
    ],
};

/// The PostgreSQL store.
pub struct PostgresStore {
    connections: Connections,
    /// A direct connection for migrations, when the pool goes through PgBouncer.
    migration_url: Option<String>,
    /// Creates, written in groups (see [`crate::store::creates`]).
    creates: Creates,
    /// The snapshot transfer reads see while one is pinned (see [`snapshot`]).
    snapshot: snapshot::SnapshotId,
}

sql::resources!(PostgresStore, Postgres);

/// Serialises user writes, so the username/email check and the write cannot interleave
/// between replicas. User writes are rare; a single lock keeps them simple and correct.
const USER_WRITE_LOCK: i64 = 0x6b75_727a_0001;

impl PostgresStore {
    /// Creates the pool (see [`crate::store::pool`]).
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
        let connections = Connections {
            pool,
            breaker: Breaker::new(connect),
            prepared: options.statement_cache > 0,
        };
        Ok(Self {
            creates: Creates::start(creates::PostgresCreates(connections.clone())),
            connections,
            migration_url: options.migration_url.clone(),
            snapshot: snapshot::SnapshotId::default(),
        })
    }

    /// A statement, prepared by name or not as the connection allows.
    fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        self.connections.query(sql)
    }

    fn query_as<T>(&self, sql: &'static str) -> QueryAs<'static, Postgres, T, PgArguments>
    where
        T: for<'r> FromRow<'r, PgRow>,
    {
        self.connections.query_as(sql)
    }

    fn query_scalar<T>(&self, sql: &'static str) -> QueryScalar<'static, Postgres, T, PgArguments>
    where
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        self.connections.query_scalar(sql)
    }

    /// Whether statements may be prepared by name (see [`Connections::prepared`]).
    fn persistent(&self) -> bool {
        self.connections.prepared
    }

    /// A connection for statements outside an explicit transaction (see [`Session`]).
    async fn reader(&self) -> StoreResult<Session> {
        self.connections.session().await
    }

    async fn begin(&self) -> StoreResult<Transaction> {
        self.connections.begin().await
    }

    /// Where a write of one statement runs: it needs no transaction around it (one round
    /// trip instead of three); behind PgBouncer it still gets one (see [`Session`]).
    async fn write_session(&self) -> StoreResult<Session> {
        self.reader().await
    }

    /// `FOR UPDATE`: the row is locked until the transaction ends, so concurrent updates of
    /// one url apply in turn and each sees the other's result.
    const URL_FOR_UPDATE: &'static str = "SELECT id, user_id, short_code, original_url, title, is_active, \
         created_at, updated_at, settings, password_hash FROM urls WHERE id = $1 FOR UPDATE";

    /// The links of the codes in a JSON array of text.
    const LINKS_BY_CODES: &'static str = "SELECT id, user_id, short_code, original_url AS target, \
         is_active, settings, password_hash FROM urls \
         WHERE short_code IN (SELECT json_array_elements_text($1::json))";

    /// The tables whose number of rows is kept as they change (migrations 0008, 0009), and the
    /// query that reads it: what a list without filters reads instead of counting the table.
    const COUNTED: &'static [(&'static str, &'static str)] = &[
        (
            "urls",
            "SELECT coalesce(sum(n), 0)::bigint FROM row_counts WHERE name = 'urls'",
        ),
        (
            "events",
            "SELECT coalesce(sum(n), 0)::bigint FROM row_counts WHERE name = 'events'",
        ),
    ];

    /// The events of each type are counted as they change (migration 0009).
    const EVENTS_BY_TYPE: Option<&'static crate::store::filter::Kept> = Some(&EVENTS_OF_TYPE);

    /// One event appended; the triggers count it (migration 0009).
    const INSERT_EVENT: &'static str = sql::events::INSERT;

    /// Events are read through their own indexes, in the same database.
    const EVENT_LOOKUPS: &'static [(&'static str, &'static crate::store::filter::Lookup)] = &[];

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

    /// Nothing to note: PostgreSQL's events are indexed in the same database, by every write.
    async fn events_renumbered(&self, _conn: &mut PgConnection) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to note, as [`Self::events_renumbered`].
    async fn events_forgotten_below(&self, _conn: &mut PgConnection, _id: i64) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to do: PostgreSQL's triggers count the events (migration 0009).
    async fn events_added(
        &self,
        _conn: &mut PgConnection,
        _type: &str,
        _n: i64,
    ) -> StoreResult<()> {
        Ok(())
    }

    /// Nothing to count again, as [`Self::events_added`].
    async fn events_recounted(&self, _conn: &mut PgConnection) -> StoreResult<()> {
        Ok(())
    }

    /// Moves a table's id sequence past its largest id, so later inserts never collide with
    /// imported rows, and never back: an id handed out before (a row since deleted, whose
    /// events still name it) is not handed out again. Called with the table locked against
    /// concurrent inserts.
    async fn move_sequence(&self, conn: &mut PgConnection, table: Table) -> StoreResult<()> {
        let statement = match table {
            Table::Users => {
                "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), \
                 pg_sequence_last_value(pg_get_serial_sequence('users', 'id')::regclass), 1))"
            }
            Table::Urls => {
                "SELECT setval(pg_get_serial_sequence('urls', 'id'), GREATEST((SELECT max(id) FROM urls), \
                 pg_sequence_last_value(pg_get_serial_sequence('urls', 'id')::regclass), 1))"
            }
            Table::Events => {
                "SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST((SELECT max(id) FROM events), \
                 pg_sequence_last_value(pg_get_serial_sequence('events', 'id')::regclass), 1))"
            }
            Table::ApiKeys => {
                "SELECT setval(pg_get_serial_sequence('api_keys', 'id'), GREATEST((SELECT max(id) FROM api_keys), \
                 pg_sequence_last_value(pg_get_serial_sequence('api_keys', 'id')::regclass), 1))"
            }
        };
        self.query(statement).execute(conn).await?;
        Ok(())
    }
}

/// Runs the migrations without the statement timeout, which is for requests: a migration's
/// one-off work grows with the tables (0009 counts every event, 0010 indexes them), and a
/// timeout would stop a large database's upgrade. The connection's own timeout is back
/// afterwards. Both as plain text queries: nothing prepared is left on the server.
async fn migrate_untimed(
    migrations: sqlx::migrate::Migrator,
    conn: &mut PgConnection,
) -> StoreResult<()> {
    sqlx::Executor::execute(&mut *conn, "SET statement_timeout = 0").await?;
    let migrated = sql::migrate(migrations, &mut *conn).await;
    let reset = sqlx::Executor::execute(&mut *conn, "RESET statement_timeout").await;
    // The migration's own failure says more than the reset's.
    migrated?;
    reset?;
    Ok(())
}

#[async_trait]
impl Schema for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let migrations = sqlx::migrate!("./migrations/postgres");
        let Some(url) = &self.migration_url else {
            let mut connection = self.connections.pool.acquire().await?;
            return migrate_untimed(migrations, &mut connection).await;
        };
        let mut direct = PgConnection::connect(url).await?;
        let result = migrate_untimed(migrations, &mut direct).await;
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
        self.connections.pool.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let (size, idle) = self.connections.pool.status();
        vec![PoolStats {
            name: "postgres",
            size,
            idle,
        }]
    }
}
