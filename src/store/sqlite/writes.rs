//! The writes SQLite makes its own way: a url's `created` event after it, a batch of visits'
//! events with their click counters, and a batch of key uses.

use super::{OneHop, SqliteStore};
use crate::domain::{ApiKeyUse, Timestamp, VisitDetails, Visited};
use crate::store::{StoreError, StoreResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// A batch of events and its clicks per link, in one transaction and one round trip to
/// SQLite's worker thread whatever the batch size (see [`OneHop`]; under load every round
/// trip waits for the runtime: with a dozen per batch the writer fell behind the redirects,
/// see BENCHMARKS.md). The events travel as
/// a JSON array that `json_each` turns back into rows, in order; the clicks per link as a
/// second, small one, counted here rather than by parsing the first array again.
const INSERT_BATCH: &str = "\
    BEGIN IMMEDIATE; \
    INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
    SELECT json_extract(value, '$.u'), json_extract(value, '$.s'), json_extract(value, '$.t'), \
           json_extract(value, '$.ts'), json_extract(value, '$.d') \
    FROM json_each($1) ORDER BY key; \
    INSERT INTO link_clicks (url_id, clicks) \
    SELECT value ->> 0, value ->> 1 FROM json_each($2) WHERE true \
    ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks; \
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
    pub(super) async fn insert_batch(&self, visits: &[Visited]) -> StoreResult<()> {
        let rows: Vec<EventRow<'_>> = visits.iter().map(EventRow::from).collect();
        let clicks: Vec<(i64, i64)> = clicks_per_link(visits).into_iter().collect();
        let (batch, clicks) = serde_json::to_string(&rows)
            .and_then(|rows| Ok((rows, serde_json::to_string(&clicks)?)))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut session = OneHop::on(&self.writer).await?;
        sqlx::query(INSERT_BATCH)
            .bind(batch)
            .bind(clicks)
            .execute(&mut *session)
            .await?;
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
