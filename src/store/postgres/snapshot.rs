//! One snapshot for a whole export or move (see [`crate::store::Transfer::pin_snapshot`]): a
//! transaction exports it (`pg_export_snapshot`) and stays open while the reads last; each
//! read of a batch imports it (`SET TRANSACTION SNAPSHOT`) in a read-only transaction of its
//! own, on any connection of the pool (through PgBouncer too: each is one transaction).

use super::PostgresStore;
use super::connections::Transaction;
use crate::store::{Pinned, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, FromRow};
use std::sync::{Arc, Mutex, PoisonError};

/// The isolation a snapshot is exported from and imported into.
const REPEATABLE_READ_ONLY: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The id of the snapshot transfer reads import, while one is pinned.
pub type SnapshotId = Arc<Mutex<Option<String>>>;

/// The exporting transaction, held open; dropping it ends the snapshot (rolled back) and
/// the store's reads go back to reading the rows as they are.
struct Held {
    _exporting: Transaction,
    id: SnapshotId,
}

impl Drop for Held {
    fn drop(&mut self) {
        *self.id.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl PostgresStore {
    pub(super) async fn hold_snapshot(&self) -> StoreResult<Option<Pinned>> {
        // The exporting transaction keeps one connection; the reads need another.
        if self.connections.pool.max_size() < 2 {
            tracing::warn!(
                "a pool of one connection cannot hold a snapshot open and read: the tables are read as they change"
            );
            return Ok(None);
        }
        let mut exporting = self.begin().await?;
        sqlx::raw_sql(REPEATABLE_READ_ONLY)
            .execute(&mut *exporting)
            .await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .persistent(false)
            .fetch_one(&mut *exporting)
            .await?;
        // Spliced into a statement below: only what PostgreSQL's ids are made of.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::Corrupt(format!("a snapshot id {id:?}")));
        }
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
        Ok(Some(Pinned::new(Held {
            _exporting: exporting,
            id: self.snapshot.clone(),
        })))
    }

    /// The rows `sql` selects after `$1` (at most `$2`) as the pinned snapshot has them;
    /// `None` while none is pinned.
    pub(super) async fn snapshot_rows<T>(
        &self,
        sql: &'static str,
        (after, limit): (i64, i64),
    ) -> StoreResult<Option<Vec<T>>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let id = self
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(id) = id else {
            return Ok(None);
        };
        let mut read = self.begin().await?;
        let import = format!("{REPEATABLE_READ_ONLY}; SET TRANSACTION SNAPSHOT '{id}'");
        sqlx::raw_sql(AssertSqlSafe(import))
            .execute(&mut *read)
            .await?;
        let rows = self
            .query_as(sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *read)
            .await?;
        read.rollback().await?;
        Ok(Some(rows))
    }
}
