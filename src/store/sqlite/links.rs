//! Short links in the embedded store, each write with its audit event in one transaction.

use super::SqliteStore;
use super::events::insert_event;
use super::users::user_exists;
use crate::domain::audit::{created_event, deleted_event, updated_event};
use crate::domain::{Link, NewUrl, ShortCode, Timestamp, Url, UrlPatch};
use crate::store::sql::{self, insert_chunks};
use crate::store::{LinkStore, Listing, Page, StoreError, StoreResult, UrlFilter, retry};
use async_trait::async_trait;
use sqlx::{Sqlite, SqliteConnection};

async fn fetch(conn: &mut SqliteConnection, id: i64) -> StoreResult<Option<Url>> {
    Ok(sqlx::query_as(sql::URL_BY_ID)
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
        let url = &url;
        retry::write("create_url", move || async move {
            let mut tx = self.begin().await?;
            if let Some(user_id) = url.user_id
                && !user_exists(&mut tx, user_id).await?
            {
                return Err(StoreError::MissingReference("user"));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(url.user_id)
            .bind(url.short_code.as_str())
            .bind(url.original_url.as_str())
            .bind(&url.title)
            .bind(url.is_active)
            .bind(url.created_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
            insert_event(&mut tx, &created_event(id, url)).await?;
            tx.commit().await?;
            Ok(url.stored_as(id))
        })
        .await
    }

    async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
        retry::read("get_url", move || async move {
            fetch(&mut *self.reader().await?, id).await
        })
        .await
    }

    async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>> {
        retry::read("find_link", move || async move {
            Ok(sqlx::query_as(sql::LINK_BY_CODE)
                .bind(code.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await?)
        })
        .await
    }

    async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>> {
        retry::read("most_clicked", move || async move {
            Ok(sqlx::query_as(sql::MOST_CLICKED)
                .bind(limit)
                .fetch_all(&mut *self.reader().await?)
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
            let Some(mut url) = fetch(&mut tx, id).await? else {
                return Ok(None);
            };
            let changes = patch.changes(&url);
            patch.apply(&mut url);
            url.updated_at = now;
            sqlx::query(sql::UPDATE_URL)
                .bind(&url.title)
                .bind(url.is_active)
                .bind(&url.original_url)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for change in changes {
                let event = updated_event(&url, change.field, change.new_value, now);
                insert_event(&mut tx, &event).await?;
            }
            tx.commit().await?;
            Ok(Some(url))
        })
        .await
    }

    async fn delete_url(&self, id: i64, now: Timestamp) -> StoreResult<Option<Url>> {
        retry::write("delete_url", move || async move {
            let mut tx = self.begin().await?;
            let Some(url) = fetch(&mut tx, id).await? else {
                return Ok(None);
            };
            sqlx::query(sql::DELETE_URL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, &deleted_event(&url, now)).await?;
            tx.commit().await?;
            Ok(Some(url))
        })
        .await
    }

    async fn import_urls(&self, rows: &[Url]) -> StoreResult<u64> {
        retry::write("import_urls", move || async move {
            let mut tx = self.begin().await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_urls::<Sqlite>(chunk)
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
            }
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
