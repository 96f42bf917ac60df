//! Events in the embedded store, and the click counters kept with every batch of clicks.

use super::users::user_exists;
use super::{SqliteStore, exists};
use crate::domain::{Event, NewEvent};
use crate::store::sql::{self, insert_chunks};
use crate::store::{EventFilter, EventStore, Listing, Page, StoreError, StoreResult, retry};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{Sqlite, SqliteConnection};

/// Appends one event inside a write; returns its id.
pub(super) async fn insert_event(
    conn: &mut SqliteConnection,
    event: &NewEvent,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(sql::INSERT_EVENT)
        .bind(event.url_id)
        .bind(event.user_id)
        .bind(&event.event_type)
        .bind(event.timestamp)
        .bind(Json(&event.details))
        .fetch_one(conn)
        .await?)
}

/// A batch of events and its clicks per link, in two statements and one parameter whatever
/// the batch size: the rows travel as a JSON array that SQLite's `json_each` turns back into
/// rows, in order. Each statement is a round trip to SQLite's worker thread, and under load
/// every round trip waits for the runtime: with a dozen per batch the writer fell behind the
/// redirects (see BENCHMARKS.md).
const APPEND_EVENTS: &str = "\
    INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
    SELECT json_extract(value, '$.u'), json_extract(value, '$.s'), json_extract(value, '$.t'), \
           json_extract(value, '$.ts'), json_extract(value, '$.d') \
    FROM json_each($1) ORDER BY key; \
    INSERT INTO link_clicks (url_id, clicks) \
    SELECT json_extract(value, '$.u'), count(*) FROM json_each($1) \
    WHERE json_extract(value, '$.t') = 'click' AND json_extract(value, '$.u') IS NOT NULL \
    GROUP BY 1 \
    ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks";

/// One event as `append_events` sends it to SQLite, borrowed from the event (serialised
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

#[async_trait]
impl EventStore for SqliteStore {
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        let event = &event;
        let id = retry::write("create_event", move || async move {
            let mut tx = self.begin().await?;
            if let Some(url_id) = event.url_id
                && !exists(&mut tx, sql::URL_EXISTS, url_id).await?
            {
                return Err(StoreError::MissingReference("url"));
            }
            if let Some(user_id) = event.user_id
                && !user_exists(&mut tx, user_id).await?
            {
                return Err(StoreError::MissingReference("user"));
            }
            let id = insert_event(&mut tx, event).await?;
            tx.commit().await?;
            Ok(id)
        })
        .await?;
        Ok(event.clone().stored_as(id))
    }

    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::from).collect();
        let batch = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        retry::once("append_events", async {
            let mut tx = self.begin().await?;
            sqlx::query(APPEND_EVENTS)
                .bind(batch)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn list_events(&self, filter: &EventFilter, page: Page) -> StoreResult<Listing<Event>> {
        let filters = &filter.columns();
        retry::read("list_events", move || {
            self.list("events", sql::EVENTS, filters, page)
        })
        .await
    }

    async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
        retry::write("import_events", move || async move {
            let mut tx = self.begin().await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_events::<Sqlite>(chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(sql::RECOUNT_CLICKS).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
