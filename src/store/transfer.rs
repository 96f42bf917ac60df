//! Whole tables in id order, for moving data between stores (`kurz migrate-store`,
//! `kurz restore`: see [`crate::transfer`]), and writing them back with their ids.

use super::StoreResult;
use super::sql::Table;
use crate::domain::{Event, StoredApiKey, Url, User};
use async_trait::async_trait;

/// A batch of one table's rows, in id order.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    Users(Vec<User>),
    Urls(Vec<Url>),
    Events(Vec<Event>),
    ApiKeys(Vec<StoredApiKey>),
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Self::Users(rows) => rows.len(),
            Self::Urls(rows) => rows.len(),
            Self::Events(rows) => rows.len(),
            Self::ApiKeys(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest id of the batch (the last: batches are in id order).
    pub fn last_id(&self) -> Option<i64> {
        match self {
            Self::Users(rows) => rows.last().map(|r| r.id),
            Self::Urls(rows) => rows.last().map(|r| r.id),
            Self::Events(rows) => rows.last().map(|r| r.id),
            Self::ApiKeys(rows) => rows.last().map(|r| r.key.id),
        }
    }

    /// Each row as JSON (object keys sorted).
    pub fn json_values(&self) -> Vec<serde_json::Value> {
        fn values<T: serde::Serialize>(rows: &[T]) -> Vec<serde_json::Value> {
            rows.iter()
                .map(|row| serde_json::to_value(row).unwrap_or_default())
                .collect()
        }
        match self {
            Self::Users(rows) => values(rows),
            Self::Urls(rows) => values(rows),
            Self::Events(rows) => values(rows),
            Self::ApiKeys(rows) => values(rows),
        }
    }

    /// Each row as one line of JSON, the form checksums are taken of.
    pub fn json_lines(&self) -> Vec<String> {
        self.json_values()
            .iter()
            .map(|row| row.to_string())
            .collect()
    }
}

/// What keeps a pinned snapshot (see [`Transfer::pin_snapshot`]) alive: dropping it ends it.
pub struct Pinned {
    _held: Box<dyn std::any::Any + Send>,
}

impl Pinned {
    pub fn new<T: Send + 'static>(held: T) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

#[async_trait]
pub trait Transfer: Send + Sync + 'static {
    /// Makes the reads of [`Transfer::rows_after`] that follow see the store as it is now,
    /// one snapshot however long they take and whatever is written meanwhile, for as long
    /// as the returned guard lives (PostgreSQL: a snapshot exported by a transaction the
    /// guard holds open). `None` where nothing is pinned: the embedded store is read from a
    /// copy of its file instead.
    async fn pin_snapshot(&self) -> StoreResult<Option<Pinned>>;
    /// Up to `limit` rows of `table` with ids above `after`, in id order.
    async fn rows_after(&self, table: Table, after: i64, limit: i64) -> StoreResult<Rows>;
    /// Writes rows keeping their ids (a row already there takes the values given) and moves
    /// the table's id sequence past them, in one transaction. Click counters are left to
    /// [`Transfer::recount_clicks`], once at the end.
    async fn put_rows(&self, rows: &Rows) -> StoreResult<()>;
    async fn count_rows(&self, table: Table) -> StoreResult<i64>;
    /// Deletes every row of every table, in one transaction.
    async fn clear(&self) -> StoreResult<()>;
    /// Sets every link's click counter to its number of click events, and rebuilds the
    /// hourly click counters from the events' classification (new visitors per day are not
    /// in the events: those counts start again from zero).
    async fn recount_clicks(&self) -> StoreResult<()>;
}
