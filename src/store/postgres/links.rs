//! Short links in PostgreSQL, each write with its audit event in one transaction.

use super::{PostgresStore, Table};
use crate::domain::audit::{created_event, deleted_event, updated_event};
use crate::domain::{Link, NewUrl, ShortCode, Timestamp, Url, UrlPatch};
use crate::store::sql::{self, insert_chunks};
use crate::store::{LinkStore, Listing, Page, StoreError, StoreResult, UrlFilter, retry};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};

/// The url and its `created` event in one statement: one round trip, atomic by itself,
/// instead of BEGIN, two INSERTs and COMMIT (creates were bound by round trips).
const CREATE_URL: &str = "WITH url AS ( \
       INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id \
     ), created AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT id, $1, $7, $6, $8 FROM url \
     ) \
     SELECT id FROM url";

/// `FOR UPDATE`: the row is locked until the transaction ends, so concurrent updates of one
/// url apply in turn and each sees the other's result.
const URL_FOR_UPDATE: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at \
     FROM urls WHERE id = $1 FOR UPDATE";

impl PostgresStore {
    async fn fetch_for_update(&self, conn: &mut PgConnection, id: i64) -> StoreResult<Option<Url>> {
        Ok(self
            .query_as(URL_FOR_UPDATE)
            .bind(id)
            .fetch_optional(conn)
            .await?)
    }
}

#[async_trait]
impl LinkStore for PostgresStore {
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        let url = &url;
        // The event's url id is the statement's own `RETURNING id`; 0 is never written.
        let event = &created_event(0, url);
        retry::write("create_url", move || async move {
            let mut session = self.session().await?;
            let id: i64 = self
                .query_scalar(CREATE_URL)
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
            Ok(url.stored_as(id))
        })
        .await
    }

    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
        retry::read("get_url", move || async move {
            Ok(self
                .query_as(sql::URL_BY_ID)
                .bind(id)
                .fetch_optional(&mut *self.session().await?)
                .await?)
        })
        .await
    }

    async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>> {
        retry::read("find_link", move || async move {
            Ok(self
                .query_as(sql::LINK_BY_CODE)
                .bind(code.as_str())
                .fetch_optional(&mut *self.session().await?)
                .await?)
        })
        .await
    }

    async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>> {
        retry::read("most_clicked", move || async move {
            Ok(self
                .query_as(sql::MOST_CLICKED)
                .bind(limit)
                .fetch_all(&mut *self.session().await?)
                .await?)
        })
        .await
    }

    async fn list_urls(&self, filter: &UrlFilter, page: Page) -> StoreResult<Listing<Url>> {
        let filters = &filter.columns();
        retry::read("list_urls", move || {
            self.list("urls", sql::URLS, filters, page)
        })
        .await
    }

    async fn update_url(
        &self,
        id: i64,
        patch: UrlPatch,
        now: Timestamp,
    ) -> StoreResult<Option<Url>> {
        let patch = &patch;
        retry::write("update_url", move || async move {
            let mut tx = self.begin().await?;
            let Some(mut url) = self.fetch_for_update(&mut tx, id).await? else {
                return Ok(None);
            };
            let changes = patch.changes(&url);
            patch.apply(&mut url);
            url.updated_at = now;
            self.query(sql::UPDATE_URL)
                .bind(&url.title)
                .bind(url.is_active)
                .bind(&url.original_url)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for change in changes {
                let event = updated_event(&url, change.field, change.new_value, now);
                self.insert_event(&mut tx, &event).await?;
            }
            tx.commit().await?;
            Ok(Some(url))
        })
        .await
    }

    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        retry::write("delete_url", move || async move {
            let mut tx = self.begin().await?;
            let Some(url) = self.fetch_for_update(&mut tx, id).await? else {
                return Ok(None);
            };
            self.query(sql::DELETE_URL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            self.insert_event(&mut tx, &deleted_event(&url, now))
                .await?;
            tx.commit().await?;
            Ok(Some(url))
        })
        .await
    }

    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        retry::write("import_urls", move || async move {
            let mut tx = self.begin().await?;
            self.lock_for_import(&mut tx, Table::Urls).await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_urls::<Postgres>(chunk)
                    .build()
                    .persistent(self.prepared)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
            }
            self.move_sequence(&mut tx, Table::Urls).await?;
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
