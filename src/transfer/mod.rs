//! Moving data between stores, whole and verified: `kurz migrate-store` (the configured
//! store into another, either way between SQLite and PostgreSQL) and `kurz restore` (a
//! backup file into the configured store) are one copy, table by table in the order their
//! references need, in id-ordered batches (constant memory whatever the size), keeping ids
//! and moving sequences past them. Every row read is added to a checksum per table; when
//! the copy is done the target is read back and must give the same counts and checksums.

mod backup;
mod files;
mod identity;
mod progress;

pub use backup::{Scratch, backup, check_backup, snapshot};
pub use files::{Format, export, import};
pub use identity::same_store;

use crate::store::{Rows, Stores, Table};
use anyhow::Context;
use progress::Progress;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Rows per batch read from the source and written to the target in one transaction.
pub(crate) const BATCH: i64 = 4_096;

/// One table's rows in id order, a batch at a time (keyset: each batch starts after the last
/// id of the one before, so every batch costs the same at any size).
pub(crate) struct Batches<'a> {
    store: &'a Stores,
    table: Table,
    after: i64,
}

impl<'a> Batches<'a> {
    pub(crate) fn of(store: &'a Stores, table: Table) -> Self {
        Self {
            store,
            table,
            after: 0,
        }
    }

    /// The next batch; `None` after the last.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<Rows>> {
        let rows = self
            .store
            .transfer
            .rows_after(self.table, self.after, BATCH)
            .await?;
        Ok(rows.last_id().map(|last| {
            self.after = last;
            rows
        }))
    }
}

/// What one table's copy moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 of the rows in id order, each as one line of JSON with sorted keys.
    pub checksum: String,
}

/// A table's row count and checksum, as it is read.
#[derive(Default)]
pub(crate) struct Checksum {
    rows: u64,
    hash: Sha256,
}

impl Checksum {
    pub(crate) fn add(&mut self, rows: &Rows) {
        for line in rows.json_lines() {
            self.hash.update(line.as_bytes());
            self.hash.update(b"\n");
        }
        self.rows += rows.len() as u64;
    }

    pub(crate) fn finish(self, table: Table) -> Copied {
        Copied {
            table: table.name(),
            rows: self.rows,
            checksum: format!("{:x}", self.hash.finalize()),
        }
    }
}

/// Refuses a target that holds any row, unless `force`, which empties it.
pub(crate) async fn empty_target(to: &Stores, force: bool) -> anyhow::Result<()> {
    let mut held = Vec::new();
    for table in Table::ALL {
        let rows = to.transfer.count_rows(table).await?;
        if rows > 0 {
            held.push(format!("{} {}", rows, table.name()));
        }
    }
    if !held.is_empty() {
        if !force {
            anyhow::bail!(
                "the target already holds data ({}); give --force to replace it",
                held.join(", ")
            );
        }
        to.transfer.clear().await.context("emptying the target")?;
    }
    Ok(())
}

/// Copies every table of `from` into `to` and verifies it arrived. A target that holds
/// any row is refused unless `force`, which empties it first.
pub async fn copy(from: &Stores, to: &Stores, force: bool) -> anyhow::Result<Vec<Copied>> {
    empty_target(to, force).await?;
    let mut copied = Vec::new();
    for table in Table::ALL {
        let total = from.transfer.count_rows(table).await?;
        let mut progress = Progress::start(table.name(), total.max(0) as u64);
        let mut sum = Checksum::default();
        let mut batches = Batches::of(from, table);
        while let Some(rows) = batches.next().await? {
            sum.add(&rows);
            to.transfer.put_rows(&rows).await.with_context(|| {
                format!("writing {} up to id {:?}", table.name(), rows.last_id())
            })?;
            progress.advance(rows.len() as u64);
        }
        progress.finish();
        copied.push(sum.finish(table));
    }
    to.transfer.recount_clicks().await?;
    verify(to, &copied).await?;
    Ok(copied)
}

/// Every table of `store`, counted and checksummed as [`copy`] does.
pub async fn checksums(store: &Stores) -> anyhow::Result<Vec<Copied>> {
    let mut sums = Vec::new();
    for table in Table::ALL {
        let mut sum = Checksum::default();
        let mut batches = Batches::of(store, table);
        while let Some(rows) = batches.next().await? {
            sum.add(&rows);
        }
        sums.push(sum.finish(table));
    }
    Ok(sums)
}

/// The target read back must give what was copied, table by table (the tables copied:
/// [`Table::ALL`] or its first ones).
pub(crate) async fn verify(to: &Stores, copied: &[Copied]) -> anyhow::Result<()> {
    let found = checksums(to).await?;
    for (sent, got) in copied.iter().zip(&found) {
        if sent != got {
            anyhow::bail!(
                "verification failed for {}: copied {} rows ({}), the target has {} ({})",
                sent.table,
                sent.rows,
                sent.checksum,
                got.rows,
                got.checksum
            );
        }
    }
    Ok(())
}

/// Rows per table that `live` holds beyond what was copied: writes made after the copy's
/// snapshot (or during the copy, from a source that cannot be snapshotted).
pub async fn written_since(
    live: &Stores,
    copied: &[Copied],
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut since = Vec::new();
    for (table, copy) in Table::ALL.into_iter().zip(copied) {
        let now = live.transfer.count_rows(table).await?;
        let more = now - copy.rows as i64;
        if more != 0 {
            since.push((table.name(), more));
        }
    }
    Ok(since)
}
