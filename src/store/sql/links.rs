//! Short links, written once for both backends: [`link_store!`] implements `LinkStore` for a
//! backend type with the primitives of [`super::helpers`], its own way of inserting a url
//! with its `created` event (`insert_url`), and its own way of reading a url to change it
//! (`URL_FOR_UPDATE`: PostgreSQL locks the row).

macro_rules! link_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::audit::{deleted_event, updated_event};
            use $crate::domain::{Link, NewUrl, ShortCode, Timestamp, Url, UrlPatch};
            use $crate::store::sql::{self, Table};
            use $crate::store::{LinkStore, Listing, Page, StoreResult, UrlFilter, retry};

            #[async_trait::async_trait]
            impl LinkStore for $store {
                async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
                    let url = &url;
                    let id = retry::write("create_url", move || self.insert_url(url)).await?;
                    Ok(url.stored_as(id))
                }

                async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
                    self.by_id("get_url", sql::URL_BY_ID, id).await
                }

                async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>> {
                    retry::read("find_link", move || async move {
                        Ok(self
                            .query_as(sql::LINK_BY_CODE)
                            .bind(code.as_str())
                            .fetch_optional(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>> {
                    retry::read("most_clicked", move || async move {
                        Ok(self
                            .query_as(sql::MOST_CLICKED)
                            .bind(limit)
                            .fetch_all(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                async fn list_urls(
                    &self,
                    filter: &UrlFilter,
                    page: Page,
                ) -> StoreResult<Listing<Url>> {
                    self.list("list_urls", ("urls", sql::URLS), &filter.columns(), page)
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
                        let current: Option<Url> = self
                            .query_as(Self::URL_FOR_UPDATE)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(mut url) = current else {
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
                        let current: Option<Url> = self
                            .query_as(Self::URL_FOR_UPDATE)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(url) = current else {
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
                    self.import("import_urls", Table::Urls, rows, sql::upsert_urls::<$db>)
                        .await
                }
            }
        };
    };
}

pub(crate) use link_store;
