//! The click queue's sending side: what a redirect calls to record its click (waiting for
//! room in a full queue while the writer keeps writing), and the flush a reader waits on.

use crate::domain::Visited;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, oneshot};

/// How long `flush` waits for the writer before giving up (a store outage must not hang reads).
const FLUSH_WAIT: Duration = Duration::from_secs(5);

pub(super) enum Command {
    Record(Visited),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side, cheap to clone into every request.
#[derive(Clone)]
pub struct ClickRecorder {
    pub(super) tx: mpsc::Sender<Command>,
    /// Cuts the writer's pause short when someone waits for a flush.
    pub(super) hurry: Arc<Notify>,
    /// Whether the writer's last batch was written (a full queue is then worth waiting for).
    pub(super) writing: Arc<AtomicBool>,
    /// Longest wait of a redirect for room in a full queue while the writer keeps writing:
    /// the store's own timeout (`KURZ_DB_TIMEOUT_MS`), so that a click is dropped only when
    /// its write waited as long as any request waits for the database. One second, before,
    /// dropped a thousand clicks of a healthy PostgreSQL whose one batch took longer
    /// (BENCHMARKS.md, eleventh round).
    pub(super) room_wait: Duration,
}

impl ClickRecorder {
    /// Queues a click; waits for room only in overload (see the comment of `crate::clicks`).
    /// Returns `false` (and counts a drop) when the click could not be queued.
    pub async fn record(&self, visit: Visited) -> bool {
        let command = match self.tx.try_send(Command::Record(visit)) {
            Ok(()) => return self.queued(),
            Err(TrySendError::Full(command)) if self.writing.load(Ordering::Relaxed) => command,
            Err(_) => return self.dropped(1),
        };
        metrics::counter!("kurz_click_queue_waits_total").increment(1);
        match tokio::time::timeout(self.room_wait, self.tx.send(command)).await {
            Ok(Ok(())) => self.queued(),
            _ => self.dropped(1),
        }
    }

    fn queued(&self) -> bool {
        metrics::counter!("kurz_clicks_queued_total").increment(1);
        metrics::gauge!("kurz_click_queue_depth").set(self.depth() as f64);
        true
    }

    fn dropped(&self, clicks: u64) -> bool {
        count_dropped(clicks);
        tracing::warn!("click queue full or closed: click dropped");
        false
    }

    /// Waits until every click queued before this call is in the store (or [`FLUSH_WAIT`] passes),
    /// so a client reading events sees the clicks it caused.
    /// The wait covers queueing the flush too: behind a stalled writer the queue is full,
    /// and the flush's own place in it may not come for as long as the store is away.
    pub async fn flush(&self) {
        let flushed = async {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Command::Flush(done)).await.is_ok() {
                self.hurry.notify_one();
                let _ = wait.await;
            }
        };
        if tokio::time::timeout(FLUSH_WAIT, flushed).await.is_err() {
            tracing::warn!("click flush timed out; events may lag behind redirects");
        }
    }

    /// Clicks waiting to be written.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Clicks that will never be written, however they were lost (`kurz_clicks_dropped_total`).
pub(super) fn count_dropped(clicks: u64) {
    metrics::counter!("kurz_clicks_dropped_total").increment(clicks);
}
