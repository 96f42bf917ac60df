//! The click queue and its batch writer. A redirect hands its `click` event to a bounded
//! in-process queue and answers at once; background tasks write the queue to the store in
//! multi-row batches, one taking and classifying a batch while the other writes the one
//! before. When the queue is full while the writer keeps writing
//! (overload: more redirects than the store can record), a redirect waits for room, up to
//! the store's timeout: the redirects slow to the rate clicks are written instead of losing them.
//! While the writer is failing (the store down), a full queue drops new clicks and counts
//! them rather than hold redirects. On shutdown the writer drains the queue before the
//! store closes. Before a batch is written, each visit is classified ([`classify`]): the
//! store adds it to the click counters in the same transaction as the events.

pub mod classify;
pub mod geo;
mod recorder;
pub mod retention;

pub use recorder::ClickRecorder;
use recorder::{Command, count_dropped};

use crate::domain::Visited;
use crate::domain::analytics::VisitClass;
use crate::store::{EventStore, StatsStore};
use classify::Classifier;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// First wait after a failed batch; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A batch failing with a permanent (non-transient) error is tried this often, then dropped.
/// Transient failures are retried without limit, and after shutdown begins for as long as
/// the shutdown grace allows.
const PERMANENT_ATTEMPTS: u32 = 3;
/// Pause after draining the queue, so clicks are written in batches rather than one by one.
const LINGER: Duration = Duration::from_millis(5);
/// The background writer; [`ClickWriter::shutdown`] drains and stops it.
pub struct ClickWriter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl ClickWriter {
    /// Stops taking clicks, writes everything queued, and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "click writer ended abnormally");
        }
    }
}

/// Starts the writer's two tasks. One takes batches from the queue and classifies them, on
/// the current runtime: the request workers', so that classifying clicks shares their CPU
/// and redirects cannot outrun it (the whole writer on a thread of its own fell behind at
/// 60k redirects/s and the queue overflowed; BENCHMARKS.md). The other writes them, on the
/// writers' runtime ([`crate::background`]), where its trips to the store are not each a
/// turn behind every request: a batch is classified while the one before it is written, so
/// the store's one writer is not left idle meanwhile (BENCHMARKS.md, 2026-12-02). After
/// shutdown begins, a store that keeps failing is retried for `grace` before the remaining
/// clicks are dropped (and counted). A redirect waits for room in a full queue up to
/// `room_wait`.
pub fn start(
    store: Arc<dyn EventStore>,
    keys: Arc<dyn StatsStore>,
    classifier: Option<Arc<Classifier>>,
    capacity: usize,
    batch: usize,
    room_wait: Duration,
    grace: Duration,
) -> (ClickRecorder, ClickWriter) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let stop = CancellationToken::new();
    let patience = Patience {
        stop: stop.clone(),
        grace,
        deadline: OnceLock::new(),
    };
    let hurry = Arc::new(Notify::new());
    let writing = Arc::new(AtomicBool::new(true));
    let writer = Arc::new(Writer {
        store,
        keys,
        key: tokio::sync::Mutex::new(None),
        classifier,
        patience,
        writing: writing.clone(),
    });
    // One classified batch waits for the writer at most, so two batches are out of the
    // queue at a time: the one being written and the next.
    let (classified, to_write) = mpsc::channel(1);
    let written = crate::background::spawn(write(writer.clone(), to_write));
    let task = tokio::spawn({
        let hurry = hurry.clone();
        async move {
            take(&writer, rx, classified, batch.max(1), hurry).await;
            if let Err(err) = written.await {
                tracing::error!(error = %err, "click writer ended abnormally");
            }
        }
    });
    let recorder = ClickRecorder {
        tx,
        hurry,
        writing,
        room_wait,
    };
    (recorder, ClickWriter { stop, task })
}

/// When to stop retrying a failing batch.
struct Patience {
    stop: CancellationToken,
    grace: Duration,
    /// Set when shutdown is first noticed.
    deadline: OnceLock<Instant>,
}

impl Patience {
    fn give_up(&self, transient: bool, failures: u32) -> bool {
        if !transient {
            return failures >= PERMANENT_ATTEMPTS;
        }
        if !self.stop.is_cancelled() {
            return false;
        }
        Instant::now() >= *self.deadline.get_or_init(|| Instant::now() + self.grace)
    }
}

/// What writes the batches: the store, the classifier and the day's visitor key, how long
/// to keep trying, and the flag recorders read.
struct Writer {
    store: Arc<dyn EventStore>,
    keys: Arc<dyn StatsStore>,
    /// The visitor key of a day (days since 1970-01-01 UTC).
    key: tokio::sync::Mutex<Option<(i64, String)>>,
    /// `None`: analytics are off (`KURZ_CLICK_ANALYTICS=false`).
    classifier: Option<Arc<Classifier>>,
    patience: Patience,
    writing: Arc<AtomicBool>,
}

/// Clicks classified and ready to write, and the flushes that wait for them.
struct Classified {
    clicks: Vec<Visited>,
    flushes: Vec<oneshot::Sender<()>>,
}

/// Takes batches from the queue, classifies them and hands them to [`write`]; on shutdown,
/// refuses new clicks and hands on what is already queued.
async fn take(
    writer: &Writer,
    mut rx: mpsc::Receiver<Command>,
    classified: mpsc::Sender<Classified>,
    batch: usize,
    hurry: Arc<Notify>,
) {
    let stop = &writer.patience.stop;
    let mut buffer = Vec::with_capacity(batch);
    // Room for the next batch is reserved before it is taken from the queue, so that the
    // queue, not this task, holds the clicks while the writer is behind.
    while let Ok(room) = classified.reserve().await {
        let received = tokio::select! {
            n = rx.recv_many(&mut buffer, batch) => n,
            () = stop.cancelled() => 0,
        };
        if received == 0 {
            break;
        }
        room.send(writer.classified(&mut buffer).await);
        // When the queue ran dry, let clicks gather for a moment instead of waking for each
        // one: a wake-up per redirect cost more CPU than the insert itself. Flushes wait at
        // most this long more.
        if received < batch {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {},
                () = hurry.notified() => {},
                () = stop.cancelled() => {},
            }
        }
    }
    // Shutdown: refuse new clicks, then hand on what is already queued.
    rx.close();
    while rx.recv_many(&mut buffer, batch).await > 0 {
        let batch = writer.classified(&mut buffer).await;
        if let Err(unsent) = classified.send(batch).await {
            // The writing task is gone: these clicks will never be written.
            let clicks = unsent.0.clicks.len() as u64;
            count_dropped(clicks);
            tracing::error!(clicks, "click writer gone: queued clicks dropped");
        }
    }
    metrics::gauge!("kurz_click_queue_depth").set(0.0);
}

/// Writes the classified batches in turn, then answers the flushes that waited for each.
async fn write(writer: Arc<Writer>, mut batches: mpsc::Receiver<Classified>) {
    while let Some(Classified { clicks, flushes }) = batches.recv().await {
        // The store's own panics are caught per try; one anywhere else must not end this
        // task either, or the taking task would have nowhere to hand the queue on.
        let written = AssertUnwindSafe(writer.write_with_retry(&clicks))
            .catch_unwind()
            .await;
        if written.is_err() {
            tracing::error!(clicks = clicks.len(), "writing a batch of clicks panicked");
            count_dropped(clicks.len() as u64);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl Writer {
    /// The clicks in `buffer`, classified, and the flushes among them.
    async fn classified(&self, buffer: &mut Vec<Command>) -> Classified {
        let mut clicks = Vec::with_capacity(buffer.len());
        let mut flushes = Vec::new();
        for command in buffer.drain(..) {
            match command {
                Command::Record(event) => clicks.push(event),
                Command::Flush(done) => flushes.push(done),
            }
        }
        self.classify(&mut clicks).await;
        Classified { clicks, flushes }
    }

    /// Classifies each visit, with the visitor key of the day it happened, asked once per
    /// day of the batch (a store that is down is asked once, not once per click). Without a
    /// key the visits are classified and counted, but not as visitors.
    async fn classify(&self, clicks: &mut [Visited]) {
        let Some(classifier) = &self.classifier else {
            return;
        };
        let mut keys: Vec<(i64, Option<String>)> = Vec::new();
        for click in clicks.iter_mut() {
            let day = click.at.unix_day();
            let at = match keys.iter().position(|(known, _)| *known == day) {
                Some(at) => at,
                None => {
                    keys.push((day, self.visitor_key(day).await));
                    keys.len() - 1
                }
            };
            let key = keys[at].1.as_deref();
            // Reading a visitor's headers runs a parser on whatever they sent: should it
            // panic, this task must go on (it alone takes clicks from the queue), and the
            // click is stored unclassified, as with analytics off.
            let read =
                std::panic::catch_unwind(AssertUnwindSafe(|| classifier.classify(click, key)));
            if read.is_err() {
                tracing::error!(url_id = click.link.id, "classifying a click panicked");
            }
            click.classified = read.ok().map(Box::new);
        }
    }

    /// The visitor key of `day`, asked of the store once a day.
    async fn visitor_key(&self, day: i64) -> Option<String> {
        let mut cached = self.key.lock().await;
        if let Some((cached_day, key)) = cached.as_ref()
            && *cached_day == day
        {
            return Some(key.clone());
        }
        match self.keys.visitor_key(day).await {
            Ok(key) => {
                *cached = Some((day, key.clone()));
                Some(key)
            }
            Err(err) => {
                tracing::warn!(error = %err, "no visitor key: these clicks count no visitors");
                None
            }
        }
    }

    /// Retries with bounded, jittered backoff until the write passes or [`Patience`] runs out.
    /// A panic inside the store is caught and treated as a permanent error, so it never kills
    /// the writer.
    async fn write_with_retry(&self, clicks: &[Visited]) {
        if clicks.is_empty() {
            return;
        }
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0;
        // One key for every try: a try whose commit went through unanswered is not
        // written again by the next.
        let key: i64 = rand::random();
        loop {
            let outcome = AssertUnwindSafe(self.store.append_batch(clicks, key))
                .catch_unwind()
                .await;
            let transient = match outcome {
                Ok(Ok(())) => {
                    self.writing.store(true, Ordering::Relaxed);
                    metrics::counter!("kurz_click_batches_total").increment(1);
                    metrics::counter!("kurz_clicks_written_total").increment(clicks.len() as u64);
                    count_classes(clicks);
                    return;
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, clicks = clicks.len(), "writing clicks failed");
                    err.is_transient()
                }
                Err(_) => {
                    tracing::error!(clicks = clicks.len(), "writing clicks panicked");
                    false
                }
            };
            self.writing.store(false, Ordering::Relaxed);
            metrics::counter!("kurz_click_write_errors_total").increment(1);
            failures += 1;
            if self.patience.give_up(transient, failures) {
                count_dropped(clicks.len() as u64);
                tracing::error!(clicks = clicks.len(), "giving up on a batch of clicks");
                return;
            }
            let jitter =
                Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 2));
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Clicks written, by visit class (`kurz_clicks_total{class}`; no per-link labels).
fn count_classes(clicks: &[Visited]) {
    for class in VisitClass::ALL {
        let n = clicks
            .iter()
            .filter(|c| c.blocked.is_none())
            .filter(|c| c.classified.as_ref().map(|k| k.visit_class) == Some(class))
            .count();
        if n > 0 {
            metrics::counter!("kurz_clicks_total", "class" => class.as_str()).increment(n as u64);
        }
    }
}
