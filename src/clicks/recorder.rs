//! The click queue's sending side: what a redirect calls to record its click, the backlog
//! that bounds the queue while the writer keeps writing, and the flush a reader waits on.

use crate::domain::Visited;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

/// Longest wait of a redirect for a place in the backlog while the writer keeps writing.
const ROOM_WAIT: Duration = Duration::from_secs(1);
/// How long `flush` waits for the writer before giving up (a store outage must not hang reads).
const FLUSH_WAIT: Duration = Duration::from_secs(5);

pub(super) enum Command {
    /// A click, and whether it holds a place in the backlog.
    Record { visit: Visited, placed: bool },
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side, cheap to clone into every request.
#[derive(Clone)]
pub struct ClickRecorder {
    pub(super) tx: mpsc::Sender<Command>,
    /// Cuts the writer's pause short when someone waits for a flush.
    pub(super) hurry: Arc<Notify>,
    pub(super) writing: Arc<Writing>,
    /// The backlog's free places: a click queued while the writer keeps writing takes one,
    /// and the writer gives it back when it takes the click from the queue.
    pub(super) backlog: Arc<Semaphore>,
}

/// Whether the writer keeps writing, shared by the recorders and the writer.
pub(super) struct Writing {
    /// Whether the writer's last batch was written (a place in the backlog is then worth
    /// waiting for).
    pub(super) ok: AtomicBool,
    /// Wakes the redirects waiting for a place when the writer starts failing: the whole
    /// queue is then open to them.
    pub(super) failed: Notify,
}

impl Writing {
    pub(super) fn set(&self, ok: bool) {
        if self.ok.swap(ok, Ordering::Relaxed) && !ok {
            self.failed.notify_waiters();
        }
    }
}

impl ClickRecorder {
    /// Queues a click; waits for a place only in overload (see the module's comment).
    /// Returns `false` (and counts a drop) when the click could not be queued.
    pub async fn record(&self, visit: Visited) -> bool {
        let Some(placed) = self.place().await else {
            return self.dropped(1);
        };
        let command = match self.tx.try_send(Command::Record { visit, placed }) {
            Ok(()) => return self.queued(),
            // The queue is full of clicks from an outage the writer is catching up on.
            Err(TrySendError::Full(command)) if placed => command,
            Err(_) => return self.not_queued(placed),
        };
        match tokio::time::timeout(ROOM_WAIT, self.tx.send(command)).await {
            Ok(Ok(())) => self.queued(),
            _ => self.not_queued(placed),
        }
    }

    /// A place in the backlog (`Some(true)`) while the writer keeps writing, waited for up to
    /// [`ROOM_WAIT`] when the backlog is full; none needed (`Some(false)`) while the writer
    /// fails; `None` when the wait ran out.
    async fn place(&self) -> Option<bool> {
        // Made before the flag is read, so that a failure from here on wakes it.
        let failed = self.writing.failed.notified();
        if !self.writing.ok.load(Ordering::Relaxed) {
            return Some(false);
        }
        if let Ok(place) = self.backlog.try_acquire() {
            place.forget();
            return Some(true);
        }
        metrics::counter!("kurz_click_queue_waits_total").increment(1);
        tokio::select! {
            place = self.backlog.acquire() => place.ok().map(|place| {
                place.forget();
                true
            }),
            () = failed => Some(false),
            () = tokio::time::sleep(ROOM_WAIT) => None,
        }
    }

    fn not_queued(&self, placed: bool) -> bool {
        if placed {
            self.backlog.add_permits(1);
        }
        self.dropped(1)
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
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).await.is_err() {
            return;
        }
        self.hurry.notify_one();
        if tokio::time::timeout(FLUSH_WAIT, wait).await.is_err() {
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
