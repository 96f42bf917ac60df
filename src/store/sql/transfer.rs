//! Whole tables in id order and back (the [`Transfer`](crate::store::Transfer) of both
//! backends), written once: [`transfer_store!`] implements it for a backend type with the
//! primitives of [`super::helpers`] and its own snapshot reads (`hold_snapshot`,
//! `snapshot_rows`: PostgreSQL's exported snapshots; nothing on SQLite, read from a copy).

/// Each table's rows after id `$1`, in id order, at most `$2`.
pub const USERS_AFTER: &str =
    "SELECT id, username, email, created_at FROM users WHERE id > $1 ORDER BY id LIMIT $2";
pub const URLS_AFTER: &str = "SELECT id, user_id, short_code, original_url, title, is_active, created_at, updated_at, \
     settings, password_hash \
     FROM urls WHERE id > $1 ORDER BY id LIMIT $2";
pub const EVENTS_AFTER: &str = "SELECT id, url_id, user_id, event_type, timestamp, details \
     FROM events WHERE id > $1 ORDER BY id LIMIT $2";
pub const API_KEYS_AFTER: &str = "SELECT id, name, prefix, secret_hash, scope, user_id, created_at, expires_at, \
     revoked_at, last_used_at, request_count FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2";

/// What owns comes after what is owned: events and counters, keys, urls, then users.
pub const CLEAR: [&str; 12] = [
    "DELETE FROM events",
    "DELETE FROM link_caps",
    "DELETE FROM link_clicks",
    "DELETE FROM click_rollups",
    "DELETE FROM click_dimensions",
    "DELETE FROM click_agents",
    "DELETE FROM click_visitors",
    "DELETE FROM click_batches",
    "DELETE FROM visitor_keys",
    "DELETE FROM api_keys",
    "DELETE FROM urls",
    "DELETE FROM users",
];

/// Forgets the counters first: a counter of a link with no clicks left must not stay. The
/// hourly counters are rebuilt from the click events' classification (`unixepoch` is
/// SQLite's, and a function of the PostgreSQL schema); how many visitors were new each day
/// is not in the events, so `visitors` starts again from zero. A capped link's count of
/// spent visits is its human clicks that were not sent to the fallback (clicks from before
/// the cap was set count too: the cap errs on fewer visits, never more).
pub const RECOUNT: [&str; 10] = [
    "DELETE FROM link_clicks",
    super::events::RECOUNT_CLICKS,
    "DELETE FROM click_rollups",
    "DELETE FROM click_dimensions",
    "DELETE FROM click_agents",
    "INSERT INTO click_rollups (url_id, bucket, humans, bots, previews, prefetches, visitors) \
     SELECT url_id, unixepoch(timestamp) / 3600, \
            sum(CASE WHEN details ->> 'visit_class' = 'human' THEN 1 ELSE 0 END), \
            sum(CASE WHEN details ->> 'visit_class' = 'bot' THEN 1 ELSE 0 END), \
            sum(CASE WHEN details ->> 'visit_class' = 'preview' THEN 1 ELSE 0 END), \
            sum(CASE WHEN details ->> 'visit_class' = 'prefetch' THEN 1 ELSE 0 END), 0 \
     FROM events WHERE event_type = 'click' AND url_id IS NOT NULL \
       AND details ->> 'visit_class' IS NOT NULL \
     GROUP BY url_id, unixepoch(timestamp) / 3600",
    "INSERT INTO click_agents (url_id, day, browser, os, device, clicks) \
     SELECT url_id, unixepoch(timestamp) / 86400, details ->> 'browser', details ->> 'os', \
            details ->> 'device', count(*) \
     FROM events WHERE event_type = 'click' AND url_id IS NOT NULL \
       AND details ->> 'visit_class' = 'human' AND details ->> 'browser' IS NOT NULL \
     GROUP BY 1, 2, 3, 4, 5",
    "INSERT INTO click_dimensions (url_id, day, dimension, value, clicks) \
     SELECT url_id, day, dimension, value, count(*) FROM ( \
       SELECT e.url_id, unixepoch(e.timestamp) / 86400 AS day, d.dimension, \
              CASE d.dimension \
                WHEN 'referrer' THEN e.details ->> 'referrer_host' \
                WHEN 'country' THEN e.details ->> 'country' \
                ELSE e.details ->> 'language' END AS value \
       FROM events e CROSS JOIN (SELECT 'referrer' AS dimension UNION ALL SELECT 'country' \
            UNION ALL SELECT 'language') d \
       WHERE e.event_type = 'click' AND e.url_id IS NOT NULL \
         AND e.details ->> 'visit_class' = 'human') AS human \
     WHERE value IS NOT NULL \
     GROUP BY url_id, day, dimension, value",
    "DELETE FROM link_caps",
    "INSERT INTO link_caps (url_id, spent) \
     SELECT e.url_id, count(*) FROM events e JOIN urls u ON u.id = e.url_id \
     WHERE e.event_type = 'click' AND u.settings ->> 'max_clicks' IS NOT NULL \
       AND e.details ->> 'visit_class' = 'human' AND e.details ->> 'fallback' IS NULL \
     GROUP BY e.url_id",
];

pub fn count(table: super::Table) -> &'static str {
    match table {
        super::Table::Users => "SELECT count(*) FROM users",
        super::Table::Urls => "SELECT count(*) FROM urls",
        super::Table::Events => "SELECT count(*) FROM events",
        super::Table::ApiKeys => "SELECT count(*) FROM api_keys",
    }
}

macro_rules! transfer_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::store::sql::{self, Table, transfer};
            use $crate::store::{Pinned, Rows, StoreResult, Transfer, retry};

            type Row = <$db as sqlx::Database>::Row;

            impl $store {
                /// The rows `sql` selects after id `$1`, at most `$2`.
                async fn page_after<T>(
                    &self,
                    sql: &'static str,
                    (after, limit): (i64, i64),
                ) -> StoreResult<Vec<T>>
                where
                    T: for<'r> sqlx::FromRow<'r, Row> + Send + Unpin,
                {
                    retry::read("rows_after", move || async move {
                        if let Some(rows) = self.snapshot_rows(sql, (after, limit)).await? {
                            return Ok(rows);
                        }
                        Ok(self
                            .query_as(sql)
                            .bind(after)
                            .bind(limit)
                            .fetch_all(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                /// Upserts one table's rows inside `tx`; the table, for its sequence.
                async fn put<T: Sync>(
                    &self,
                    tx: &mut <$db as sqlx::Database>::Connection,
                    table: Table,
                    rows: &[T],
                    upsert: fn(&[T]) -> sqlx::QueryBuilder<$db>,
                ) -> StoreResult<Table> {
                    self.lock_for_import(tx, table).await?;
                    self.upsert_all(tx, table, rows, upsert).await?;
                    Ok(table)
                }

                /// Runs `statements` in order, then counts the events again, in one write
                /// transaction; `renumbered` when the events' ids no longer follow the order
                /// of their commits (a clear).
                async fn rewrite(
                    &self,
                    op: &'static str,
                    statements: &[&'static str],
                    renumbered: bool,
                ) -> StoreResult<()> {
                    retry::write(op, move || async move {
                        let mut tx = self.begin().await?;
                        for statement in statements {
                            self.query(statement).execute(&mut *tx).await?;
                        }
                        if renumbered {
                            self.events_renumbered(&mut tx).await?;
                        }
                        self.events_recounted(&mut tx).await?;
                        tx.commit().await?;
                        Ok(())
                    })
                    .await
                }
            }

            #[async_trait::async_trait]
            impl Transfer for $store {
                async fn pin_snapshot(&self) -> StoreResult<Option<Pinned>> {
                    self.hold_snapshot().await
                }

                async fn rows_after(
                    &self,
                    table: Table,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Rows> {
                    let key = (after, limit);
                    Ok(match table {
                        Table::Users => {
                            Rows::Users(self.page_after(transfer::USERS_AFTER, key).await?)
                        }
                        Table::Urls => {
                            Rows::Urls(self.page_after(transfer::URLS_AFTER, key).await?)
                        }
                        Table::Events => {
                            Rows::Events(self.page_after(transfer::EVENTS_AFTER, key).await?)
                        }
                        Table::ApiKeys => {
                            Rows::ApiKeys(self.page_after(transfer::API_KEYS_AFTER, key).await?)
                        }
                    })
                }

                async fn put_rows(&self, rows: &Rows) -> StoreResult<()> {
                    retry::write("put_rows", move || async move {
                        let mut tx = self.begin().await?;
                        let table = match rows {
                            Rows::Users(r) => {
                                self.put(&mut tx, Table::Users, r, sql::upsert_users::<$db>)
                                    .await?
                            }
                            Rows::Urls(r) => {
                                self.put(&mut tx, Table::Urls, r, sql::upsert_urls::<$db>)
                                    .await?
                            }
                            Rows::Events(r) => {
                                self.put(&mut tx, Table::Events, r, sql::upsert_events::<$db>)
                                    .await?
                            }
                            Rows::ApiKeys(r) => {
                                let upsert = sql::upsert_api_keys::<$db>;
                                self.put(&mut tx, Table::ApiKeys, r, upsert).await?
                            }
                        };
                        self.move_sequence(&mut tx, table).await?;
                        tx.commit().await?;
                        Ok(())
                    })
                    .await
                }

                async fn count_rows(&self, table: Table) -> StoreResult<i64> {
                    retry::read("count_rows", move || async move {
                        Ok(self
                            .query_scalar(transfer::count(table))
                            .fetch_one(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                async fn clear(&self) -> StoreResult<()> {
                    self.rewrite("clear", &transfer::CLEAR, true).await
                }

                async fn recount_clicks(&self) -> StoreResult<()> {
                    let [a, b, c, d, e, f, g, h, i, j] = transfer::RECOUNT;
                    let statements = [Self::UNBOUNDED, a, b, c, d, e, f, g, h, i, j];
                    // The events a move put page by page are counted here too.
                    self.rewrite("recount_clicks", &statements, false).await
                }
            }
        };
    };
}

pub(crate) use transfer_store;
