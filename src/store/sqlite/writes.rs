//! The writes SQLite makes its own way: a url with its `created` event, a batch of events
//! with its click counters, and a batch of key uses.

use super::SqliteStore;
use crate::domain::audit::created_event;
use crate::domain::{ApiKeyUse, NewEvent, NewUrl};
use crate::store::sql;
use crate::store::{StoreError, StoreResult};
use serde::Serialize;
use serde_json::{Map, Value};

/// A batch of events and its clicks per link, in two statements and one parameter whatever
/// the batch size: the rows travel as a JSON array that SQLite's `json_each` turns back into
/// rows, in order. Each statement is a round trip to SQLite's worker thread, and under load
/// every round trip waits for the runtime: with a dozen per batch the writer fell behind the
/// redirects (see BENCHMARKS.md).
const INSERT_BATCH: &str = "\
    INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
    SELECT json_extract(value, '$.u'), json_extract(value, '$.s'), json_extract(value, '$.t'), \
           json_extract(value, '$.ts'), json_extract(value, '$.d') \
    FROM json_each($1) ORDER BY key; \
    INSERT INTO link_clicks (url_id, clicks) \
    SELECT json_extract(value, '$.u'), count(*) FROM json_each($1) \
    WHERE json_extract(value, '$.t') = 'click' AND json_extract(value, '$.u') IS NOT NULL \
    GROUP BY 1 \
    ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks";

const INSERT_URL: &str = "INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id";

/// One event as `insert_batch` sends it to SQLite, borrowed from the event (serialised
/// straight away, without building and cloning a JSON tree per click).
#[derive(Serialize)]
struct EventRow<'a> {
    u: Option<i64>,
    s: Option<i64>,
    t: &'a str,
    ts: String,
    d: &'a Map<String, Value>,
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

impl SqliteStore {
    /// The url and its `created` event, in one transaction; the url's id.
    pub(super) async fn insert_url(&self, url: &NewUrl) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        if let Some(user_id) = url.user_id
            && !self.exists(&mut tx, sql::USER_EXISTS, user_id).await?
        {
            return Err(StoreError::MissingReference("user"));
        }
        let id: i64 = sqlx::query_scalar(INSERT_URL)
            .bind(url.user_id)
            .bind(url.short_code.as_str())
            .bind(url.original_url.as_str())
            .bind(&url.title)
            .bind(url.is_active)
            .bind(url.created_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        self.insert_event(&mut tx, &created_event(id, url)).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A batch of events, and its clicks added to the counters, in one transaction.
    pub(super) async fn insert_batch(&self, events: &[NewEvent]) -> StoreResult<()> {
        let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::from).collect();
        let batch = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        sqlx::query(INSERT_BATCH)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds request counts and moves last-used times forward (never back).
    pub(super) async fn add_uses(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for usage in uses {
            sqlx::query(
                "UPDATE api_keys SET request_count = request_count + $1, \
                 last_used_at = max(coalesce(last_used_at, ''), $2) WHERE id = $3",
            )
            .bind(usage.requests)
            .bind(usage.last_used_at)
            .bind(usage.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
