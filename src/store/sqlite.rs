//! The embedded store: SQLite in WAL mode, one writer connection (SQLite allows one
//! writer at a time, so writes queue in the pool instead of failing with SQLITE_BUSY)
//! and a pool of readers that never block on it.

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

const USER_COLUMNS: &str = "SELECT id, username, email, created_at FROM users";
const URL_COLUMNS: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at FROM urls";
const EVENT_COLUMNS: &str =
    "SELECT id, url_id, user_id, event_type, timestamp, details FROM events";
/// Most-clicked active urls; `$1` is the limit.
const HOT_URLS: &str = "SELECT u.id, u.user_id, u.short_code, u.original_url, u.title, u.is_active, u.created_at, \
     u.updated_at FROM urls u JOIN (SELECT url_id, count(*) AS clicks FROM events WHERE event_type = 'click' \
     GROUP BY url_id ORDER BY clicks DESC LIMIT $1) c ON c.url_id = u.id WHERE u.is_active ORDER BY c.clicks DESC";

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
}

fn ts(raw: &str) -> StoreResult<Timestamp> {
    Timestamp::parse(raw).map_err(StoreError::Corrupt)
}

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        created_at: ts(row.try_get("created_at")?)?,
    })
}

fn url_from_row(row: &SqliteRow) -> StoreResult<Url> {
    Ok(Url {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        short_code: row.try_get("short_code")?,
        original_url: row.try_get("original_url")?,
        title: row.try_get("title")?,
        is_active: row.try_get("is_active")?,
        created_at: ts(row.try_get("created_at")?)?,
        updated_at: ts(row.try_get("updated_at")?)?,
    })
}

fn event_from_row(row: &SqliteRow) -> StoreResult<Event> {
    let raw: String = row.try_get("details")?;
    let details = match serde_json::from_str(&raw) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "event details are not a JSON object: {raw}"
            )));
        }
    };
    Ok(Event {
        id: row.try_get("id")?,
        url_id: row.try_get("url_id")?,
        user_id: row.try_get("user_id")?,
        event_type: row.try_get("event_type")?,
        timestamp: ts(row.try_get("timestamp")?)?,
        details,
    })
}

fn details_text(details: &Map<String, Value>) -> String {
    serde_json::to_string(details).unwrap_or_else(|_| "{}".to_owned())
}

/// Fails with `Conflict` when another user (not `except_id`) has the username or the email.
async fn check_user_unique(
    conn: &mut SqliteConnection,
    username: Option<&str>,
    email: Option<&str>,
    except_id: i64,
) -> StoreResult<()> {
    if let Some(username) = username {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE username = ?1 AND id <> ?2 LIMIT 1")
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
            "SELECT id FROM users WHERE lower(email) = lower(?1) AND id <> ?2 LIMIT 1",
        )
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

async fn exists(conn: &mut SqliteConnection, sql: &'static str, id: i64) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

async fn fetch_user(conn: &mut SqliteConnection, id: i64) -> StoreResult<Option<User>> {
    let sql = "SELECT id, username, email, created_at FROM users WHERE id = ?1";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

async fn fetch_url(conn: &mut SqliteConnection, id: i64) -> StoreResult<Option<Url>> {
    let sql = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
               FROM urls WHERE id = ?1";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(url_from_row).transpose()
}

async fn insert_event(conn: &mut SqliteConnection, event: &NewEvent) -> StoreResult<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
    )
    .bind(event.url_id)
    .bind(event.user_id)
    .bind(&event.event_type)
    .bind(event.timestamp.to_string())
    .bind(details_text(&event.details))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

impl SqliteStore {
    /// Runs `SELECT count(*)` and the paged `SELECT` for one table with the same filters.
    async fn list<T>(
        &self,
        table: &str,
        columns: &str,
        filters: impl Fn() -> Vec<(&'static str, Option<FilterValue>)>,
        page: Page,
        map: fn(&SqliteRow) -> StoreResult<T>,
    ) -> StoreResult<Listing<T>> {
        let mut count = QueryBuilder::<Sqlite>::new(format!("SELECT count(*) FROM {table}"));
        push_filters(&mut count, filters());
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&mut *acquired("sqlite_readers", self.readers.acquire()).await?)
            .await?;

        let mut select = QueryBuilder::<Sqlite>::new(columns);
        push_filters(&mut select, filters());
        select
            .push(" ORDER BY id LIMIT ")
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset);
        let rows = select
            .build()
            .fetch_all(&mut *acquired("sqlite_readers", self.readers.acquire()).await?)
            .await?;
        let items = rows.iter().map(map).collect::<StoreResult<Vec<T>>>()?;
        Ok(Listing { items, total })
    }
}

#[async_trait]
impl Store for SqliteStore {
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
        vec![
            PoolStats {
                name: "sqlite_writer",
                size: self.writer.size(),
                idle: self.writer.num_idle(),
            },
            PoolStats {
                name: "sqlite_readers",
                size: self.readers.size(),
                idle: self.readers.num_idle(),
            },
        ]
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        check_user_unique(
            &mut tx,
            Some(user.username.as_str()),
            Some(user.email.as_str()),
            -1,
        )
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, email, created_at) VALUES (?1, ?2, ?3) RETURNING id",
        )
        .bind(user.username.as_str())
        .bind(user.email.as_str())
        .bind(user.created_at.to_string())
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
        let mut conn = acquired("sqlite_readers", self.readers.acquire()).await?;
        fetch_user(&mut conn, id).await
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
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        let Some(mut user) = fetch_user(&mut tx, id).await? else {
            return Ok(None);
        };
        let username = patch.username.as_ref().map(|u| u.as_str());
        let email = patch.email.as_ref().map(|e| e.as_str());
        check_user_unique(&mut tx, username, email, id).await?;
        if let Some(username) = username {
            user.username = username.to_owned();
        }
        if let Some(email) = email {
            user.email = email.to_owned();
        }
        sqlx::query("UPDATE users SET username = ?1, email = ?2 WHERE id = ?3")
            .bind(&user.username)
            .bind(&user.email)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        sqlx::query("UPDATE urls SET user_id = NULL WHERE user_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        if let Some(user_id) = url.user_id
            && !exists(&mut tx, "SELECT id FROM users WHERE id = ?1", user_id).await?
        {
            return Err(StoreError::MissingReference("user"));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5) RETURNING id",
        )
        .bind(url.user_id)
        .bind(url.short_code.as_str())
        .bind(url.original_url.as_str())
        .bind(&url.title)
        .bind(url.created_at.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        let event = created_event(id, &url);
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
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
        let mut conn = acquired("sqlite_readers", self.readers.acquire()).await?;
        fetch_url(&mut conn, id).await
    }

    async fn get_url_by_code(&self, code: &ShortCode) -> StoreResult<Option<Url>> {
        let sql = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
                   FROM urls WHERE short_code = ?1";
        let row = sqlx::query(sql)
            .bind(code.as_str())
            .fetch_optional(&mut *acquired("sqlite_readers", self.readers.acquire()).await?)
            .await?;
        row.as_ref().map(url_from_row).transpose()
    }

    async fn hot_urls(&self, limit: i64) -> StoreResult<Vec<Url>> {
        let rows = sqlx::query(HOT_URLS)
            .bind(limit)
            .fetch_all(&mut *acquired("sqlite_readers", self.readers.acquire()).await?)
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
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        let Some(mut url) = fetch_url(&mut tx, id).await? else {
            return Ok(None);
        };
        let changes = patch.changes(&url);
        patch.apply(&mut url);
        url.updated_at = now;
        sqlx::query("UPDATE urls SET title = ?1, is_active = ?2, original_url = ?3, updated_at = ?4 WHERE id = ?5")
            .bind(&url.title)
            .bind(url.is_active)
            .bind(&url.original_url)
            .bind(now.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for change in changes {
            let event = updated_event(&url, change.field, change.new_value, now);
            insert_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(Some(url))
    }

    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        let Some(url) = fetch_url(&mut tx, id).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM urls WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, &deleted_event(&url, now)).await?;
        tx.commit().await?;
        Ok(Some(url))
    }

    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        if let Some(url_id) = event.url_id
            && !exists(&mut tx, "SELECT id FROM urls WHERE id = ?1", url_id).await?
        {
            return Err(StoreError::MissingReference("url"));
        }
        if let Some(user_id) = event.user_id
            && !exists(&mut tx, "SELECT id FROM users WHERE id = ?1", user_id).await?
        {
            return Err(StoreError::MissingReference("user"));
        }
        let id = insert_event(&mut tx, &event).await?;
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

    /// One statement, one parameter, whatever the batch size: the rows travel as a JSON array
    /// that SQLite's `json_each` turns back into rows, in order. Each statement is a round trip
    /// to SQLite's worker thread, and under load every round trip waits for the runtime: with
    /// a dozen per batch the writer fell behind the redirects (see BENCHMARKS.md).
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::from).collect();
        let batch = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
             SELECT json_extract(value, '$.u'), json_extract(value, '$.s'), json_extract(value, '$.t'), \
                    json_extract(value, '$.ts'), json_extract(value, '$.d') \
             FROM json_each(?1) ORDER BY key",
        )
        .bind(batch)
        .execute(&mut *acquired("sqlite_writer", self.writer.acquire()).await?)
        .await?;
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
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        for chunk in insert_chunks(rows) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO users (id, username, email, created_at) ");
            insert.push_values(chunk, |mut row, u| {
                row.push_bind(u.id)
                    .push_bind(u.username.clone())
                    .push_bind(u.email.clone())
                    .push_bind(u.created_at.to_string());
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET username = excluded.username, email = excluded.email, \
                 created_at = excluded.created_at",
            );
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        for chunk in insert_chunks(rows) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO urls (id, user_id, short_code, original_url, title, is_active, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, u| {
                row.push_bind(u.id)
                    .push_bind(u.user_id)
                    .push_bind(u.short_code.clone())
                    .push_bind(u.original_url.clone())
                    .push_bind(u.title.clone())
                    .push_bind(u.is_active)
                    .push_bind(u.created_at.to_string())
                    .push_bind(u.updated_at.to_string());
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, short_code = excluded.short_code, \
                 original_url = excluded.original_url, title = excluded.title, is_active = excluded.is_active, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at",
            );
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
        let mut tx = acquired("sqlite_writer", self.writer.begin()).await?;
        for chunk in insert_chunks(rows) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (id, url_id, user_id, event_type, timestamp, details) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.url_id)
                    .push_bind(e.user_id)
                    .push_bind(e.event_type.clone())
                    .push_bind(e.timestamp.to_string())
                    .push_bind(details_text(&e.details));
            });
            insert.push(
                " ON CONFLICT (id) DO UPDATE SET url_id = excluded.url_id, user_id = excluded.user_id, \
                 event_type = excluded.event_type, timestamp = excluded.timestamp, details = excluded.details",
            );
            insert.build().execute(&mut *tx).await?;
        }
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

/// One event as `append_events` sends it to SQLite, borrowed from the event (serialising it
/// straight away, without building and cloning a JSON tree per click).
#[derive(serde::Serialize)]
struct EventRow<'a> {
    u: Option<i64>,
    s: Option<i64>,
    t: &'a str,
    ts: String,
    d: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> From<&'a NewEvent> for EventRow<'a> {
    fn from(event: &'a NewEvent) -> Self {
        Self {
            u: event.url_id,
            s: event.user_id,
            t: &event.event_type,
            ts: event.timestamp.to_string(),
            d: &event.details,
        }
    }
}
