//! The click counters read back, written once for both backends: [`stats_store!`]
//! implements `StatsStore` (a period's counters of one link or of all) and the day's visitor
//! key. Sums are cast to BIGINT: PostgreSQL's `sum(bigint)` is `numeric`.

pub const LINK_HOURS: &str = "SELECT bucket, humans, bots, previews, prefetches, visitors \
     FROM click_rollups WHERE url_id = $1 AND bucket >= $2 AND bucket < $3 ORDER BY bucket";
pub const ALL_HOURS: &str = "SELECT bucket, CAST(sum(humans) AS BIGINT) AS humans, \
     CAST(sum(bots) AS BIGINT) AS bots, CAST(sum(previews) AS BIGINT) AS previews, \
     CAST(sum(prefetches) AS BIGINT) AS prefetches, CAST(sum(visitors) AS BIGINT) AS visitors \
     FROM click_rollups WHERE bucket >= $1 AND bucket < $2 GROUP BY bucket ORDER BY bucket";
/// Human clicks by dimension value over whole days (`unknown` rows an earlier release wrote
/// are left out: the unknown counts are derived from the human clicks); the agent
/// counters summed per combination (the stats split them into browsers, systems and
/// devices), beside the browser, OS and device rows an earlier release wrote here.
pub const LINK_DIMENSIONS: &str = "SELECT dimension, value, CAST(sum(clicks) AS BIGINT) AS clicks \
     FROM click_dimensions WHERE url_id = $1 AND day >= $2 AND day < $3 AND value <> 'unknown' \
     GROUP BY dimension, value";
pub const ALL_DIMENSIONS: &str = "SELECT dimension, value, CAST(sum(clicks) AS BIGINT) AS clicks \
     FROM click_dimensions WHERE day >= $1 AND day < $2 AND value <> 'unknown' \
     GROUP BY dimension, value";
pub const LINK_AGENTS: &str = "SELECT browser, os, device, CAST(sum(clicks) AS BIGINT) AS clicks \
     FROM click_agents WHERE url_id = $1 AND day >= $2 AND day < $3 GROUP BY browser, os, device";
pub const ALL_AGENTS: &str = "SELECT browser, os, device, CAST(sum(clicks) AS BIGINT) AS clicks \
     FROM click_agents WHERE day >= $1 AND day < $2 GROUP BY browser, os, device";
pub const TOP_LINKS: &str = "SELECT url_id, CAST(sum(humans) AS BIGINT) AS humans \
     FROM click_rollups WHERE bucket >= $1 AND bucket < $2 GROUP BY url_id \
     HAVING sum(humans) > 0 ORDER BY humans DESC, url_id LIMIT 10";

pub const ADD_VISITOR_KEY: &str =
    "INSERT INTO visitor_keys (day, key) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING";
/// The start of the human clicks of a list of links: the ids and `) GROUP BY url_id` follow.
pub const HUMANS_BY_LINK: &str =
    "SELECT url_id, CAST(sum(humans) AS BIGINT) AS humans FROM click_rollups WHERE url_id IN (";
pub const VISITOR_KEY: &str = "SELECT key FROM visitor_keys WHERE day = $1";
/// Keys and visitor records older than yesterday: no longer needed to count a visitor once
/// a day, and without the key a hash cannot be tied to an address again.
pub const FORGET_KEYS: &str = "DELETE FROM visitor_keys WHERE day < $1";
pub const FORGET_VISITORS: &str = "DELETE FROM click_visitors WHERE day < $1";
/// Click batch keys: a retry comes within seconds, a day is plenty.
pub const FORGET_BATCHES: &str = "DELETE FROM click_batches WHERE day < $1";

macro_rules! stats_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::stats::{
                AgentCount, Counters, DimensionCount, HourCounts, TopLink,
            };
            use $crate::store::sql::stats;
            use $crate::store::{StatsStore, StoreResult, retry};

            impl $store {
                /// The rows of a counters query: of link `url_id` (its `$1`) or of all, in
                /// the buckets `[first, end)`.
                async fn counted<T>(
                    &self,
                    conn: &mut <$db as sqlx::Database>::Connection,
                    sql: &'static str,
                    url_id: Option<i64>,
                    (first, end): (i64, i64),
                ) -> StoreResult<Vec<T>>
                where
                    T: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
                {
                    let query = self.query_as(sql);
                    let query = match url_id {
                        Some(id) => query.bind(id),
                        None => query,
                    };
                    Ok(query.bind(first).bind(end).fetch_all(conn).await?)
                }
            }

            #[async_trait::async_trait]
            impl StatsStore for $store {
                async fn counters(
                    &self,
                    url_id: Option<i64>,
                    span: (i64, i64),
                ) -> StoreResult<Counters> {
                    let (hours, dimensions, agents) = match url_id {
                        Some(_) => (
                            stats::LINK_HOURS,
                            stats::LINK_DIMENSIONS,
                            stats::LINK_AGENTS,
                        ),
                        None => (stats::ALL_HOURS, stats::ALL_DIMENSIONS, stats::ALL_AGENTS),
                    };
                    // Dimensions are counted per day: the days the hours touch, whose hours
                    // are all read (their human clicks less the known values are the
                    // unknown ones).
                    let days = (span.0.div_euclid(24), (span.1 + 23).div_euclid(24));
                    let day_hours = (days.0 * 24, days.1 * 24);
                    retry::read("counters", move || async move {
                        let mut reader = self.reader().await?;
                        let hours: Vec<HourCounts> =
                            self.counted(&mut reader, hours, url_id, day_hours).await?;
                        let dimensions: Vec<DimensionCount> =
                            self.counted(&mut reader, dimensions, url_id, days).await?;
                        let agents: Vec<AgentCount> =
                            self.counted(&mut reader, agents, url_id, days).await?;
                        let top_links: Vec<TopLink> = match url_id {
                            Some(_) => Vec::new(),
                            None => {
                                self.counted(&mut reader, stats::TOP_LINKS, None, span)
                                    .await?
                            }
                        };
                        Ok(Counters {
                            hours,
                            dimensions,
                            agents,
                            top_links,
                        })
                    })
                    .await
                }

                async fn humans_by_link(&self, url_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
                    if url_ids.is_empty() {
                        return Ok(Vec::new());
                    }
                    retry::read("humans_by_link", move || async move {
                        let mut query = sqlx::QueryBuilder::<$db>::new(stats::HUMANS_BY_LINK);
                        let mut ids = query.separated(", ");
                        for id in url_ids {
                            ids.push_bind(*id);
                        }
                        query.push(") GROUP BY url_id");
                        let rows: Vec<(i64, i64)> = query
                            .build_query_as()
                            .persistent(self.persistent())
                            .fetch_all(&mut *self.reader().await?)
                            .await?;
                        Ok(rows)
                    })
                    .await
                }

                async fn visitor_key(&self, day: i64) -> StoreResult<String> {
                    retry::write("visitor_key", move || async move {
                        let fresh = hex::encode(rand::random::<[u8; 32]>());
                        let mut tx = self.begin().await?;
                        self.query(stats::ADD_VISITOR_KEY)
                            .bind(day)
                            .bind(&fresh)
                            .execute(&mut *tx)
                            .await?;
                        let key: String = self
                            .query_scalar(stats::VISITOR_KEY)
                            .bind(day)
                            .fetch_one(&mut *tx)
                            .await?;
                        let forgotten = [
                            stats::FORGET_KEYS,
                            stats::FORGET_VISITORS,
                            stats::FORGET_BATCHES,
                        ];
                        for forget in forgotten {
                            self.query(forget).bind(day - 1).execute(&mut *tx).await?;
                        }
                        tx.commit().await?;
                        Ok(key)
                    })
                    .await
                }
            }
        };
    };
}

pub(crate) use stats_store;
