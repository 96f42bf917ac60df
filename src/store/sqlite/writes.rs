//! The writes SQLite makes its own way: a url's `created` event after it, a batch of visits'
//! events with their click counters, and a batch of key uses.

use super::{OneHop, SqliteStore};
use crate::domain::analytics::Rollup;
use crate::domain::{ApiKeyUse, Timestamp, VisitDetails, Visited};
use crate::store::{StoreError, StoreResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// A batch of events, its clicks per link and its click counters (`Rollup`: per hour by
/// class, per day and dimension or agent, and the day's new visitors, counted before they are
/// recorded), in one transaction and one round trip to
/// SQLite's worker thread whatever the batch size (see [`OneHop`]; under load every round
/// trip waits for the runtime: with a dozen per batch the writer fell behind the redirects,
/// see BENCHMARKS.md). The events travel as
/// a JSON array that `json_each` turns back into rows, in order; the clicks per link as a
/// second, small one, counted here rather than by parsing the first array again.
const INSERT_BATCH: &str = "\
    BEGIN IMMEDIATE; \
    INSERT INTO click_batches (key, day) VALUES ($7, $8); \
    INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
    SELECT json_extract(value, '$.u'), json_extract(value, '$.s'), json_extract(value, '$.t'), \
           json_extract(value, '$.ts'), json_extract(value, '$.d') \
    FROM json_each($1) ORDER BY key; \
    INSERT INTO link_clicks (url_id, clicks) \
    SELECT value ->> 0, value ->> 1 FROM json_each($2) WHERE true \
    ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks; \
    WITH fresh(u, b, n) AS ( \
      SELECT v.value ->> 0, v.value ->> 3, count(*) FROM json_each($5) AS v \
      WHERE NOT EXISTS (SELECT 1 FROM click_visitors c WHERE c.url_id = v.value ->> 0 \
                        AND c.day = v.value ->> 1 AND c.visitor = v.value ->> 2) \
      GROUP BY 1, 2) \
    INSERT INTO click_rollups (url_id, bucket, humans, bots, previews, prefetches, visitors) \
    SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, \
           r.value ->> 5, coalesce(f.n, 0) \
    FROM json_each($3) AS r LEFT JOIN fresh AS f ON f.u = r.value ->> 0 AND f.b = r.value ->> 1 \
    WHERE true \
    ON CONFLICT (url_id, bucket) DO UPDATE SET humans = humans + excluded.humans, \
      bots = bots + excluded.bots, previews = previews + excluded.previews, \
      prefetches = prefetches + excluded.prefetches, visitors = visitors + excluded.visitors; \
    INSERT INTO click_visitors (url_id, day, visitor, bucket) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each($5) WHERE true \
    ON CONFLICT DO NOTHING; \
    INSERT INTO click_dimensions (url_id, day, dimension, value, clicks) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each($4) \
    WHERE true \
    ON CONFLICT (url_id, day, dimension, value) DO UPDATE SET clicks = clicks + excluded.clicks; \
    INSERT INTO click_agents (url_id, day, browser, os, device, clicks) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 \
    FROM json_each($6) WHERE true \
    ON CONFLICT (url_id, day, browser, os, device) DO UPDATE SET clicks = clicks + excluded.clicks; \
    COMMIT";

/// One visit's event as `insert_batch` sends it to SQLite, borrowed from the visit and
/// serialised straight away (no JSON tree is built per click).
#[derive(Serialize)]
struct EventRow<'a> {
    u: i64,
    s: Option<i64>,
    t: &'static str,
    ts: Timestamp,
    d: VisitDetails<'a>,
}

impl<'a> From<&'a Visited> for EventRow<'a> {
    fn from(visit: &'a Visited) -> Self {
        Self {
            u: visit.link.id,
            s: visit.link.user_id,
            t: visit.event_type(),
            ts: visit.at,
            d: visit.details(),
        }
    }
}

/// How many of `visits` are clicks on each link.
fn clicks_per_link(visits: &[Visited]) -> BTreeMap<i64, i64> {
    let mut clicks = BTreeMap::new();
    let clicked = visits
        .iter()
        .filter(|v| v.blocked.is_none())
        .map(|v| v.link.id);
    for url_id in clicked {
        *clicks.entry(url_id).or_default() += 1;
    }
    clicks
}

impl SqliteStore {
    /// A batch of visits' events, and their clicks added to the counters, in one
    /// transaction.
    pub(super) async fn insert_batch(
        &self,
        visits: &[Visited],
        (key, day): (i64, i64),
    ) -> StoreResult<()> {
        let rows: Vec<EventRow<'_>> = visits.iter().map(EventRow::from).collect();
        let clicks: Vec<(i64, i64)> = clicks_per_link(visits).into_iter().collect();
        let rollup = Rollup::of(visits);
        let counts: Vec<_> = rollup
            .counts
            .iter()
            .map(|((u, b), c)| (u, b, c.humans, c.bots, c.previews, c.prefetches))
            .collect();
        let dimensions: Vec<_> = rollup
            .dimensions
            .iter()
            .map(|((u, day, dimension, value), n)| (u, day, dimension, value, n))
            .collect();
        let visitors: Vec<_> = rollup
            .visitors
            .iter()
            .map(|((u, day, visitor), b)| (u, day, visitor, b))
            .collect();
        let agents: Vec<_> = rollup
            .agents
            .iter()
            .map(|((u, day, browser, os, device), n)| (u, day, browser, os, device, n))
            .collect();
        let json = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let mut session = OneHop::on(&self.writer).await?;
        sqlx::query(INSERT_BATCH)
            .bind(serde_json::to_string(&rows).map_err(json)?)
            .bind(serde_json::to_string(&clicks).map_err(json)?)
            .bind(serde_json::to_string(&counts).map_err(json)?)
            .bind(serde_json::to_string(&dimensions).map_err(json)?)
            .bind(serde_json::to_string(&visitors).map_err(json)?)
            .bind(serde_json::to_string(&agents).map_err(json)?)
            .bind(key)
            .bind(day)
            .execute(&mut *session)
            .await
            .map_err(|e| StoreError::from_constraint(e, "click batch", "click batch"))?;
        session.commit().await
    }

    /// Adds request counts and moves last-used times forward (never back).
    pub(super) async fn add_uses(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for usage in uses {
            sqlx::query(
                "UPDATE api_keys SET request_count = request_count + $1, \
                 last_used_at = max(coalesce(last_used_at, ''), $2) WHERE id = $3",
            )
            .bind(usage.requests)
            .bind(usage.last_used_at)
            .bind(usage.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
