//! The writes PostgreSQL makes its own way, each one statement: a batch of visits' events
//! with their click counters, and a batch of key uses (creates: [`super::creates`]).

use super::PostgresStore;
use crate::domain::analytics::{ClassCounts, Rollup};
use crate::domain::{ApiKeyUse, Timestamp, VisitDetails, Visited};
use crate::store::{StoreError, StoreResult};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;

/// A batch of events and its clicks per link in one statement: the rows travel as five
/// arrays that `UNNEST` turns back into rows (a multi-row `VALUES` with thousands of
/// parameters took 150 ms per 1 000 rows in sqlx, the arrays take a few), and the counters
/// are bumped from what was inserted.
///
/// The click counters (`Rollup`) ride in the same statement: per hour by class, per day and
/// dimension or agent, and the day's visitors, whose insert returns only those not yet recorded (a
/// concurrent batch of another replica waits for the row and then skips it, so each
/// visitor counts once). Each counter row appears once per batch, in key order, so two
/// replicas' batches lock shared rows in the same order.
const INSERT_BATCH: &str = "WITH batch AS ( \
       INSERT INTO click_batches (key, day) VALUES ($27, $28) \
     ), inserted AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::timestamp[], $5::jsonb[]) \
       RETURNING url_id, event_type \
     ), counted AS ( \
       INSERT INTO link_clicks (url_id, clicks) \
       SELECT url_id, count(*) FROM inserted WHERE event_type = 'click' AND url_id IS NOT NULL GROUP BY url_id \
       ON CONFLICT (url_id) DO UPDATE SET clicks = link_clicks.clicks + excluded.clicks \
     ), dimensions AS ( \
       INSERT INTO click_dimensions (url_id, day, dimension, value, clicks) \
       SELECT * FROM UNNEST($12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bigint[]) \
       ON CONFLICT (url_id, day, dimension, value) \
       DO UPDATE SET clicks = click_dimensions.clicks + excluded.clicks \
     ), agents AS ( \
       INSERT INTO click_agents (url_id, day, browser, os, device, clicks) \
       SELECT * FROM UNNEST($21::bigint[], $22::bigint[], $23::text[], $24::text[], $25::text[], $26::bigint[]) \
       ON CONFLICT (url_id, day, browser, os, device) \
       DO UPDATE SET clicks = click_agents.clicks + excluded.clicks \
     ), fresh AS ( \
       INSERT INTO click_visitors (url_id, day, visitor, bucket) \
       SELECT * FROM UNNEST($17::bigint[], $18::bigint[], $19::text[], $20::bigint[]) \
       ON CONFLICT DO NOTHING RETURNING url_id, bucket \
     ) \
     INSERT INTO click_rollups (url_id, bucket, humans, bots, previews, prefetches, visitors) \
     SELECT r.url_id, r.bucket, r.humans, r.bots, r.previews, r.prefetches, coalesce(f.n, 0) \
     FROM UNNEST($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[]) \
          AS r(url_id, bucket, humans, bots, previews, prefetches) \
     LEFT JOIN (SELECT url_id, bucket, count(*) AS n FROM fresh GROUP BY url_id, bucket) AS f \
          ON f.url_id = r.url_id AND f.bucket = r.bucket \
     ON CONFLICT (url_id, bucket) DO UPDATE SET humans = click_rollups.humans + excluded.humans, \
       bots = click_rollups.bots + excluded.bots, previews = click_rollups.previews + excluded.previews, \
       prefetches = click_rollups.prefetches + excluded.prefetches, \
       visitors = click_rollups.visitors + excluded.visitors";

/// The use counts side by side as arrays.
const ADD_USES: &str = "UPDATE api_keys k SET request_count = k.request_count + u.requests, \
     last_used_at = GREATEST(k.last_used_at, u.used) \
     FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamp[]) AS u(id, requests, used) \
     WHERE k.id = u.id";

impl PostgresStore {
    /// Runs one statement that writes, committed (behind PgBouncer a [`super::Session`] is a
    /// transaction, which would roll back when dropped).
    async fn write(&self, statement: Query<'_, Postgres, PgArguments>) -> StoreResult<()> {
        let mut session = self.write_session().await?;
        statement.execute(&mut *session).await?;
        session.commit().await
    }

    /// A batch of visits' events, and their clicks added to the counters.
    pub(super) async fn insert_batch(
        &self,
        visits: &[Visited],
        (key, day): (i64, i64),
    ) -> StoreResult<()> {
        let url_ids: Vec<i64> = visits.iter().map(|v| v.link.id).collect();
        let user_ids: Vec<Option<i64>> = visits.iter().map(|v| v.link.user_id).collect();
        let types: Vec<&str> = visits.iter().map(Visited::event_type).collect();
        let times: Vec<Timestamp> = visits.iter().map(|v| v.at).collect();
        let details: Vec<Json<VisitDetails<'_>>> =
            visits.iter().map(|v| Json(v.details())).collect();
        let rollup = Rollup::of(visits);
        let counts = &rollup.counts;
        let column = |f: fn(&ClassCounts) -> i64| counts.values().map(f).collect::<Vec<_>>();
        let dims = &rollup.dimensions;
        let visitors = &rollup.visitors;
        let agents = &rollup.agents;
        let batch = self
            .query(INSERT_BATCH)
            .bind(&url_ids)
            .bind(&user_ids)
            .bind(&types)
            .bind(&times)
            .bind(&details)
            .bind(counts.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(counts.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(column(|c| c.humans))
            .bind(column(|c| c.bots))
            .bind(column(|c| c.previews))
            .bind(column(|c| c.prefetches))
            .bind(dims.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(dims.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(dims.keys().map(|k| k.2).collect::<Vec<_>>())
            .bind(dims.keys().map(|k| k.3.as_str()).collect::<Vec<_>>())
            .bind(dims.values().copied().collect::<Vec<_>>())
            .bind(visitors.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(visitors.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(visitors.keys().map(|k| k.2.as_str()).collect::<Vec<_>>())
            .bind(visitors.values().copied().collect::<Vec<_>>())
            .bind(agents.keys().map(|k| k.0).collect::<Vec<_>>())
            .bind(agents.keys().map(|k| k.1).collect::<Vec<_>>())
            .bind(agents.keys().map(|k| k.2.as_str()).collect::<Vec<_>>())
            .bind(agents.keys().map(|k| k.3.as_str()).collect::<Vec<_>>())
            .bind(agents.keys().map(|k| k.4).collect::<Vec<_>>())
            .bind(agents.values().copied().collect::<Vec<_>>())
            .bind(key)
            .bind(day);
        let mut session = self.write_session().await?;
        batch
            .execute(&mut *session)
            .await
            .map_err(|e| StoreError::from_constraint(e, "click batch", "click batch"))?;
        session.commit().await
    }

    /// Adds request counts and moves last-used times forward (never back).
    pub(super) async fn add_uses(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        let ids: Vec<i64> = uses.iter().map(|u| u.id).collect();
        let requests: Vec<i64> = uses.iter().map(|u| u.requests).collect();
        let used: Vec<Timestamp> = uses.iter().map(|u| u.last_used_at).collect();
        self.write(self.query(ADD_USES).bind(&ids).bind(&requests).bind(&used))
            .await
    }
}
