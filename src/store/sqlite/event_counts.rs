//! The number of events, in all and of each type, kept in `row_counts` (migration 0011):
//! what a list of all events, or of one type, reads as its total instead of counting the
//! table, which grows with it (at 1,000,000 events 1–7 ms a page, 49–72 ms of the clicks
//! alone; BENCHMARKS.md, twenty-second round).
//!
//! The writes that add or remove events keep the counts in their own transactions, not row
//! triggers as the urls' count: a trigger on `events` costs the one writer 0.7 µs a click
//! even when its `WHEN` skips the row, against 1.3 µs for the insert itself. Every such
//! write goes through here:
//! - a click batch adds its counts in one statement ([`ADD_VISITS`]);
//! - a batch of creates, the `created` events it wrote ([`add_created`]);
//! - one event, in the statement that appends it ([`INSERT_COUNTED`]);
//! - retention's removal of clicks ([`SqliteStore::events_added`]);
//! - an import, a clear or a move counts the table again ([`SqliteStore::events_recounted`]).
//!
//! A release from before these counts writes events without counting them: after a rollback
//! to one and back, a store that serves finds the counts off and counts again ([`start_check`]).
//!
//! A list reads the rows in its own snapshot, so its total is what `count(*)` would say.
//! Should a row be missing, the read counts the table after all.

use super::{Pool, SqliteStore};
use crate::store::filter::Kept;
use crate::store::sql::acquired;
use crate::store::{StoreResult, retry};
use sqlx::SqliteConnection;
use std::collections::BTreeMap;

/// The number of events, for a list without filters.
pub const TOTAL: &str = "SELECT coalesce((SELECT n FROM row_counts WHERE name = 'events'), \
     (SELECT count(*) FROM events))";

/// The number of events of one type, for a list filtered by type alone (a type never
/// counted has no row: counted then, through the index by type).
pub static BY_TYPE: Kept = Kept {
    count: &[
        "SELECT coalesce((SELECT n FROM row_counts WHERE name = 'events:' || ",
        "), (SELECT count(*) FROM events WHERE event_type = ",
        "))",
    ],
};

/// A click batch's events: all of them, its clicks, its blocked visits (anonymous
/// parameters, in the order of the batch's text: the total, then each type and its number).
pub const ADD_VISITS: &str = "INSERT INTO row_counts (name, n) \
     VALUES ('events', ?), ('events:' || ?, ?), ('events:' || ?, ?) \
     ON CONFLICT (name) DO UPDATE SET n = n + excluded.n";

/// A batch of creates' events, `$1` the JSON array of them (each its type as `e`): a macro,
/// so that the batch's own text takes it in with `concat!`.
macro_rules! add_created {
    () => {
        "INSERT INTO row_counts (name, n) \
         SELECT name, n FROM (SELECT 'events' AS name, json_array_length($1) AS n \
           UNION ALL SELECT 'events:' || (value ->> 'e'), count(*) FROM json_each($1) GROUP BY 1) \
         WHERE true \
         ON CONFLICT (name) DO UPDATE SET n = n + excluded.n"
    };
}
pub(super) use add_created;

/// One event appended and counted, in one trip: [`crate::store::sql::events::INSERT`] with
/// its parameters (`$3` its type), the count first so that the row the text returns is the
/// event's id.
pub const INSERT_COUNTED: &str = concat!(
    "INSERT INTO row_counts (name, n) VALUES ('events', 1), ('events:' || $3, 1) \
     ON CONFLICT (name) DO UPDATE SET n = n + excluded.n; ",
    crate::store::sql::events::insert!()
);

/// `$1` events of the type `$2` added (removed, when negative).
const ADD: &str = "INSERT INTO row_counts (name, n) VALUES ('events', $1), ('events:' || $2, $1) \
     ON CONFLICT (name) DO UPDATE SET n = n + excluded.n";

/// The events the table holds of each type, and in all as their sum: one read of the index
/// by type (SQLite keeps a common table read twice), where a `count(*)` beside it read the
/// table's smallest index again (a fifth to a third longer at 2,000,000 events).
macro_rules! held {
    () => {
        "WITH held AS (SELECT 'events:' || event_type AS name, count(*) AS n FROM events GROUP BY event_type) "
    };
}

/// Every count of events made again from the table.
const RECOUNT: [&str; 2] = [
    "DELETE FROM row_counts WHERE name = 'events' OR (name >= 'events:' AND name < 'events;')",
    concat!(
        held!(),
        "INSERT INTO row_counts (name, n) SELECT 'events', coalesce(sum(n), 0) FROM held \
         UNION ALL SELECT name, n FROM held"
    ),
];

/// The counts kept (`1`) and the counts the table holds (`0`), in one snapshot.
const KEPT_AND_HELD: &str = concat!(
    held!(),
    "SELECT 1, name, n FROM row_counts WHERE name = 'events' OR (name >= 'events:' AND name < 'events;') \
     UNION ALL SELECT 0, 'events', coalesce(sum(n), 0) FROM held \
     UNION ALL SELECT 0, name, n FROM held"
);

async fn recount(conn: &mut SqliteConnection) -> StoreResult<()> {
    for statement in RECOUNT {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Compares the counts with the table once, beside the requests of a store that serves, and
/// counts again if they differ (see the module's documentation). The comparison reads every
/// event's type once, on a reader; only a difference takes the writer.
pub fn start_check(readers: Pool, writer: Pool) {
    tokio::spawn(async move {
        match check(&readers, &writer).await {
            Ok(false) => {}
            Ok(true) => tracing::warn!(
                "the events' counts were not what the table holds (events written by an \
                 earlier release?): counted again"
            ),
            Err(err) => tracing::warn!(error = %err, "checking the events' counts failed"),
        }
    });
}

/// Whether the counts were off, and counted again; tried again as any write is while the
/// store is briefly away (a count left off stays off until the next start).
async fn check(readers: &Pool, writer: &Pool) -> StoreResult<bool> {
    retry::write("check_event_counts", || {
        compare_and_recount(readers, writer)
    })
    .await
}

async fn compare_and_recount(readers: &Pool, writer: &Pool) -> StoreResult<bool> {
    let rows: Vec<(bool, String, i64)> = sqlx::query_as(KEPT_AND_HELD)
        .fetch_all(&mut *acquired("sqlite_readers", readers.acquire()).await?)
        .await?;
    // A type whose events are all gone keeps its row at 0.
    let (kept, held): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        rows.iter()
            .filter(|(kept, _, n)| *kept && *n != 0)
            .map(|(_, name, n)| (name, n))
            .collect(),
        rows.iter()
            .filter(|(kept, _, n)| !*kept && *n != 0)
            .map(|(_, name, n)| (name, n))
            .collect(),
    );
    if kept == held {
        return Ok(false);
    }
    // Counted again in the writer's own transaction: exact, whatever was written since.
    let mut tx = acquired("sqlite_writer", writer.begin()).await?;
    recount(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

impl SqliteStore {
    /// `n` events of `event_type` written in this transaction (removed, when negative).
    pub(super) async fn events_added(
        &self,
        conn: &mut SqliteConnection,
        event_type: &str,
        n: i64,
    ) -> StoreResult<()> {
        if n != 0 {
            sqlx::query(ADD)
                .bind(n)
                .bind(event_type)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// The events' counts made again, after a write that did not count what it changed
    /// (an import, which may replace events; a clear; a move's pages of rows).
    pub(super) async fn events_recounted(&self, conn: &mut SqliteConnection) -> StoreResult<()> {
        recount(conn).await
    }
}
