//! Group commit of creates, for both stores. A create's own transaction costs its database
//! far more than its two rows (a round trip, `BEGIN`, the commit's WAL flush; on SQLite a
//! trip to its worker thread and a turn of the one writer): under load creates queued for
//! the writer or for connections while everything else was fast (BENCHMARKS.md,
//! 2026-12-01 and 2026-12-02). So creates are handed to one task per store, which writes
//! every create waiting at that moment in one statement or transaction (whatever their
//! number), then answers each: its new id, or why not. A create that finds no other
//! waiting is written at once, alone.
//!
//! Per create the answer is what a transaction of its own would give: a taken code is a
//! conflict (also when an earlier create of the same batch took it), an owner that does not
//! exist is a missing reference, and the `created` event is written with the url or not at
//! all. A batch that fails for a reason that is not the database's being unreachable (a
//! concurrent delete of an owner on PostgreSQL, say) is written again one create at a time,
//! so that one create's fault is its own answer and not its neighbours'.

use crate::domain::{NewEvent, NewUrl};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::FutureExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Most creates written in one batch.
const MAX_BATCH: usize = 256;
/// Creates waiting for the writing task before senders wait too.
const QUEUE: usize = 4096;

/// How a store writes a batch of creates.
#[async_trait]
pub trait WriteCreates: Send + Sync + 'static {
    /// Writes every url of `batch` that can be written (its code free, its owner there)
    /// with its `created` event, in one transaction: the ids of the urls inserted, by code;
    /// all or nothing.
    async fn write(&self, batch: &[Pending]) -> StoreResult<HashMap<String, i64>>;

    /// Whether the user `owner` exists (asked when a create of a written batch inserted
    /// nothing: its owner is gone, or else its code is taken).
    async fn owner_exists(&self, owner: i64) -> StoreResult<bool>;
}

/// One create waiting for its batch.
pub struct Pending {
    pub url: NewUrl,
    pub event: NewEvent,
    reply: oneshot::Sender<StoreResult<i64>>,
    /// Counted in flight until answered (dropped with the rest once the reply is sent).
    _flying: Flying,
}

/// The sending side, kept by the store.
#[derive(Clone)]
pub struct Creates {
    sender: mpsc::Sender<Pending>,
    in_flight: Arc<InFlight>,
}

/// Creates sent and not yet answered, and a signal when there are none left.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    none: Notify,
}

/// One create in flight, queued for the writer or being written, until dropped: right after
/// its answer is sent, not when its request is next scheduled to read it (under load, a
/// turn behind every other request, while the click writer waited for nothing).
struct Flying(Arc<InFlight>);

impl Flying {
    fn new(in_flight: &Arc<InFlight>) -> Self {
        in_flight.count.fetch_add(1, Ordering::AcqRel);
        Self(in_flight.clone())
    }
}

impl Drop for Flying {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none.notify_waiters();
        }
    }
}

impl Creates {
    /// Starts the task that writes the batches with `writer`, on the writers' runtime
    /// ([`crate::background`]): its trips to the database are not each a turn behind every
    /// request.
    pub fn start(writer: impl WriteCreates) -> Self {
        let (sender, rx) = mpsc::channel(QUEUE);
        crate::background::spawn(run(writer, rx));
        Self {
            sender,
            in_flight: Arc::default(),
        }
    }

    /// Writes `url` and its `created` event; the new url's id.
    pub async fn create(&self, url: NewUrl, event: NewEvent) -> StoreResult<i64> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            url,
            event,
            reply,
            _flying: Flying::new(&self.in_flight),
        };
        if self.sender.send(pending).await.is_err() {
            return Err(StoreError::Down);
        }
        answer.await.unwrap_or(Err(StoreError::Down))
    }

    /// Returns once no create is in flight, or after `limit`: SQLite's click writer asks
    /// before each of its transactions, so that creates, which a client waits for, take the
    /// one writer first and the clicks, which wait in their queue anyway, take it after.
    /// A create in flight is queued for the writer or being written, so the writer does
    /// not sit idle meanwhile; `limit` keeps a steady stream of creates from holding the
    /// clicks back for longer.
    pub async fn first(&self, limit: Duration) {
        if !self.in_flight.none_within(limit).await {
            metrics::counter!("kurz_sqlite_clicks_behind_creates_total").increment(1);
        }
    }
}

impl InFlight {
    /// Whether none was in flight, or the last one landed, within `limit`.
    async fn none_within(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let none = self.none.notified();
            tokio::pin!(none);
            // Registered before the count is read: a last create answered in between
            // still wakes this wait.
            none.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, none).await.is_err() {
                return false;
            }
        }
    }
}

async fn run(writer: impl WriteCreates, mut rx: mpsc::Receiver<Pending>) {
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    let mut received = Vec::with_capacity(MAX_BATCH);
    loop {
        if waiting.is_empty() {
            if rx.recv_many(&mut received, MAX_BATCH).await == 0 {
                return;
            }
        } else {
            // More may have come while the last batch was written.
            while let Ok(pending) = rx.try_recv() {
                received.push(pending);
                if received.len() >= MAX_BATCH {
                    break;
                }
            }
        }
        waiting.extend(received.drain(..));
        // One create per code in a batch: a second create of a code waits for the next
        // batch, where it meets the first as a taken code, as it would one by one.
        let mut codes = HashSet::new();
        let mut batch = Vec::new();
        let mut later = VecDeque::new();
        while let Some(pending) = waiting.pop_front() {
            if batch.len() < MAX_BATCH && codes.insert(pending.url.short_code.as_str().to_owned()) {
                batch.push(pending);
            } else {
                later.push_back(pending);
            }
        }
        waiting = later;
        metrics::histogram!("kurz_create_batch_size").record(batch.len() as f64);
        // A panic must not end this task: every later create would find nobody to write it.
        // The batch's creates are dropped unanswered, which answers each 503.
        let creates = batch.len();
        if AssertUnwindSafe(answer(&writer, batch))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!(creates, "writing a batch of creates panicked");
        }
    }
}

/// Writes one batch and answers every create in it; a batch that failed for a reason of
/// one of its creates is written again one create at a time.
async fn answer(writer: &impl WriteCreates, batch: Vec<Pending>) {
    match writer.write(&batch).await {
        Ok(ids) => {
            for pending in batch {
                let result = match ids.get(pending.url.short_code.as_str()) {
                    Some(id) => Ok(*id),
                    None => Err(why_not(writer, &pending.url).await),
                };
                let _ = pending.reply.send(result);
            }
        }
        Err(err) if batch.len() > 1 && !err.is_transient() => {
            tracing::warn!(error = %err, creates = batch.len(), "a batch of creates failed; writing each alone");
            for pending in batch {
                Box::pin(answer(writer, vec![pending])).await;
            }
        }
        Err(err) => match <[Pending; 1]>::try_from(batch) {
            // Its own error, as it is: a conflict or a missing owner is the client's answer.
            Ok([alone]) => {
                let _ = alone.reply.send(Err(err));
            }
            Err(batch) => {
                let shared = Arc::new(err);
                for pending in batch {
                    let _ = pending.reply.send(Err(StoreError::Shared(shared.clone())));
                }
            }
        },
    }
}

/// Why a create of a written batch inserted nothing: its owner is gone, or its code is taken.
async fn why_not(writer: &impl WriteCreates, url: &NewUrl) -> StoreError {
    let Some(owner) = url.user_id else {
        return StoreError::Conflict("short_code");
    };
    match writer.owner_exists(owner).await {
        Ok(true) => StoreError::Conflict("short_code"),
        Ok(false) => StoreError::MissingReference("user"),
        Err(err) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::{Creates, Flying, InFlight, Pending, WriteCreates};
    use crate::domain::audit::created_event;
    use crate::domain::{NewUrl, ShortCode, TargetUrl, Timestamp};
    use crate::store::StoreResult;
    use async_trait::async_trait;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    /// Writes every batch (ids from 1) except one with the code `panics`, where it panics
    /// as a bug in a store's writing would.
    struct PanicsOnOneCode;

    #[async_trait]
    impl WriteCreates for PanicsOnOneCode {
        async fn write(&self, batch: &[Pending]) -> StoreResult<HashMap<String, i64>> {
            if batch.iter().any(|p| p.url.short_code.as_str() == "panics") {
                panic!("a bug while writing a batch");
            }
            Ok((1..)
                .zip(batch)
                .map(|(id, p)| (p.url.short_code.as_str().to_owned(), id))
                .collect())
        }

        async fn owner_exists(&self, _owner: i64) -> StoreResult<bool> {
            Ok(true)
        }
    }

    fn url(code: &str) -> Result<NewUrl, String> {
        Ok(NewUrl {
            user_id: None,
            short_code: ShortCode::parse(code).map_err(|e| e.to_string())?,
            original_url: TargetUrl::parse("https://example.com/")?,
            title: None,
            is_active: true,
            settings: None,
            password_hash: None,
            created_at: Timestamp::now(),
            fresh_code: false,
        })
    }

    #[tokio::test]
    async fn a_panic_while_writing_fails_its_batch_and_later_creates_are_written()
    -> Result<(), String> {
        let creates = Creates::start(PanicsOnOneCode);
        let bug = url("panics")?;
        let event = created_event(0, &bug);
        assert!(creates.create(bug, event).await.is_err(), "its batch fails");
        let fine = url("fine")?;
        let event = created_event(0, &fine);
        assert_eq!(
            creates
                .create(fine, event)
                .await
                .map_err(|e| e.to_string())?,
            1,
            "the next create is written"
        );
        Ok(())
    }

    #[tokio::test]
    async fn clicks_wait_for_creates_in_flight_until_the_last_lands_or_the_limit() {
        let in_flight = Arc::new(InFlight::default());
        assert!(
            in_flight.none_within(Duration::from_secs(60)).await,
            "none in flight"
        );

        let create = Flying::new(&in_flight);
        let waiting = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.none_within(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a create is in flight");
        drop(create);
        let landed = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        assert!(
            matches!(landed, Ok(Ok(true))),
            "the last create's answer ends the wait long before its limit"
        );

        let _stuck = Flying::new(&in_flight);
        assert!(
            !in_flight.none_within(Duration::from_millis(20)).await,
            "a create that never lands holds the clicks back only until the limit"
        );
    }
}
