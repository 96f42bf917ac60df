//! Events, written once for both backends: their statements, and [`event_store!`], which
//! implements `EventStore` for a backend type with the primitives of [`super::helpers`] and
//! its own way of writing a batch of visits with their click counters in one go
//! (`insert_batch`: multi-row `INSERT`s with every value bound on SQLite, arrays through
//! PostgreSQL's `UNNEST`).

pub const ALL: &str = "SELECT id, url_id, user_id, event_type, timestamp, details FROM events";
pub const BY_ID: &str =
    "SELECT id, url_id, user_id, event_type, timestamp, details FROM events WHERE id = $1";
/// One event appended, its id returned: a macro, so that a backend's own text can take it
/// in with `concat!` (SQLite counts the event in the same text).
macro_rules! insert {
    () => {
        "INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id"
    };
}
pub(crate) use insert;
pub const INSERT: &str = insert!();
/// Sets every link's click counter to its number of click events (after an import).
pub const RECOUNT_CLICKS: &str = "INSERT INTO link_clicks (url_id, clicks) \
     SELECT url_id, count(*) FROM events WHERE event_type = 'click' AND url_id IS NOT NULL GROUP BY url_id \
     ON CONFLICT (url_id) DO UPDATE SET clicks = excluded.clicks";

/// The first click event in id order: where retention starts (clicks are appended in time
/// order, so the lowest ids are the oldest).
pub const OLDEST_CLICK: &str =
    "SELECT id, timestamp FROM events WHERE event_type = 'click' ORDER BY id LIMIT 1";
/// Click events older than `$3` among the ids `[$1, $2)`: one bounded slice of the table
/// per statement, so a write lock is held briefly.
pub const FORGET_CLICKS: &str = "DELETE FROM events \
     WHERE id >= $1 AND id < $2 AND event_type = 'click' AND timestamp < $3";

macro_rules! event_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::types::Json;
            use $crate::domain::{Event, NewEvent, Timestamp, Visited, event_type};
            use $crate::store::sql::{self, Table, events, first, links, users};
            use $crate::store::{
                EventFilter, EventStore, Listing, Page, StoreError, StoreResult, retry,
            };

            impl $store {
                /// Appends one event inside a write, counted (on PostgreSQL by its
                /// triggers, on SQLite by the backend's `INSERT_EVENT` itself); returns its id.
                async fn insert_event(
                    &self,
                    conn: &mut <$db as sqlx::Database>::Connection,
                    event: &NewEvent,
                ) -> StoreResult<i64> {
                    Ok(self
                        .query_scalar(Self::INSERT_EVENT)
                        .bind(event.url_id)
                        .bind(event.user_id)
                        .bind(&event.event_type)
                        .bind(event.timestamp)
                        .bind(Json(&event.details))
                        .fetch_one(&mut *conn)
                        .await?)
                }
            }

            #[async_trait::async_trait]
            impl EventStore for $store {
                async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
                    let event = &event;
                    let id = retry::write("create_event", move || async move {
                        let mut tx = self.begin().await?;
                        let references = [
                            (event.url_id, links::EXISTS, "url"),
                            (event.user_id, users::EXISTS, "user"),
                        ];
                        for (id, exists, what) in references {
                            if let Some(id) = id
                                && self.current::<(i64,)>(&mut tx, exists, id).await?.is_none()
                            {
                                return Err(StoreError::MissingReference(what));
                            }
                        }
                        let id = self.insert_event(&mut tx, event).await?;
                        tx.commit().await?;
                        Ok(id)
                    })
                    .await?;
                    Ok(event.clone().stored_as(id))
                }

                /// Not retried here: the click writer has its own, longer retries.
                async fn append_batch(&self, visits: &[Visited], key: i64) -> StoreResult<()> {
                    if visits.is_empty() {
                        return Ok(());
                    }
                    let day = Timestamp::now().unix_day();
                    let written = self.insert_batch(visits, (key, day));
                    match retry::once("append_visits", written).await {
                        Err(StoreError::Conflict(_)) => {
                            tracing::info!(key, "a retried click batch was already written");
                            Ok(())
                        }
                        other => other,
                    }
                }

                async fn list_events(
                    &self,
                    filter: &EventFilter,
                    page: Page,
                ) -> StoreResult<Listing<Event>> {
                    self.list(
                        "list_events",
                        ("events", events::ALL),
                        &filter.columns(Self::EVENT_LOOKUPS, Self::EVENTS_BY_TYPE),
                        page,
                    )
                    .await
                }

                async fn forget_clicks(&self, before: Timestamp, ids: i64) -> StoreResult<u64> {
                    retry::write("forget_clicks", move || async move {
                        let oldest: Option<(i64, Timestamp)> = self
                            .query_as(events::OLDEST_CLICK)
                            .fetch_optional(&mut *self.reader().await?)
                            .await?;
                        let Some((first, at)) = oldest.filter(|(_, at)| *at < before) else {
                            return Ok(0);
                        };
                        let mut tx = self.begin().await?;
                        let below = first.saturating_add(ids.max(1));
                        let forgotten = self
                            .query(events::FORGET_CLICKS)
                            .bind(first)
                            .bind(below)
                            .bind(before)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        let removed = i64::try_from(forgotten).unwrap_or(i64::MAX);
                        self.events_added(&mut tx, event_type::CLICK, -removed)
                            .await?;
                        self.events_forgotten_below(&mut tx, below).await?;
                        tx.commit().await?;
                        tracing::debug!(at = %at, forgotten, "clicks past retention removed");
                        Ok(forgotten)
                    })
                    .await
                }

                async fn get_event(&self, id: i64) -> StoreResult<Option<Event>> {
                    self.all("get_event", events::BY_ID, id).await.map(first)
                }

                async fn import_events(&self, rows: &[Event]) -> StoreResult<u64> {
                    self.import(
                        "import_events",
                        Table::Events,
                        rows,
                        sql::upsert_events::<$db>,
                    )
                    .await
                }
            }
        };
    };
}

pub(crate) use event_store;
