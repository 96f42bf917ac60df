//! The writes PostgreSQL makes its own way, each one statement: a url with its `created`
//! event, a batch of events with its click counters, and a batch of key uses.

use super::PostgresStore;
use crate::domain::audit::created_event;
use crate::domain::{ApiKeyUse, NewEvent, NewUrl, Timestamp};
use crate::store::{StoreError, StoreResult};
use serde_json::Value;
use sqlx::types::Json;

/// The url and its `created` event in one statement: one round trip, atomic by itself,
/// instead of BEGIN, two INSERTs and COMMIT (creates were bound by round trips).
const INSERT_URL: &str = "WITH url AS ( \
       INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id \
     ), created AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT id, $1, $7, $6, $8 FROM url \
     ) \
     SELECT id FROM url";

/// A batch of events and its clicks per link in one statement: the rows travel as five
/// arrays that `UNNEST` turns back into rows (a multi-row `VALUES` with thousands of
/// parameters took 150 ms per 1 000 rows in sqlx, the arrays take a few), and the counters
/// are bumped from what was inserted.
const INSERT_BATCH: &str = "WITH inserted AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamp[], $5::jsonb[]) \
       RETURNING url_id, event_type \
     ) \
     INSERT INTO link_clicks (url_id, clicks) \
     SELECT url_id, count(*) FROM inserted WHERE event_type = 'click' AND url_id IS NOT NULL GROUP BY url_id \
     ON CONFLICT (url_id) DO UPDATE SET clicks = link_clicks.clicks + excluded.clicks";

/// The use counts side by side as arrays.
const ADD_USES: &str = "UPDATE api_keys k SET request_count = k.request_count + u.requests, \
     last_used_at = GREATEST(k.last_used_at, u.used) \
     FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamp[]) AS u(id, requests, used) \
     WHERE k.id = u.id";

impl PostgresStore {
    /// The url and its `created` event; the url's id.
    pub(super) async fn insert_url(&self, url: &NewUrl) -> StoreResult<i64> {
        // The event's url id is the statement's own `RETURNING id`; 0 is never written.
        let event = created_event(0, url);
        let mut session = self.reader().await?;
        let id: i64 = self
            .query_scalar(INSERT_URL)
            .bind(url.user_id)
            .bind(url.short_code.as_str())
            .bind(url.original_url.as_str())
            .bind(&url.title)
            .bind(url.is_active)
            .bind(url.created_at)
            .bind(&event.event_type)
            .bind(Json(&event.details))
            .fetch_one(&mut *session)
            .await
            .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        session.commit().await?;
        Ok(id)
    }

    /// A batch of events, and its clicks added to the counters.
    pub(super) async fn insert_batch(&self, events: &[NewEvent]) -> StoreResult<()> {
        let url_ids: Vec<Option<i64>> = events.iter().map(|e| e.url_id).collect();
        let user_ids: Vec<Option<i64>> = events.iter().map(|e| e.user_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let times: Vec<Timestamp> = events.iter().map(|e| e.timestamp).collect();
        let details: Vec<Json<Value>> = events
            .iter()
            .map(|e| Json(Value::Object(e.details.clone())))
            .collect();
        // In a transaction of its own, committed: a write must not ride on a read `Session`.
        let mut tx = self.begin().await?;
        self.query(INSERT_BATCH)
            .bind(&url_ids)
            .bind(&user_ids)
            .bind(&types)
            .bind(&times)
            .bind(&details)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds request counts and moves last-used times forward (never back).
    pub(super) async fn add_uses(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        let ids: Vec<i64> = uses.iter().map(|u| u.id).collect();
        let requests: Vec<i64> = uses.iter().map(|u| u.requests).collect();
        let used: Vec<Timestamp> = uses.iter().map(|u| u.last_used_at).collect();
        let mut tx = self.begin().await?;
        self.query(ADD_USES)
            .bind(&ids)
            .bind(&requests)
            .bind(&used)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
