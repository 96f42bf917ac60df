//! WAL checkpoints off the writer. By default SQLite checkpoints in the connection whose
//! `COMMIT` takes the WAL past 1,000 pages, inside that commit and while it still holds the
//! one write lock. Under a stream of click batches that was nearly every batch: a third of
//! the writer's time per click went to copying pages into the database file and syncing it
//! (BENCHMARKS.md, 2026-12-01, third round), and every create waited for it. Here a
//! connection of its own runs a passive checkpoint twice a second, beside the writer (a
//! passive checkpoint never takes the write lock, so the writer keeps writing), and a page
//! changed by many batches in that time is copied once.
//!
//! Should this task stop or fall behind, the writer still checkpoints by itself once the
//! WAL passes [`WRITER_FALLBACK_PAGES`] (about 40 MiB), so the WAL stays bounded.

use sqlx::SqlitePool;
use std::time::{Duration, Instant};

/// How often the checkpointer copies the WAL into the database file.
const EVERY: Duration = Duration::from_millis(500);

/// The writer's own automatic checkpoint, as a fallback: pages of 4 KiB in the WAL.
pub const WRITER_FALLBACK_PAGES: &str = "10000";

/// A checkpoint this long is logged: it syncs the database file, and a disk that takes
/// seconds to sync is worth an operator's look (BENCHMARKS.md, tenth round: a stall of 2.4 s).
const SLOW: Duration = Duration::from_secs(1);

/// Checkpoints on `pool` (one read-write connection, not the writer) until it is closed.
pub fn start(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if pool.is_closed() {
                return;
            }
            let started = Instant::now();
            let done: Result<(i64, i64, i64), sqlx::Error> =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&pool)
                    .await;
            match done {
                Ok((_, frames, copied)) => record(started.elapsed(), frames, copied),
                Err(err) if pool.is_closed() => {
                    tracing::debug!(error = %err, "checkpointer stopped with the store");
                    return;
                }
                Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed; retried shortly"),
            }
        }
    });
}

/// Counts a checkpoint, its duration and the WAL's frames (`-1` while another connection is
/// checkpointing: kept as the last known figure).
fn record(took: Duration, frames: i64, copied: i64) {
    metrics::counter!("kurz_sqlite_checkpoints_total").increment(1);
    metrics::histogram!("kurz_sqlite_checkpoint_duration_seconds").record(took.as_secs_f64());
    if frames >= 0 {
        metrics::gauge!("kurz_sqlite_wal_frames").set(frames as f64);
    }
    if took >= SLOW {
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            wal_frames = frames,
            copied_frames = copied,
            "a WAL checkpoint took over a second (copying pages and syncing the database file)"
        );
    }
}
