//! The events' indexes by link and by user, in a file of their own beside the database
//! (`kurz.db-index` beside `kurz.db`), filled by an indexer of their own.
//!
//! Why: every click used to go into two B-tree indexes of `events` at random places, and
//! those inserts were most of what a click batch cost the one SQLite writer; every create
//! waited behind them (BENCHMARKS.md, fifteenth round: without the two indexes the quest's
//! p99 halved). In a file of their own they have a write lock of their own: the indexer
//! adds a batch of events at a time, sorted by key, and the writer touches only the end of
//! `events` and the click counters.
//!
//! Reads stay exact. A read filtered by link or user takes the indexed events plus every
//! event above the last one indexed (`upto`), and checks the filter on the event itself.
//! - On SQLite event ids only grow in commit order (`AUTOINCREMENT`, one writer at a time),
//!   so what is above `upto` is all that is not yet indexed. Imports (and restores, which
//!   import) give events ids of their own: each draws a new `generation` in the database,
//!   in its own transaction (`SqliteStore::lock_for_import`), and the index is read only
//!   while it was built for the database's generation; otherwise a read scans the events,
//!   and the indexer starts the index again.
//! - Within a generation entries are only added, so a read that sees the index older than
//!   the events scans a little more, and one that sees it newer finds entries of events it
//!   cannot see yet, which the check drops. Entries of events removed since (retention) are
//!   dropped by the same check, and swept out a slice at a time.
//! - Counting a link's events (the total of a list filtered by link alone) looks no event
//!   up where none can have been removed: retention records the bound of the ids it has
//!   looked at (`forgotten_below`), entries at or above it are counted from the index alone
//!   (up to the newest event the read sees), and those below it are checked one by one.
//!   A page of them reads the index in order only as far as it needs (plus the entries
//!   below that bound), never the link's whole list of entries.
//! - One window is left: a read whose view of the database predates a retention pass, and
//!   whose view of the index follows that pass's sweep, misses the events being removed.
//!
//! The file is derived: missing or unreadable, it is made again from the events; so is a
//! file ahead of the database (its last commits lost, or an older copy put in its place),
//! found when the store is migrated, before it is read ([`check`]). Only a store that serves
//! runs the indexer (`Schema::start_upkeep`); one opened for a command, or as the source of
//! a copy, reads exactly without it.

use super::{Pool, files};
use crate::store::filter::Lookup;
use crate::store::{StoreError, StoreResult};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often the indexer looks for new events (at once again while it is behind). Seldom
/// enough for its batches to be large (a page of the index is written once per batch for
/// all the entries it takes), often enough that a read scans only a second's events.
const EVERY: Duration = Duration::from_secs(1);
/// Most events indexed in one transaction of the indexer.
const BATCH: i64 = 20_000;
/// Entries checked for a removed event per sweep, per index (every event's lookup costs
/// CPU the requests share, and stale entries cost only space: reads check every event).
const SWEEP: i64 = 20_000;
/// How often a slice of each index is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Whether the index was built for the events the database has (an import draws a new
/// generation: until the indexer has started again, reads scan the events).
macro_rules! current {
    () => {
        "(SELECT generation FROM kurz_index.indexed) = (SELECT generation FROM event_marks)"
    };
}

/// The condition on an event and the count of the events with `column = ?`, read through
/// the index `table` of the index file.
///
/// A row: one of the indexed events or above the index's mark, the filter checked on the
/// event itself. The count: without looking each event up where nothing can have been
/// removed (ids at or above `forgotten_below`, the bound of what retention has looked at,
/// and at most the newest event this read sees), each one looked up below it, plus those
/// above the mark.
macro_rules! lookup {
    ($table:literal, $column:literal) => {
        Lookup {
            rows: &[
                concat!($column, " = "),
                concat!(" AND id IN (SELECT event_id FROM kurz_index.", $table, " WHERE ", $column, " = "),
                concat!(" AND ", current!(), " UNION ALL SELECT id FROM events WHERE ", $column, " = "),
                concat!(
                    " AND id > (SELECT CASE WHEN ", current!(),
                    " THEN (SELECT upto FROM kurz_index.indexed) ELSE 0 END))"
                ),
            ],
            count: &[
                concat!(
                    "SELECT CASE WHEN ", current!(), " THEN (SELECT count(*) FROM kurz_index.", $table,
                    " WHERE ", $column, " = "
                ),
                concat!(
                    " AND event_id >= (SELECT forgotten_below FROM event_marks) AND event_id <= min(\
                     (SELECT upto FROM kurz_index.indexed), (SELECT coalesce(max(id), 0) FROM events))) \
                     + (SELECT count(*) FROM events WHERE ", $column, " = "
                ),
                concat!(" AND id IN (SELECT event_id FROM kurz_index.", $table, " WHERE ", $column, " = "),
                concat!(
                    " AND event_id < (SELECT forgotten_below FROM event_marks))) \
                     + (SELECT count(*) FROM events WHERE ", $column, " = "
                ),
                concat!(
                    " AND id > (SELECT upto FROM kurz_index.indexed)) \
                     ELSE (SELECT count(*) FROM events WHERE ", $column, " = "
                ),
                ") END",
            ],
            // The first entries in id order, as many as the page needs plus those below
            // `forgotten_below` (each may name a removed event), then the events above the mark.
            first: (
                &[
                    concat!($column, " = "),
                    concat!(
                        " AND id IN (SELECT event_id FROM (SELECT event_id FROM kurz_index.", $table,
                        " WHERE ", $column, " = "
                    ),
                    concat!(" AND ", current!(), " ORDER BY event_id LIMIT "),
                ],
                &[
                    concat!(" + (SELECT count(*) FROM kurz_index.", $table, " WHERE ", $column, " = "),
                    concat!(
                        " AND event_id < (SELECT forgotten_below FROM event_marks))) \
                         UNION ALL SELECT id FROM events WHERE ", $column, " = "
                    ),
                    concat!(
                        " AND id > (SELECT CASE WHEN ", current!(),
                        " THEN (SELECT upto FROM kurz_index.indexed) ELSE 0 END))"
                    ),
                ],
            ),
        }
    };
}

/// Events by link.
pub const BY_URL: Lookup = lookup!("events_by_url", "url_id");
/// Events by user.
pub const BY_USER: Lookup = lookup!("events_by_user", "user_id");

/// What every connection that reads events runs first: the index file attached.
pub fn attach(database: &Path) -> StoreResult<Arc<str>> {
    let path = files::index(database);
    let Some(path) = path.to_str() else {
        return Err(StoreError::Other(sqlx::Error::Configuration(
            format!("the database's path is not UTF-8: {}", database.display()).into(),
        )));
    };
    Ok(format!(
        "ATTACH DATABASE '{}' AS kurz_index;",
        path.replace('\'', "''")
    )
    .into())
}

/// The indexer's own set-up: the file attached, and its tables made if missing. Nothing here
/// writes to a file that has its tables (`CREATE TABLE IF NOT EXISTS` then takes no lock): a
/// command opened beside the service must not wait for the service's indexer to let go of
/// the file's write lock. Until [`pass`] records its first pass in `indexed`, reads find no
/// mark and scan the events.
fn set_up(database: &Path) -> StoreResult<Arc<str>> {
    Ok(format!(
        "{}
         PRAGMA kurz_index.journal_mode = WAL;
         PRAGMA kurz_index.synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS kurz_index.events_by_url (
             url_id INTEGER NOT NULL, event_id INTEGER NOT NULL,
             PRIMARY KEY (url_id, event_id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS kurz_index.events_by_user (
             user_id INTEGER NOT NULL, event_id INTEGER NOT NULL,
             PRIMARY KEY (user_id, event_id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS kurz_index.indexed (generation INTEGER, upto INTEGER NOT NULL);",
        attach(database)?
    )
    .into())
}

/// The indexer's connection, the index file made if missing; an unreadable one is removed
/// and made again (it holds nothing the events do not).
pub async fn open(
    database: &Path,
    options: sqlx::sqlite::SqliteConnectOptions,
    busy_timeout: Duration,
) -> StoreResult<Pool> {
    let indexer = Pool::set_up(options.clone(), Some(set_up(database)?), 1, busy_timeout)?;
    match indexer.acquire().await {
        Ok(connection) => drop(connection),
        // Only a file SQLite cannot read is made again: one busy with another process (a
        // command beside the service) is in use, not damaged.
        Err(err)
            if sqlite_code(&err).is_some_and(|code| code == NOT_A_DATABASE || code == CORRUPT) =>
        {
            tracing::warn!(error = %err, "the events' index file is unreadable; making it again");
            indexer.close().await;
            for file in files::derived(database) {
                let _ = std::fs::remove_file(file);
            }
            let indexer = Pool::set_up(options, Some(set_up(database)?), 1, busy_timeout)?;
            drop(indexer.acquire().await?);
            return Ok(indexer);
        }
        Err(err) => return Err(err.into()),
    }
    Ok(indexer)
}

/// SQLite's primary result codes kurz tells apart here.
const CORRUPT: i64 = 11;
const NOT_A_DATABASE: i64 = 26;
const BUSY: i64 = 5;

/// The primary SQLite result code of `err`, if the database gave one.
fn sqlite_code(err: &sqlx::Error) -> Option<i64> {
    let code = err.as_database_error()?.code()?.parse::<i64>().ok()?;
    Some(code & 0xff)
}

/// Whether `err` is another process's indexer holding the index file (the service, beside
/// a command): left to it, not a failure.
fn busy(err: &StoreError) -> bool {
    matches!(err, StoreError::Other(err) | StoreError::Unavailable(err) if sqlite_code(err) == Some(BUSY))
}

/// Before the store is read: an index file ahead of the database, or built for events
/// since renumbered (see [`pass`]), is started again; nothing is indexed. Another process's
/// indexer at work (the service, beside a command) is left to it.
pub async fn check(indexer: &Pool) -> StoreResult<()> {
    match pass(indexer, &mut Sweep::default(), 0).await {
        Err(err) if busy(&err) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Indexes new events on `indexer` until it is closed.
pub fn start(indexer: Pool) {
    tokio::spawn(async move {
        let mut swept = Sweep::default();
        loop {
            match pass(&indexer, &mut swept, BATCH).await {
                Ok(indexed) if indexed == BATCH => continue,
                Ok(_) => {}
                Err(err) if busy(&err) => {
                    tracing::debug!(error = %err, "another process is indexing the events");
                }
                Err(err) if indexer.is_closed() => {
                    tracing::debug!(error = %err, "the events' indexer stopped with the store");
                    return;
                }
                Err(err) => tracing::warn!(error = %err, "indexing events failed; retried shortly"),
            }
            tokio::time::sleep(EVERY).await;
            if indexer.is_closed() {
                return;
            }
        }
    });
}

/// Where the sweep for entries of removed events goes on, per index, and when it last did.
#[derive(Default)]
struct Sweep {
    by_url: (i64, i64),
    by_user: (i64, i64),
    last: Option<std::time::Instant>,
}

/// One transaction of the indexer: the index started again if the events were imported
/// since it was built, the next `batch` events indexed, a slice swept. How many events it
/// indexed.
async fn pass(indexer: &Pool, swept: &mut Sweep, batch: i64) -> StoreResult<i64> {
    let mut tx = indexer.begin().await?;
    // The index file first: each file's snapshot is taken when it is first read, so the
    // database's is the later one and holds every event the index names. Read the other
    // way round, a command beside the service could take the service's latest pass for an
    // index ahead of the database, and start it again for nothing.
    let (built, mut upto): (Option<i64>, i64) =
        sqlx::query_as("SELECT generation, upto FROM kurz_index.indexed")
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or((None, 0));
    let (generation,): (i64,) = sqlx::query_as("SELECT generation FROM event_marks")
        .fetch_one(&mut *tx)
        .await?;
    let newest: i64 = sqlx::query_scalar(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
    )
    .fetch_one(&mut *tx)
    .await?;
    // Ahead of the database: its last commits were lost (a crash of the machine loses what
    // one file synced and the other did not) or a copy of it was put in its place. The ids
    // above `newest` will be handed out again, to other events.
    let ahead = built == Some(generation) && upto > newest;
    if ahead {
        tracing::warn!(
            indexed = upto,
            newest,
            "the events' index file is ahead of the database; making it again"
        );
    }
    let reset = built != Some(generation) || ahead;
    if reset {
        if built.is_some() && !ahead {
            tracing::info!("the events were imported: their index is made again");
        }
        for table in [
            "DELETE FROM kurz_index.events_by_url",
            "DELETE FROM kurz_index.events_by_user",
        ] {
            sqlx::query(table).execute(&mut *tx).await?;
        }
        upto = 0;
        *swept = Sweep::default();
    }
    let (last, indexed): (Option<i64>, i64) = sqlx::query_as(
        "SELECT max(id), count(*) FROM (SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2)",
    )
    .bind(upto)
    .bind(batch)
    .fetch_one(&mut *tx)
    .await?;
    let moved = reset || last.is_some();
    if let Some(last) = last {
        for insert in [
            "INSERT OR IGNORE INTO kurz_index.events_by_url (url_id, event_id) SELECT url_id, id \
             FROM events WHERE id > $1 AND id <= $2 AND url_id IS NOT NULL ORDER BY url_id, id",
            "INSERT OR IGNORE INTO kurz_index.events_by_user (user_id, event_id) SELECT user_id, id \
             FROM events WHERE id > $1 AND id <= $2 AND user_id IS NOT NULL ORDER BY user_id, id",
        ] {
            sqlx::query(insert)
                .bind(upto)
                .bind(last)
                .execute(&mut *tx)
                .await?;
        }
        upto = last;
    }
    if moved {
        sqlx::query(
            "DELETE FROM kurz_index.indexed; \
             INSERT INTO kurz_index.indexed (generation, upto) VALUES ($1, $2)",
        )
        .bind(generation)
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    }
    if batch > 0 && swept.last.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
        swept.by_url = sweep(&mut tx, "events_by_url", "url_id", swept.by_url).await?;
        swept.by_user = sweep(&mut tx, "events_by_user", "user_id", swept.by_user).await?;
        swept.last = Some(std::time::Instant::now());
    }
    tx.commit().await?;
    metrics::gauge!("kurz_sqlite_events_index_lag").set(newest.saturating_sub(upto) as f64);
    Ok(indexed)
}

/// Removes the entries of events that are gone among the next [`SWEEP`] entries of `table`
/// after `from`; where the next sweep starts (the beginning, once past the last entry).
async fn sweep(
    tx: &mut super::Transaction,
    table: &str,
    key: &str,
    from: (i64, i64),
) -> StoreResult<(i64, i64)> {
    let slice = format!(
        "SELECT {key}, event_id FROM kurz_index.{table} WHERE ({key}, event_id) > ($1, $2) \
         ORDER BY {key}, event_id LIMIT $3"
    );
    let delete = format!(
        "DELETE FROM kurz_index.{table} WHERE ({key}, event_id) IN ({slice}) \
         AND NOT EXISTS (SELECT 1 FROM events WHERE events.id = event_id)"
    );
    let end: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM ({slice}) ORDER BY 1 DESC, 2 DESC LIMIT 1"
    )))
    .bind(from.0)
    .bind(from.1)
    .bind(SWEEP)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(delete))
        .bind(from.0)
        .bind(from.1)
        .bind(SWEEP)
        .execute(&mut **tx)
        .await?;
    Ok(end.unwrap_or_default())
}
