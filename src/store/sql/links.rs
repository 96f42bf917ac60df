//! Short links, written once for both backends: their statements, and [`link_store!`],
//! which implements `LinkStore` for a backend type with the primitives of
//! [`super::helpers`], the backend's group commit of creates (its `creates`, see
//! [`crate::store::creates`]: a url is inserted with its `created` event together with the
//! other creates waiting), and its own answer to how a url is read to be changed
//! (`URL_FOR_UPDATE`: PostgreSQL locks the row).

pub const ALL: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at, \
     settings, password_hash FROM urls";
pub const BY_ID: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at, \
     settings, password_hash FROM urls WHERE id = $1";
pub const EXISTS: &str = "SELECT id FROM urls WHERE id = $1";
pub const LINK_BY_CODE: &str = "SELECT id, user_id, short_code, original_url AS target, is_active, settings, password_hash \
     FROM urls WHERE short_code = $1";
/// The most-clicked active links, from the click counters (one row per clicked link).
pub const MOST_CLICKED: &str = "SELECT u.id, u.user_id, u.short_code, u.original_url AS target, u.is_active, \
     u.settings, u.password_hash \
     FROM link_clicks c JOIN urls u ON u.id = c.url_id WHERE u.is_active ORDER BY c.clicks DESC, u.id LIMIT $1";
/// The newest active links without a click counter (never clicked), down the primary key.
pub const NEWEST_UNCLICKED: &str = "SELECT u.id, u.user_id, u.short_code, u.original_url AS target, \
     u.is_active, u.settings, u.password_hash FROM urls u WHERE u.is_active \
     AND NOT EXISTS (SELECT 1 FROM link_clicks c WHERE c.url_id = u.id) ORDER BY u.id DESC LIMIT $1";
pub const UPDATE: &str = "UPDATE urls SET title = $1, is_active = $2, original_url = $3, updated_at = $4, \
     settings = $5, password_hash = $6 WHERE id = $7";
/// One more human visit of a capped link, if the cap allows it: a row comes back when it
/// did. Atomic on both stores, so replicas asking at once never pass the cap together.
pub const SPEND_VISIT: &str = "INSERT INTO link_caps (url_id, spent) VALUES ($1, 1) \
     ON CONFLICT (url_id) DO UPDATE SET spent = link_caps.spent + 1 WHERE link_caps.spent < $2 \
     RETURNING spent";
/// The human visits a capped link has redirected.
pub const VISITS_SPENT: &str = "SELECT spent FROM link_caps WHERE url_id = $1";
pub const DELETE: &str = "DELETE FROM urls WHERE id = $1";
pub const TARGET_BY_CODE: &str = "SELECT original_url FROM urls WHERE short_code = $1";
/// A url taking a fresh id, for links imported from other shorteners.
pub const INSERT: &str = "INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";

macro_rules! link_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::audit::{
                created_event, deleted_event, imported_event, updated_event,
            };
            use $crate::domain::{ImportedLink, Link, NewUrl, ShortCode, Timestamp, Url, UrlPatch};
            use $crate::store::sql::{self, Table, first, links};
            use $crate::store::{LinkStore, Listing, Page, StoreResult, UrlFilter, retry};

            #[async_trait::async_trait]
            impl LinkStore for $store {
                async fn create_url(&self, url: NewUrl) -> StoreResult<Url> {
                    let url = &url;
                    // The event's url id is the insert's own; 0 is never written.
                    let event = &created_event(0, url);
                    let id = retry::write("create_url", move || {
                        self.creates.create(url.clone(), event.clone())
                    })
                    .await?;
                    Ok(url.stored_as(id))
                }

                async fn get_url(&self, id: i64) -> StoreResult<Option<Url>> {
                    self.all("get_url", links::BY_ID, id).await.map(first)
                }

                async fn find_link(&self, code: &ShortCode) -> StoreResult<Option<Link>> {
                    self.all("find_link", links::LINK_BY_CODE, code.as_str())
                        .await
                        .map(first)
                }

                async fn find_links(&self, codes: &[ShortCode]) -> StoreResult<Vec<Link>> {
                    if codes.is_empty() {
                        return Ok(Vec::new());
                    }
                    let codes: Vec<&str> = codes.iter().map(ShortCode::as_str).collect();
                    let codes = serde_json::Value::from(codes).to_string();
                    self.all("find_links", Self::LINKS_BY_CODES, codes.as_str())
                        .await
                }

                async fn most_clicked(&self, limit: i64) -> StoreResult<Vec<Link>> {
                    self.all("most_clicked", links::MOST_CLICKED, limit).await
                }

                async fn newest_unclicked_links(&self, limit: i64) -> StoreResult<Vec<Link>> {
                    self.all("newest_unclicked_links", links::NEWEST_UNCLICKED, limit)
                        .await
                }

                async fn spend_visit(&self, url_id: i64, cap: i64) -> StoreResult<bool> {
                    // A retry after a commit whose answer was lost spends twice: one visit
                    // fewer for the link, never one more.
                    self.affects("spend_visit", || {
                        self.query_scalar(links::SPEND_VISIT).bind(url_id).bind(cap)
                    })
                    .await
                }

                async fn visits_spent(&self, url_id: i64) -> StoreResult<i64> {
                    let spent: Option<i64> = self
                        .all::<(i64,), _>("visits_spent", links::VISITS_SPENT, url_id)
                        .await
                        .map(first)?
                        .map(|(spent,)| spent);
                    Ok(spent.unwrap_or(0))
                }

                async fn list_urls(
                    &self,
                    filter: &UrlFilter,
                    page: Page,
                ) -> StoreResult<Listing<Url>> {
                    self.list("list_urls", ("urls", links::ALL), &filter.columns(), page)
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
                        let Some(mut url) = self
                            .current::<Url>(&mut tx, Self::URL_FOR_UPDATE, id)
                            .await?
                        else {
                            return Ok(None);
                        };
                        let changes = patch.changes(&url);
                        patch.apply(&mut url);
                        url.updated_at = now;
                        self.query(links::UPDATE)
                            .bind(&url.title)
                            .bind(url.is_active)
                            .bind(&url.original_url)
                            .bind(now)
                            .bind(url.settings.as_ref().map(sqlx::types::Json))
                            .bind(&url.password_hash)
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
                        let Some(url) = self
                            .current::<Url>(&mut tx, Self::URL_FOR_UPDATE, id)
                            .await?
                        else {
                            return Ok(None);
                        };
                        self.query(links::DELETE).bind(id).execute(&mut *tx).await?;
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

                async fn import_links(
                    &self,
                    imported: &[ImportedLink],
                    dry_run: bool,
                ) -> StoreResult<Vec<Option<String>>> {
                    retry::write("import_links", move || async move {
                        let mut tx = self.begin().await?;
                        let mut taken = Vec::with_capacity(imported.len());
                        for link in imported {
                            let url = &link.url;
                            let code = url.short_code.as_str();
                            let existing: Option<String> = self
                                .query_scalar(links::TARGET_BY_CODE)
                                .bind(code)
                                .fetch_optional(&mut *tx)
                                .await?;
                            if existing.is_none() {
                                let id: i64 = self
                                    .query_scalar(links::INSERT)
                                    .bind(url.user_id)
                                    .bind(code)
                                    .bind(url.original_url.as_str())
                                    .bind(&url.title)
                                    .bind(url.is_active)
                                    .bind(url.created_at)
                                    .bind(url.created_at)
                                    .fetch_one(&mut *tx)
                                    .await
                                    .map_err(|e| Table::Urls.refusal(e))?;
                                self.insert_event(&mut tx, &imported_event(id, link))
                                    .await?;
                            }
                            taken.push(existing);
                        }
                        if dry_run {
                            tx.rollback().await?;
                        } else {
                            tx.commit().await?;
                        }
                        Ok(taken)
                    })
                    .await
                }
            }
        };
    };
}

pub(crate) use link_store;
