//! Events in PostgreSQL, and the click counters kept with every batch of clicks.

use super::{PostgresStore, Table};
use crate::domain::{Event, NewEvent, Timestamp};
use crate::store::sql::{self, insert_chunks};
use crate::store::{EventFilter, EventStore, Listing, Page, StoreError, StoreResult, retry};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};

/// A batch of events and its clicks per link in one statement: the rows travel as five
/// arrays that `UNNEST` turns back into rows (a multi-row `VALUES` with thousands of
/// parameters took 150 ms per 1 000 rows in sqlx, the arrays take a few), and the counters
/// are bumped from what was inserted.
const APPEND_EVENTS: &str = "WITH inserted AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamp[], $5::jsonb[]) \
       RETURNING url_id, event_type \
     ) \
     INSERT INTO link_clicks (url_id, clicks) \
     SELECT url_id, count(*) FROM inserted WHERE event_type = 'click' AND url_id IS NOT NULL GROUP BY url_id \
     ON CONFLICT (url_id) DO UPDATE SET clicks = link_clicks.clicks + excluded.clicks";

impl PostgresStore {
    /// Appends one event inside a write; returns its id.
    pub(super) async fn insert_event(
        &self,
        conn: &mut PgConnection,
        event: &NewEvent,
    ) -> StoreResult<i64> {
        Ok(self
            .query_scalar(sql::INSERT_EVENT)
            .bind(event.url_id)
            .bind(event.user_id)
            .bind(&event.event_type)
            .bind(event.timestamp)
            .bind(Json(&event.details))
            .fetch_one(conn)
            .await?)
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        let event = &event;
        let id = retry::write("create_event", move || async move {
            let mut tx = self.begin().await?;
            if let Some(url_id) = event.url_id
                && !self.exists(&mut tx, sql::URL_EXISTS, url_id).await?
            {
                return Err(StoreError::MissingReference("url"));
            }
            if let Some(user_id) = event.user_id
                && !self.exists(&mut tx, sql::USER_EXISTS, user_id).await?
            {
                return Err(StoreError::MissingReference("user"));
            }
            let id = self.insert_event(&mut tx, event).await?;
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
        let url_ids: Vec<Option<i64>> = events.iter().map(|e| e.url_id).collect();
        let user_ids: Vec<Option<i64>> = events.iter().map(|e| e.user_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let times: Vec<Timestamp> = events.iter().map(|e| e.timestamp).collect();
        let details: Vec<Json<Value>> = events
            .iter()
            .map(|e| Json(Value::Object(e.details.clone())))
            .collect();
        retry::once("append_events", async {
            // In a transaction of its own, committed: a write must not ride on a read `Session`.
            let mut tx = self.begin().await?;
            self.query(APPEND_EVENTS)
                .bind(&url_ids)
                .bind(&user_ids)
                .bind(&types)
                .bind(&times)
                .bind(&details)
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
            self.lock_for_import(&mut tx, Table::Events).await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_events::<Postgres>(chunk)
                    .build()
                    .persistent(self.prepared)
                    .execute(&mut *tx)
                    .await?;
            }
            self.move_sequence(&mut tx, Table::Events).await?;
            self.query(sql::RECOUNT_CLICKS).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
