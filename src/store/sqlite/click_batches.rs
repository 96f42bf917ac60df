//! A batch of visits' events with their click counters and the count of its events
//! ([`event_counts`]), written SQLite's way: each
//! transaction in one round trip to SQLite's worker thread (see [`OneHop`]; under load every
//! round trip waits for the runtime: with a dozen per batch the writer fell behind the
//! redirects, see BENCHMARKS.md), under a key (a retry of a batch whose commit went through
//! unanswered writes nothing twice).
//!
//! Every row is bound as a parameter of a multi-row `VALUES` (each details object serialised
//! here, off the writer), and the text of a transaction is one of eleven, compiled once per
//! connection and kept: up to [`MOST`] visits go in one transaction whose every list of rows
//! is padded to its size class with rows of `NULL`s, which the `WHERE` leaves out. A text
//! made to the batch's own numbers of rows was compiled anew for every batch: SQLite spent
//! more time parsing and generating the program of a row of `VALUES` than running it, and
//! allocating those programs (megabytes a batch, zeroed by the kernel each time) was a
//! quarter of the one writer's time (BENCHMARKS.md, 2026-12-01, fourth round).

use super::{OneHop, SqliteStore, event_counts};
use crate::domain::analytics::Rollup;
use crate::domain::{Visited, event_type};
use crate::store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Encode, Sqlite, Type};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

/// Most visits in one transaction: what a create may wait behind on the one writer. 1,024
/// against 2,048: the quest's p99 at 500 connections a third lower, creates' median about
/// halved, the cost per click within the noise (BENCHMARKS.md, ninth round; 512 cost more
/// per click, fourth round). Every list of rows of so many visits fits one statement: the
/// longest, the dimensions (three a visit), is 3,072 rows of 5 parameters, under SQLite's
/// limit of 32,766 a statement. A larger batch is written in several transactions, each
/// under a key of its own (the batch's key plus its place: keys are random, so another
/// batch takes one of these about as often as it took the batch's own key before), and
/// creates in flight go first between them.
const MOST: usize = 1024;

/// How long a transaction of clicks lets creates in flight go first, at most (see
/// [`crate::store::creates::Creates::first`]): about what one of [`MOST`] clicks holds the writer.
const CREATES_FIRST_FOR: Duration = Duration::from_millis(25);

/// The size classes of a transaction: class `k` holds up to `2^k` visits, every power of
/// two up to [`MOST`]. Its rows are padded to its class's, so that a text is compiled once
/// per class, and no transaction binds more than twice its own rows (with one class of 64
/// visits, the few clicks of a quiet time cost a third more instructions a redirect;
/// BENCHMARKS.md).
const CLASSES: usize = MOST.trailing_zeros() as usize + 1;

/// The class of a transaction of `visits` visits (at least one).
fn class_of(visits: usize) -> usize {
    visits.next_power_of_two().trailing_zeros() as usize
}

/// The rows a transaction writes into one table: `INSERT INTO {into} SELECT column1, …
/// FROM (VALUES …) WHERE column{present} IS NOT NULL{then}`, with `per_visit` rows a visit
/// at most; `present` is a column never `NULL` in a real row.
struct Table {
    into: &'static str,
    columns: usize,
    present: usize,
    then: &'static str,
    per_visit: usize,
}

/// The tables in the order a transaction writes them, and its parameters are bound.
const EVENTS: Table = Table {
    into: "events (url_id, user_id, event_type, timestamp, details)",
    columns: 5,
    present: 3,
    then: "",
    per_visit: 1,
};
const LINK_CLICKS: Table = Table {
    into: "link_clicks (url_id, clicks)",
    columns: 2,
    present: 1,
    then: " ON CONFLICT (url_id) DO UPDATE SET clicks = clicks + excluded.clicks",
    per_visit: 1,
};
/// The hourly counts; their visitors (0 for a new row) are added as [`VISITORS`] records
/// the new ones.
const COUNTS: Table = Table {
    into: "click_rollups (url_id, bucket, humans, bots, previews, prefetches)",
    columns: 6,
    present: 1,
    then: " ON CONFLICT (url_id, bucket) DO UPDATE SET humans = humans + excluded.humans, \
      bots = bots + excluded.bots, previews = previews + excluded.previews, \
      prefetches = prefetches + excluded.prefetches",
    per_visit: 1,
};
/// The day's visitors of each link: a visitor not recorded before adds one to the visitors
/// of the hour of their first click (whose counts row the statement before wrote) through
/// the trigger `click_visitors_new` (migration 0008); one already recorded is skipped.
const VISITORS: Table = Table {
    into: "click_visitors (url_id, day, visitor, bucket)",
    columns: 4,
    present: 1,
    then: " ON CONFLICT DO NOTHING",
    per_visit: 1,
};
const DIMENSIONS: Table = Table {
    into: "click_dimensions (url_id, day, dimension, value, clicks)",
    columns: 5,
    present: 1,
    then: " ON CONFLICT (url_id, day, dimension, value) DO UPDATE SET clicks = clicks + excluded.clicks",
    per_visit: 3,
};
const AGENTS: Table = Table {
    into: "click_agents (url_id, day, browser, os, device, clicks)",
    columns: 6,
    present: 1,
    then: " ON CONFLICT (url_id, day, browser, os, device) DO UPDATE SET clicks = clicks + excluded.clicks",
    per_visit: 1,
};
const TABLES: [&Table; 6] = [
    &EVENTS,
    &LINK_CLICKS,
    &COUNTS,
    &VISITORS,
    &DIMENSIONS,
    &AGENTS,
];

/// The text of a transaction of each size class.
static TRANSACTIONS: LazyLock<[String; CLASSES]> =
    LazyLock::new(|| std::array::from_fn(|class| transaction(1 << class)));

/// The text of a transaction of up to `visits` visits: its key, every table's rows, then
/// the count of its events.
fn transaction(visits: usize) -> String {
    let mut text =
        String::from("BEGIN IMMEDIATE; INSERT INTO click_batches (key, day) VALUES (?, ?); ");
    for table in TABLES {
        let columns: Vec<String> = (1..=table.columns).map(|n| format!("column{n}")).collect();
        let row = format!("({})", vec!["?"; table.columns].join(", "));
        let rows = vec![row; visits * table.per_visit].join(", ");
        text.push_str(&format!(
            "INSERT INTO {} SELECT {} FROM (VALUES {rows}) WHERE column{} IS NOT NULL{}; ",
            table.into,
            columns.join(", "),
            table.present,
            table.then
        ));
    }
    text.push_str(event_counts::ADD_VISITS);
    text.push_str("; COMMIT");
    text
}

impl SqliteStore {
    /// A batch of visits' events, and their clicks added to the counters, under the batch's
    /// `key`: one transaction for each [`MOST`] visits.
    pub(super) async fn insert_batch(
        &self,
        visits: &[Visited],
        (key, day): (i64, i64),
    ) -> StoreResult<()> {
        for (part, visits) in visits.chunks(MOST).enumerate() {
            let class = class_of(visits.len());
            let Some(text) = TRANSACTIONS.get(class) else {
                return Err(StoreError::Corrupt(
                    "a click batch part beyond its size".into(),
                ));
            };
            let bound = bind(visits, (key.wrapping_add(part as i64), day), 1 << class)?;
            self.creates.first(CREATES_FIRST_FOR).await;
            let mut session = OneHop::on(&self.writer).await?;
            let written = sqlx::query_with(AssertSqlSafe(text.as_str()), bound)
                .persistent(true)
                .execute(&mut *session)
                .await;
            match written.map_err(|e| StoreError::from_constraint(e, "click batch", "click batch"))
            {
                Ok(_) => session.commit().await?,
                // Written by an earlier try whose answer was lost; the next part may not be.
                Err(StoreError::Conflict(_)) => {
                    tracing::info!(
                        key,
                        part,
                        "a retried click batch's part was already written"
                    );
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// The parameters of a transaction of `visits` (at most `size`) under `key`, in the order of
/// [`transaction`]'s text.
fn bind(visits: &[Visited], (key, day): (i64, i64), size: usize) -> StoreResult<SqliteArguments> {
    let mut bound = Bound::default();
    bound.bind(key).bind(day);
    bound.rows(&EVENTS, size, visits, |b, visit| {
        let details = serde_json::to_string(&visit.details());
        b.bind(visit.link.id)
            .bind(visit.link.user_id)
            .bind(visit.event_type())
            .bind(visit.at)
            .bind_json(details);
    });
    let clicks: Vec<(i64, i64)> = clicks_per_link(visits).into_iter().collect();
    bound.rows(&LINK_CLICKS, size, &clicks, |b, (url_id, n)| {
        b.bind(*url_id).bind(*n);
    });
    let rollup = Rollup::of(visits);
    let counts: Vec<_> = rollup.counts.iter().collect();
    bound.rows(&COUNTS, size, &counts, |b, ((url_id, bucket), c)| {
        b.bind(*url_id).bind(*bucket).bind(c.humans).bind(c.bots);
        b.bind(c.previews).bind(c.prefetches);
    });
    let visitors: Vec<_> = rollup.visitors.iter().collect();
    bound.rows(
        &VISITORS,
        size,
        &visitors,
        |b, ((url_id, day, visitor), bucket)| {
            b.bind(*url_id)
                .bind(*day)
                .bind(visitor.clone())
                .bind(**bucket);
        },
    );
    let dimensions: Vec<_> = rollup.dimensions.iter().collect();
    bound.rows(
        &DIMENSIONS,
        size,
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
    bound.rows(
        &AGENTS,
        size,
        &agents,
        |b, ((url_id, day, browser, os, device), n)| {
            b.bind(*url_id)
                .bind(*day)
                .bind(browser.clone())
                .bind(os.clone());
            b.bind(*device).bind(**n);
        },
    );
    let blocked = visits.iter().filter(|v| v.blocked.is_some()).count() as i64;
    bound.bind(visits.len() as i64);
    bound
        .bind(event_type::CLICK)
        .bind(visits.len() as i64 - blocked);
    bound.bind(event_type::BLOCKED).bind(blocked);
    match bound.error {
        Some(err) => Err(StoreError::Corrupt(err)),
        None => Ok(bound.arguments),
    }
}

/// A transaction's parameters, bound in the order their anonymous `?` stand in its text
/// (SQLite and sqlx bind them so, across statements).
#[derive(Default)]
struct Bound {
    arguments: SqliteArguments,
    /// Parameters bound for the row being written.
    in_row: usize,
    /// The first value that could not be bound: the batch is not written.
    error: Option<String>,
}

impl Bound {
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

    /// `rows` as `table`'s rows in a transaction of `size` visits (`bind` binds one row's
    /// parameters), then as many rows of `NULL`s as it has room for.
    fn rows<T>(
        &mut self,
        table: &Table,
        size: usize,
        rows: &[T],
        mut bind: impl FnMut(&mut Self, &T),
    ) {
        let room = size * table.per_visit;
        if rows.len() > room {
            self.error.get_or_insert(format!(
                "{} rows for {} in a transaction of {size} visits",
                rows.len(),
                table.into
            ));
            return;
        }
        for row in rows {
            self.in_row = 0;
            bind(self, row);
            if self.in_row != table.columns {
                self.error
                    .get_or_insert(format!("{} values in a row of {}", self.in_row, table.into));
            }
        }
        for _ in 0..(room - rows.len()) * table.columns {
            self.bind(None::<i64>);
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

#[cfg(test)]
mod tests {
    use super::{CLASSES, MOST, class_of};

    #[test]
    fn a_transaction_takes_the_smallest_class_that_holds_its_visits() {
        for visits in 1..=MOST {
            let size = 1 << class_of(visits);
            assert!(visits <= size, "{visits} visits fit their class");
            assert!(
                visits * 2 > size,
                "{visits} visits: no smaller class holds them"
            );
        }
        assert_eq!(class_of(MOST), CLASSES - 1, "the largest class holds MOST");
    }
}
