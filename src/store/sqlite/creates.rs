//! SQLite's way of writing a batch of creates (see [`crate::store::creates`]): the urls as
//! one JSON array that `json_each` turns back into rows, inserted with `INSERT OR IGNORE`
//! (a taken code is skipped), then their `created` events and their count, in one
//! transaction of two trips to SQLite's worker thread, whatever the batch's size.

use super::OneHop;
use super::Pool;
use super::event_counts;
use crate::domain::Timestamp;
use crate::store::creates::{Pending, WriteCreates};
use crate::store::sql::{acquired, users};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The urls of a batch: owners that do not exist insert nothing; a taken code is skipped.
const INSERT_URLS: &str = "BEGIN IMMEDIATE; \
    INSERT OR IGNORE INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at, settings, password_hash) \
    SELECT value ->> 'u', value ->> 'c', value ->> 'o', value ->> 't', value ->> 'a', value ->> 'ts', value ->> 'ts', \
      value ->> 's', value ->> 'p' \
    FROM json_each($1) \
    WHERE value ->> 'u' IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = value ->> 'u') \
    ORDER BY key \
    RETURNING id, short_code";

/// The `created` events of the urls inserted, their count, then the commit.
const INSERT_EVENTS: &str = concat!(
    "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
     SELECT value ->> 'id', value ->> 'u', value ->> 'e', value ->> 'ts', json_extract(value, '$.d') \
     FROM json_each($1) ORDER BY key; ",
    event_counts::add_created!(),
    "; COMMIT"
);

#[derive(Serialize)]
struct UrlRow<'a> {
    u: Option<i64>,
    c: &'a str,
    o: &'a str,
    t: Option<&'a str>,
    a: bool,
    ts: Timestamp,
    /// The settings' JSON, as the column holds it.
    s: Option<String>,
    p: Option<&'a str>,
}

#[derive(Serialize)]
struct EventRow<'a> {
    id: i64,
    u: Option<i64>,
    e: &'a str,
    ts: Timestamp,
    d: &'a Map<String, Value>,
}

/// The store's writer, and its readers to tell why a create inserted nothing.
pub struct SqliteCreates {
    pub writer: Pool,
    pub readers: Pool,
}

#[async_trait]
impl WriteCreates for SqliteCreates {
    async fn write(&self, batch: &[Pending]) -> StoreResult<HashMap<String, i64>> {
        let urls: Vec<UrlRow<'_>> = batch
            .iter()
            .map(|p| {
                let settings = p
                    .url
                    .settings
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose();
                Ok(UrlRow {
                    u: p.url.user_id,
                    c: p.url.short_code.as_str(),
                    o: p.url.original_url.as_str(),
                    t: p.url.title.as_deref(),
                    a: p.url.is_active,
                    ts: p.url.created_at,
                    s: settings.map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    p: p.url.password_hash.as_ref().map(|h| h.as_stored()),
                })
            })
            .collect::<StoreResult<_>>()?;
        let urls = serde_json::to_string(&urls).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut session = OneHop::on(&self.writer).await?;
        let inserted: Vec<(i64, String)> = sqlx::query_as(INSERT_URLS)
            .bind(urls)
            .fetch_all(&mut *session)
            .await?;
        let ids: HashMap<String, i64> = inserted.into_iter().map(|(id, code)| (code, id)).collect();
        let events: Vec<EventRow<'_>> = batch
            .iter()
            .filter_map(|p| {
                Some(EventRow {
                    id: *ids.get(p.url.short_code.as_str())?,
                    u: p.event.user_id,
                    e: &p.event.event_type,
                    ts: p.event.timestamp,
                    d: &p.event.details,
                })
            })
            .collect();
        let events =
            serde_json::to_string(&events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(INSERT_EVENTS)
            .bind(events)
            .execute(&mut *session)
            .await?;
        session.commit().await?;
        Ok(ids)
    }

    async fn owner_exists(&self, owner: i64) -> StoreResult<bool> {
        let found: Option<(i64,)> = sqlx::query_as(users::EXISTS)
            .bind(owner)
            .fetch_optional(&mut *acquired("sqlite_readers", self.readers.acquire()).await?)
            .await?;
        Ok(found.is_some())
    }
}
