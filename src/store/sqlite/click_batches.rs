//! A batch of visits' events with their click counters, written SQLite's way: in one
//! transaction and one round trip to SQLite's worker thread whatever the batch size (see
//! [`OneHop`]; under load every round trip waits for the runtime: with a dozen per batch the
//! writer fell behind the redirects, see BENCHMARKS.md), under the batch's key (a retry of a
//! batch whose commit went through unanswered writes nothing twice).
//!
//! Every row is bound as parameters of multi-row `INSERT`s (each details object serialised
//! here, off the writer). The rows used to travel as JSON arrays that `json_each` and a
//! `json_extract` per column turned back into rows: with the WAL checkpoints the writer ran
//! inside its commits, that was half of the one writer's time (BENCHMARKS.md, 2026-12-01,
//! third round), and creates waited behind it.

use super::{OneHop, SqliteStore};
use crate::domain::Visited;
use crate::domain::analytics::Rollup;
use crate::store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Encode, Sqlite, Type};
use std::collections::BTreeMap;

/// SQLite's most parameters in one statement; longer lists go in several statements.
const MAX_PARAMETERS: usize = 32_766;

const EVENTS: &str = "INSERT INTO events (url_id, user_id, event_type, timestamp, details) VALUES ";
const LINK_CLICKS: (&str, &str) = (
    "INSERT INTO link_clicks (url_id, clicks) VALUES ",
    " ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks",
);
/// The hourly counts; their visitors (0 for a new row) are added as [`VISITORS`] records
/// the new ones.
const COUNTS: (&str, &str) = (
    "INSERT INTO click_rollups (url_id, bucket, humans, bots, previews, prefetches) VALUES ",
    " ON CONFLICT (url_id, bucket) DO UPDATE SET humans = humans + excluded.humans, \
      bots = bots + excluded.bots, previews = previews + excluded.previews, \
      prefetches = prefetches + excluded.prefetches",
);
/// The day's visitors of each link: a visitor not recorded before adds one to the visitors
/// of the hour of their first click (whose counts row the statement before wrote) through
/// the trigger `click_visitors_new` (migration 0008); one already recorded is skipped.
const VISITORS: (&str, &str) = (
    "INSERT INTO click_visitors (url_id, day, visitor, bucket) VALUES ",
    " ON CONFLICT DO NOTHING",
);
const DIMENSIONS: (&str, &str) = (
    "INSERT INTO click_dimensions (url_id, day, dimension, value, clicks) VALUES ",
    " ON CONFLICT (url_id, day, dimension, value) DO UPDATE SET clicks = clicks + excluded.clicks",
);
const AGENTS: (&str, &str) = (
    "INSERT INTO click_agents (url_id, day, browser, os, device, clicks) VALUES ",
    " ON CONFLICT (url_id, day, browser, os, device) DO UPDATE SET clicks = clicks + excluded.clicks",
);

impl SqliteStore {
    /// A batch of visits' events, and their clicks added to the counters, in one
    /// transaction under the batch's `key`.
    pub(super) async fn insert_batch(
        &self,
        visits: &[Visited],
        (key, day): (i64, i64),
    ) -> StoreResult<()> {
        let mut batch = Statements::default();
        batch.text.push_str("BEGIN IMMEDIATE; ");
        let batch_key = ("INSERT INTO click_batches (key, day) VALUES ", "");
        batch.rows(batch_key, &[(key, day)], |b, (key, day)| {
            b.bind(*key).bind(*day);
        });
        batch.rows((EVENTS, ""), visits, |b, visit| {
            let details = serde_json::to_string(&visit.details());
            b.bind(visit.link.id)
                .bind(visit.link.user_id)
                .bind(visit.event_type())
                .bind(visit.at)
                .bind_json(details);
        });
        let clicks: Vec<(i64, i64)> = clicks_per_link(visits).into_iter().collect();
        batch.rows(LINK_CLICKS, &clicks, |b, (url_id, n)| {
            b.bind(*url_id).bind(*n);
        });
        let rollup = Rollup::of(visits);
        let counts: Vec<_> = rollup.counts.iter().collect();
        batch.rows(COUNTS, &counts, |b, ((url_id, bucket), c)| {
            b.bind(*url_id).bind(*bucket).bind(c.humans).bind(c.bots);
            b.bind(c.previews).bind(c.prefetches);
        });
        let visitors: Vec<_> = rollup.visitors.iter().collect();
        batch.rows(
            VISITORS,
            &visitors,
            |b, ((url_id, day, visitor), bucket)| {
                b.bind(*url_id)
                    .bind(*day)
                    .bind(visitor.clone())
                    .bind(**bucket);
            },
        );
        let dimensions: Vec<_> = rollup.dimensions.iter().collect();
        batch.rows(
            DIMENSIONS,
            &dimensions,
            |b, ((url_id, day, dimension, value), n)| {
                b.bind(*url_id)
                    .bind(*day)
                    .bind(*dimension)
                    .bind(value.clone())
                    .bind(**n);
            },
        );
        let agents: Vec<_> = rollup.agents.iter().collect();
        batch.rows(
            AGENTS,
            &agents,
            |b, ((url_id, day, browser, os, device), n)| {
                b.bind(*url_id)
                    .bind(*day)
                    .bind(browser.clone())
                    .bind(os.clone());
                b.bind(*device).bind(**n);
            },
        );
        batch.text.push_str("COMMIT");
        if let Some(err) = batch.error {
            return Err(StoreError::Corrupt(err));
        }
        let mut session = OneHop::on(&self.writer).await?;
        // Each text differs (its numbers of rows): not worth a place in the statement cache.
        sqlx::query_with(AssertSqlSafe(batch.text), batch.arguments)
            .persistent(false)
            .execute(&mut *session)
            .await
            .map_err(|e| StoreError::from_constraint(e, "click batch", "click batch"))?;
        session.commit().await
    }
}

/// The text of a transaction's statements and their parameters, built together so that
/// each parameter is bound where its anonymous `?` stands (SQLite and sqlx bind them in
/// the order they appear, across statements).
#[derive(Default)]
struct Statements {
    text: String,
    arguments: SqliteArguments,
    /// Parameters bound for the row being written.
    in_row: usize,
    /// The first value that could not be bound: the batch is not written.
    error: Option<String>,
}

impl Statements {
    /// One parameter of the current row.
    fn bind<T: Encode<'static, Sqlite> + Type<Sqlite> + 'static>(&mut self, value: T) -> &mut Self {
        if let Err(err) = self.arguments.add(value) {
            self.error.get_or_insert(err.to_string());
        }
        self.in_row += 1;
        self
    }

    /// A JSON text as one parameter, or the reason there is none.
    fn bind_json(&mut self, json: serde_json::Result<String>) -> &mut Self {
        match json {
            Ok(text) => self.bind(text),
            Err(err) => {
                self.error.get_or_insert(err.to_string());
                self.bind(None::<String>)
            }
        }
    }

    /// `rows` as the `VALUES` of `head … tail`, in as many statements as SQLite's limit on
    /// parameters needs; `bind` binds one row's parameters (the same number for every row).
    fn rows<T>(
        &mut self,
        (head, tail): (&str, &str),
        rows: &[T],
        mut bind: impl FnMut(&mut Self, &T),
    ) {
        let mut per_statement = rows.len();
        let mut written = 0;
        for (i, row) in rows.iter().enumerate() {
            self.text.push_str(if written == 0 { head } else { ", " });
            self.in_row = 0;
            bind(self, row);
            self.text.push('(');
            for n in 0..self.in_row {
                self.text.push_str(if n == 0 { "?" } else { ", ?" });
            }
            self.text.push(')');
            if i == 0 {
                per_statement = MAX_PARAMETERS / self.in_row.max(1);
            }
            written += 1;
            if written == per_statement || i + 1 == rows.len() {
                self.text.push_str(tail);
                self.text.push_str("; ");
                written = 0;
            }
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
