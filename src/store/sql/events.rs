//! Events, written once for both backends: [`event_store!`] implements `EventStore` for a
//! backend type with the primitives of [`super::helpers`] and its own way of writing a
//! batch of clicks with their counters in one go (`insert_batch`: a JSON array through
//! SQLite's `json_each`, arrays through PostgreSQL's `UNNEST`).

macro_rules! event_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::types::Json;
            use $crate::domain::{Event, NewEvent};
            use $crate::store::sql::{self, Table};
            use $crate::store::{
                EventFilter, EventStore, Listing, Page, StoreError, StoreResult, retry,
            };

            impl $store {
                /// Appends one event inside a write; returns its id.
                async fn insert_event(
                    &self,
                    conn: &mut <$db as sqlx::Database>::Connection,
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

            #[async_trait::async_trait]
            impl EventStore for $store {
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

                /// Not retried here: the click writer has its own, longer retries.
                async fn append_events(&self, events: &[NewEvent]) -> StoreResult<()> {
                    if events.is_empty() {
                        return Ok(());
                    }
                    retry::once("append_events", self.insert_batch(events)).await
                }

                async fn list_events(
                    &self,
                    filter: &EventFilter,
                    page: Page,
                ) -> StoreResult<Listing<Event>> {
                    self.list(
                        "list_events",
                        ("events", sql::EVENTS),
                        &filter.columns(),
                        page,
                    )
                    .await
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
