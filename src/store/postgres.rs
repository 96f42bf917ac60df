//! The production store: PostgreSQL through a connection pool. Works directly or through
//! PgBouncer in transaction mode (set the statement cache to 0 there: named prepared
//! statements do not survive a change of server connection).

mod keys;

use super::acquired;
use super::filter::{FilterValue, event_filters, push_filters, url_filters, user_filters};
use super::{
    EventFilter, Listing, Page, PoolStats, Store, StoreError, StoreResult, UrlFilter, UserFilter,
    insert_chunks,
};
use crate::domain::audit::{created_event, deleted_event, updated_event};
use crate::domain::{
    ApiKey, ApiKeyUse, Event, NewApiKey, NewEvent, NewUrl, NewUser, ShortCode, Timestamp, Url,
    UrlPatch, User, UserPatch,
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

/// Serialises user writes, so the username/email check and the insert cannot interleave
/// between replicas. User writes are rare; a single lock keeps them simple and correct.
const USER_WRITE_LOCK: i64 = 0x6b75_727a_0001;

const USER_COLUMNS: &str = "SELECT id, username, email, created_at FROM users";
const URL_COLUMNS: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at FROM urls";
const EVENT_COLUMNS: &str =
    "SELECT id, url_id, user_id, event_type, timestamp, details FROM events";
/// Most-clicked active urls; `$1` is the limit.
const HOT_URLS: &str = "SELECT u.id, u.user_id, u.short_code, u.original_url, u.title, u.is_active, u.created_at, \
     u.updated_at FROM urls u JOIN (SELECT url_id, count(*) AS clicks FROM events WHERE event_type = 'click' \
     GROUP BY url_id ORDER BY clicks DESC LIMIT $1) c ON c.url_id = u.id WHERE u.is_active ORDER BY c.clicks DESC";

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

/// Whether statements are prepared by name and cached per connection (direct connections),
/// or sent unnamed (PgBouncer in transaction mode, where a named statement would outlive
/// the transaction it was prepared in and collide with another client's).
#[derive(Debug, Clone, Copy)]
struct Prepared(bool);

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: PgPool,
    prepared: Prepared,
    /// A direct connection for migrations, when the pool goes through PgBouncer.
    migration_url: Option<String>,
}

/// Pooled connections idle longer than this are pinged before use.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Creates the pool. Connections are opened lazily, so a database that is down at
    /// start-up delays readiness instead of failing the process.
    pub fn connect(url: &str, options: &PostgresOptions) -> StoreResult<Self> {
        let mut connect = PgConnectOptions::from_str(url)?
            .application_name("kurz")
            .statement_cache_capacity(options.statement_cache);
        // PgBouncer refuses the `options` start-up parameter: 0 leaves the timeout to the server.
        if !options.statement_timeout.is_zero() {
            let timeout = format!("{}ms", options.statement_timeout.as_millis());
            connect = connect.options([("statement_timeout", timeout)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A connection back from use a moment ago is alive; one that sat idle (through a
            // database restart, say) is checked first. Checking every time cost a round trip
            // per statement: a third of a create's exchanges with the database.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for < CHECK_AFTER_IDLE {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(connection).await.is_ok())
                })
            })
            .connect_lazy_with(connect);
        Ok(Self {
            pool,
            prepared: Prepared(options.statement_cache > 0),
            migration_url: options.migration_url.clone(),
        })
    }
}

fn ts(value: time::PrimitiveDateTime) -> Timestamp {
    Timestamp::from_primitive(value)
}

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        created_at: ts(row.try_get("created_at")?),
    })
}

fn url_from_row(row: &PgRow) -> StoreResult<Url> {
    Ok(Url {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        short_code: row.try_get("short_code")?,
        original_url: row.try_get("original_url")?,
        title: row.try_get("title")?,
        is_active: row.try_get("is_active")?,
        created_at: ts(row.try_get("created_at")?),
        updated_at: ts(row.try_get("updated_at")?),
    })
}

fn event_from_row(row: &PgRow) -> StoreResult<Event> {
    let details = match row.try_get::<Json<Value>, _>("details")?.0 {
        Value::Object(map) => map,
        other => {
            return Err(StoreError::Corrupt(format!(
                "event details are not a JSON object: {other}"
            )));
        }
    };
    Ok(Event {
        id: row.try_get("id")?,
        url_id: row.try_get("url_id")?,
        user_id: row.try_get("user_id")?,
        event_type: row.try_get("event_type")?,
        timestamp: ts(row.try_get("timestamp")?),
        details,
    })
}

fn json_details(details: &Map<String, Value>) -> Json<Value> {
    Json(Value::Object(details.clone()))
}

async fn lock_user_writes(conn: &mut PgConnection, p: Prepared) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .persistent(p.0)
        .bind(USER_WRITE_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Fails with `Conflict` when another user (not `except_id`) has the username or the email.
async fn check_user_unique(
    conn: &mut PgConnection,
    p: Prepared,
    username: Option<&str>,
    email: Option<&str>,
    except_id: i64,
) -> StoreResult<()> {
    if let Some(username) = username {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE username = $1 AND id <> $2 LIMIT 1")
                .persistent(p.0)
                .bind(username)
                .bind(except_id)
                .fetch_optional(&mut *conn)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("username"));
        }
    }
    if let Some(email) = email {
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(email) = lower($1) AND id <> $2 LIMIT 1",
        )
        .persistent(p.0)
        .bind(email)
        .bind(except_id)
        .fetch_optional(&mut *conn)
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("email"));
        }
    }
    Ok(())
}

async fn exists(
    conn: &mut PgConnection,
    p: Prepared,
    sql: &'static str,
    id: i64,
) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .persistent(p.0)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

async fn fetch_user(conn: &mut PgConnection, p: Prepared, id: i64) -> StoreResult<Option<User>> {
    let sql = "SELECT id, username, email, created_at FROM users WHERE id = $1";
    let row = sqlx::query(sql)
        .persistent(p.0)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// `FOR UPDATE`: the row is locked until the transaction ends, so concurrent updates of one
/// url apply in turn and each sees the other's result.
async fn fetch_url_for_update(
    conn: &mut PgConnection,
    p: Prepared,
    id: i64,
) -> StoreResult<Option<Url>> {
    let sql = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
               FROM urls WHERE id = $1 FOR UPDATE";
    let row = sqlx::query(sql)
        .persistent(p.0)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(url_from_row).transpose()
}

async fn insert_event(conn: &mut PgConnection, p: Prepared, event: &NewEvent) -> StoreResult<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .persistent(p.0)
    .bind(event.url_id)
    .bind(event.user_id)
    .bind(&event.event_type)
    .bind(event.timestamp.as_primitive())
    .bind(json_details(&event.details))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Moves a table's id sequence past its largest id, so later inserts never collide with
/// imported rows. Called with the table locked against concurrent inserts.
async fn move_sequence_past_max(
    conn: &mut PgConnection,
    p: Prepared,
    table: &'static str,
) -> StoreResult<()> {
    let sql = match table {
        "users" => {
            "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), 1))"
        }
        "urls" => {
            "SELECT setval(pg_get_serial_sequence('urls', 'id'), GREATEST((SELECT max(id) FROM urls), 1))"
        }
        _ => {
            "SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST((SELECT max(id) FROM events), 1))"
        }
    };
    sqlx::query(sql).persistent(p.0).execute(conn).await?;
    Ok(())
}

/// Blocks concurrent inserts into `table` until the import commits (reads go on).
async fn lock_for_import(
    conn: &mut PgConnection,
    p: Prepared,
    table: &'static str,
) -> StoreResult<()> {
    let sql = match table {
        "users" => "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE",
        "urls" => "LOCK TABLE urls IN SHARE ROW EXCLUSIVE MODE",
        _ => "LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE",
    };
    sqlx::query(sql).persistent(p.0).execute(conn).await?;
    Ok(())
}

/// A connection for statements outside an explicit transaction. Behind PgBouncer in
/// transaction mode it is a transaction of its own: sqlx sends a statement's parse and its
/// execution in two exchanges, and between them PgBouncer may hand the server connection
/// to another client, whose unnamed statement then meets our parameters.
enum Session {
    Pooled(PoolConnection<Postgres>),
    Pinned(Transaction<'static, Postgres>),
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

impl PostgresStore {
    async fn session(&self) -> StoreResult<Session> {
        Ok(if self.prepared.0 {
            Session::Pooled(acquired("postgres", self.pool.acquire()).await?)
        } else {
            Session::Pinned(acquired("postgres", self.pool.begin()).await?)
        })
    }

    /// Runs `SELECT count(*)` and the paged `SELECT` for one table with the same filters.
    async fn list<T>(
        &self,
        table: &str,
        columns: &str,
        filters: impl Fn() -> Vec<(&'static str, Option<FilterValue>)>,
        page: Page,
        map: fn(&PgRow) -> StoreResult<T>,
    ) -> StoreResult<Listing<T>> {
        let p = self.prepared;
        let mut count = QueryBuilder::<Postgres>::new(format!("SELECT count(*) FROM {table}"));
        push_filters(&mut count, filters());
        let total: i64 = count
            .build_query_scalar()
            .persistent(p.0)
            .fetch_one(&mut *self.session().await?)
            .await?;

        let mut select = QueryBuilder::<Postgres>::new(columns);
        push_filters(&mut select, filters());
        select
            .push(" ORDER BY id LIMIT ")
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset);
        let rows = select
            .build()
            .persistent(p.0)
            .fetch_all(&mut *self.session().await?)
            .await?;
        let items = rows.iter().map(map).collect::<StoreResult<Vec<T>>>()?;
        Ok(Listing { items, total })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // After a rollback, an older release runs on a newer schema (docs/DEPLOY.md).
        migrator.set_ignore_missing(true);
        let result = match &self.migration_url {
            None => migrator.run(&self.pool).await,
            Some(url) => {
                let direct = PgPoolOptions::new().max_connections(1).connect(url).await?;
                let result = migrator.run(&direct).await;
                direct.close().await;
                result
            }
        };
        result.map_err(|e| StoreError::from_sqlx(sqlx::Error::Migrate(Box::new(e))))
    }

    async fn ping(&self) -> StoreResult<()> {
        let p = self.prepared;
        sqlx::query("SELECT 1")
            .persistent(p.0)
            .execute(&mut *self.session().await?)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![PoolStats {
            name: "postgres",
            size: self.pool.size(),
            idle: self.pool.num_idle(),
        }]
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        lock_user_writes(&mut tx, self.prepared).await?;
        check_user_unique(
            &mut tx,
            self.prepared,
            Some(user.username.as_str()),
            Some(user.email.as_str()),
            -1,
        )
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, email, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .persistent(p.0)
        .bind(user.username.as_str())
        .bind(user.email.as_str())
        .bind(user.created_at.as_primitive())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            username: user.username.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            created_at: user.created_at,
        })
    }

    async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
        fetch_user(&mut *self.session().await?, self.prepared, id).await
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>> {
        self.list(
            "users",
            USER_COLUMNS,
            || user_filters(filter),
            page,
            user_from_row,
        )
        .await
    }

    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        lock_user_writes(&mut tx, self.prepared).await?;
        let Some(mut user) = fetch_user(&mut tx, self.prepared, id).await? else {
            return Ok(None);
        };
        let username = patch.username.as_ref().map(|u| u.as_str());
        let email = patch.email.as_ref().map(|e| e.as_str());
        check_user_unique(&mut tx, self.prepared, username, email, id).await?;
        if let Some(username) = username {
            user.username = username.to_owned();
        }
        if let Some(email) = email {
            user.email = email.to_owned();
        }
        sqlx::query("UPDATE users SET username = $1, email = $2 WHERE id = $3")
            .persistent(p.0)
            .bind(&user.username)
            .bind(&user.email)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        sqlx::query("UPDATE urls SET user_id = NULL WHERE user_id = $1")
            .persistent(p.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .persistent(p.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The url and its `created` event in one statement (one round trip, atomic by itself)
    /// instead of BEGIN, two INSERTs and COMMIT: creates were bound by round trips.
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        let p = self.prepared;
        // The event's url id is the statement's own `RETURNING id`; 0 is never written.
        let event = created_event(0, &url);
        let mut session = self.session().await?;
        let id: i64 = sqlx::query_scalar(
            "WITH url AS ( \
               INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, TRUE, $5, $5) RETURNING id \
             ), created AS ( \
               INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
               SELECT id, $1, $6, $5, $7 FROM url \
             ) \
             SELECT id FROM url",
        ).persistent(p.0)
        .bind(url.user_id)
        .bind(url.short_code.as_str())
        .bind(url.original_url.as_str())
        .bind(&url.title)
        .bind(url.created_at.as_primitive())
        .bind(&event.event_type)
        .bind(json_details(&event.details))
        .fetch_one(&mut *session)
        .await
        .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        session.commit().await?;
        Ok(Url {
            id,
            user_id: url.user_id,
            short_code: url.short_code.as_str().to_owned(),
            original_url: url.original_url.as_str().to_owned(),
            title: url.title,
            is_active: true,
            created_at: url.created_at,
            updated_at: url.created_at,
        })
    }

    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
        let p = self.prepared;
        let sql = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
                   FROM urls WHERE id = $1";
        let row = sqlx::query(sql)
            .persistent(p.0)
            .bind(id)
            .fetch_optional(&mut *self.session().await?)
            .await?;
        row.as_ref().map(url_from_row).transpose()
    }

    async fn get_url_by_code(&self, code: &ShortCode) -> StoreResult<Option<Url>> {
        let p = self.prepared;
        let sql = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
                   FROM urls WHERE short_code = $1";
        let row = sqlx::query(sql)
            .persistent(p.0)
            .bind(code.as_str())
            .fetch_optional(&mut *self.session().await?)
            .await?;
        row.as_ref().map(url_from_row).transpose()
    }

    async fn hot_urls(&self, limit: i64) -> StoreResult<Vec<Url>> {
        let p = self.prepared;
        let rows = sqlx::query(HOT_URLS)
            .persistent(p.0)
            .bind(limit)
            .fetch_all(&mut *self.session().await?)
            .await?;
        rows.iter().map(url_from_row).collect()
    }

    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>> {
        self.list(
            "urls",
            URL_COLUMNS,
            || url_filters(filter),
            page,
            url_from_row,
        )
        .await
    }

    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        let Some(mut url) = fetch_url_for_update(&mut tx, self.prepared, id).await? else {
            return Ok(None);
        };
        let changes = patch.changes(&url);
        patch.apply(&mut url);
        url.updated_at = now;
        sqlx::query("UPDATE urls SET title = $1, is_active = $2, original_url = $3, updated_at = $4 WHERE id = $5").persistent(p.0)
            .bind(&url.title)
            .bind(url.is_active)
            .bind(&url.original_url)
            .bind(now.as_primitive())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for change in changes {
            insert_event(
                &mut tx,
                self.prepared,
                &updated_event(&url, change.field, change.new_value, now),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(url))
    }

    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        let Some(url) = fetch_url_for_update(&mut tx, self.prepared, id).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM urls WHERE id = $1")
            .persistent(p.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, self.prepared, &deleted_event(&url, now)).await?;
        tx.commit().await?;
        Ok(Some(url))
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        if let Some(url_id) = event.url_id
            && !exists(
                &mut tx,
                self.prepared,
                "SELECT id FROM urls WHERE id = $1",
                url_id,
            )
            .await?
        {
            return Err(StoreError::MissingReference("url"));
        }
        if let Some(user_id) = event.user_id
            && !exists(
                &mut tx,
                self.prepared,
                "SELECT id FROM users WHERE id = $1",
                user_id,
            )
            .await?
        {
            return Err(StoreError::MissingReference("user"));
        }
        let id = insert_event(&mut tx, self.prepared, &event).await?;
        tx.commit().await?;
        Ok(Event {
            id,
            url_id: event.url_id,
            user_id: event.user_id,
            event_type: event.event_type,
            timestamp: event.timestamp,
            details: event.details,
        })
    }

    /// One statement for the whole batch: the rows travel as five arrays and `UNNEST` turns
    /// them back into rows. A multi-row `VALUES` with thousands of parameters took 150 ms per
    /// 1 000 rows in sqlx (parameter handling), the arrays take a few.
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let url_ids: Vec<Option<i64>> = events.iter().map(|e| e.url_id).collect();
        let user_ids: Vec<Option<i64>> = events.iter().map(|e| e.user_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let times: Vec<time::PrimitiveDateTime> =
            events.iter().map(|e| e.timestamp.as_primitive()).collect();
        let details: Vec<Json<Value>> = events.iter().map(|e| json_details(&e.details)).collect();
        // In a transaction of its own, committed: a write must not ride on a read `Session`.
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        sqlx::query(
            "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamp[], $5::jsonb[])",
        )
        .persistent(self.prepared.0)
        .bind(url_ids)
        .bind(user_ids)
        .bind(types)
        .bind(times)
        .bind(details)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>> {
        self.list(
            "events",
            EVENT_COLUMNS,
            || event_filters(filter),
            page,
            event_from_row,
        )
        .await
    }

    async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        lock_for_import(&mut tx, self.prepared, "users").await?;
        for chunk in insert_chunks(rows) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO users (id, username, email, created_at) ",
            );
            insert.push_values(chunk, |mut row, u| {
                row.push_bind(u.id)
                    .push_bind(u.username.clone())
                    .push_bind(u.email.clone())
                    .push_bind(u.created_at.as_primitive());
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET username = excluded.username, email = excluded.email, \
                 created_at = excluded.created_at",
            );
            insert.build().persistent(p.0).execute(&mut *tx).await?;
        }
        move_sequence_past_max(&mut tx, self.prepared, "users").await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        lock_for_import(&mut tx, self.prepared, "urls").await?;
        for chunk in insert_chunks(rows) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO urls (id, user_id, short_code, original_url, title, is_active, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, u| {
                row.push_bind(u.id)
                    .push_bind(u.user_id)
                    .push_bind(u.short_code.clone())
                    .push_bind(u.original_url.clone())
                    .push_bind(u.title.clone())
                    .push_bind(u.is_active)
                    .push_bind(u.created_at.as_primitive())
                    .push_bind(u.updated_at.as_primitive());
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, short_code = excluded.short_code, \
                 original_url = excluded.original_url, title = excluded.title, is_active = excluded.is_active, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at",
            );
            insert
                .build()
                .persistent(p.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        }
        move_sequence_past_max(&mut tx, self.prepared, "urls").await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
        let p = self.prepared;
        let mut tx = acquired("postgres", self.pool.begin()).await?;
        lock_for_import(&mut tx, self.prepared, "events").await?;
        for chunk in insert_chunks(rows) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO events (id, url_id, user_id, event_type, timestamp, details) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.url_id)
                    .push_bind(e.user_id)
                    .push_bind(e.event_type.clone())
                    .push_bind(e.timestamp.as_primitive())
                    .push_bind(json_details(&e.details));
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET url_id = excluded.url_id, user_id = excluded.user_id, \
                 event_type = excluded.event_type, timestamp = excluded.timestamp, details = excluded.details",
            );
            insert.build().persistent(p.0).execute(&mut *tx).await?;
        }
        move_sequence_past_max(&mut tx, self.prepared, "events").await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        keys::create(self, key).await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        keys::list(self).await
    }

    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        keys::revoke(self, id, now).await
    }

    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        keys::find(self, secret_hash).await
    }

    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        keys::record_use(self, uses).await
    }
}
