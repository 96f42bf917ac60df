//! Group commit of creates on the embedded store. SQLite has one writer, and a create's
//! transaction costs the writer far more than its two rows (the trip to SQLite's worker
//! thread, `BEGIN`, the WAL frames of `COMMIT`); under load creates queued for the writer
//! while everything else was fast (BENCHMARKS.md, 2026-12-01). So creates are handed to one
//! task, which writes every create waiting at that moment in one transaction (two trips to
//! the worker thread, whatever their number), then answers each: its new id, or why not.
//!
//! Per create the answer is what a transaction of its own would give: a taken code is a
//! conflict (also when an earlier create of the same batch took it), an owner that does not
//! exist is a missing reference, and the `created` event is written with the url or not at
//! all.

use super::{OneHop, SqliteStore};
use crate::domain::{NewEvent, NewUrl, Timestamp};
use crate::store::{StoreError, StoreResult};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::SqlitePool;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Most creates written in one transaction.
const MAX_BATCH: usize = 256;
/// Creates waiting for the writer task before senders wait too.
const QUEUE: usize = 4096;

/// The urls of a batch: owners that do not exist insert nothing; a taken code is skipped.
const INSERT_URLS: &str = "BEGIN IMMEDIATE; \
    INSERT OR IGNORE INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at, settings, password_hash) \
    SELECT value ->> 'u', value ->> 'c', value ->> 'o', value ->> 't', value ->> 'a', value ->> 'ts', value ->> 'ts', \
      value ->> 's', value ->> 'p' \
    FROM json_each($1) \
    WHERE value ->> 'u' IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = value ->> 'u') \
    ORDER BY key \
    RETURNING id, short_code";

/// The `created` events of the urls inserted, then the commit.
const INSERT_EVENTS: &str = "\
    INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
    SELECT value ->> 'id', value ->> 'u', value ->> 'e', value ->> 'ts', json_extract(value, '$.d') \
    FROM json_each($1) ORDER BY key; \
    COMMIT";

/// One create waiting for its batch.
pub struct Pending {
    url: NewUrl,
    event: NewEvent,
    reply: oneshot::Sender<StoreResult<i64>>,
    /// Counted in flight until answered (dropped with the rest once the reply is sent).
    _flying: Flying,
}

#[derive(Serialize)]
struct UrlRow<'a> {
    u: Option<i64>,
    c: &'a str,
    o: &'a str,
    t: Option<&'a str>,
    a: bool,
    ts: Timestamp,
    /// The settings' JSON, as the column holds it.
    s: Option<String>,
    p: Option<&'a str>,
}

#[derive(Serialize)]
struct EventRow<'a> {
    id: i64,
    u: Option<i64>,
    e: &'a str,
    ts: Timestamp,
    d: &'a Map<String, Value>,
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
    /// Starts the task that writes the batches on `writer`, reading owners on `readers`.
    pub fn start(writer: SqlitePool, readers: SqlitePool) -> Self {
        let (sender, rx) = mpsc::channel(QUEUE);
        crate::background::spawn(run(writer, readers, rx));
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

    /// Returns once no create is in flight, or after `limit`: the click writer asks before
    /// each of its transactions, so that creates, which a client waits for, take the one
    /// writer first and the clicks, which wait in their queue anyway, take it after.
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

async fn run(writer: SqlitePool, readers: SqlitePool, mut rx: mpsc::Receiver<Pending>) {
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
        answer(&writer, &readers, batch).await;
    }
}

/// Writes one batch and answers every create in it.
async fn answer(writer: &SqlitePool, readers: &SqlitePool, batch: Vec<Pending>) {
    match write(writer, &batch).await {
        Ok(ids) => {
            for pending in batch {
                let result = match ids.get(pending.url.short_code.as_str()) {
                    Some(id) => Ok(*id),
                    None => Err(why_not(readers, &pending.url).await),
                };
                let _ = pending.reply.send(result);
            }
        }
        Err(err) => {
            let shared = Arc::new(err);
            for pending in batch {
                let _ = pending.reply.send(Err(StoreError::Shared(shared.clone())));
            }
        }
    }
}

/// The ids of the urls inserted, by code; all or nothing.
async fn write(writer: &SqlitePool, batch: &[Pending]) -> StoreResult<HashMap<String, i64>> {
    let urls: Vec<UrlRow<'_>> = batch
        .iter()
        .map(|p| {
            let settings = p
                .url
                .settings
                .as_ref()
                .map(serde_json::to_string)
                .transpose();
            Ok(UrlRow {
                u: p.url.user_id,
                c: p.url.short_code.as_str(),
                o: p.url.original_url.as_str(),
                t: p.url.title.as_deref(),
                a: p.url.is_active,
                ts: p.url.created_at,
                s: settings.map_err(|e| StoreError::Corrupt(e.to_string()))?,
                p: p.url.password_hash.as_ref().map(|h| h.as_stored()),
            })
        })
        .collect::<StoreResult<_>>()?;
    let urls = serde_json::to_string(&urls).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut session = OneHop::on(writer).await?;
    let inserted: Vec<(i64, String)> = sqlx::query_as(INSERT_URLS)
        .bind(urls)
        .fetch_all(&mut *session)
        .await?;
    let ids: HashMap<String, i64> = inserted.into_iter().map(|(id, code)| (code, id)).collect();
    let events: Vec<EventRow<'_>> = batch
        .iter()
        .filter_map(|p| {
            Some(EventRow {
                id: *ids.get(p.url.short_code.as_str())?,
                u: p.event.user_id,
                e: &p.event.event_type,
                ts: p.event.timestamp,
                d: &p.event.details,
            })
        })
        .collect();
    let events = serde_json::to_string(&events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(INSERT_EVENTS)
        .bind(events)
        .execute(&mut *session)
        .await?;
    session.commit().await?;
    Ok(ids)
}

/// Why a create of the batch inserted nothing: its owner is gone, or its code is taken.
async fn why_not(readers: &SqlitePool, url: &NewUrl) -> StoreError {
    let Some(owner) = url.user_id else {
        return StoreError::Conflict("short_code");
    };
    let found: Result<Option<(i64,)>, sqlx::Error> =
        sqlx::query_as(crate::store::sql::users::EXISTS)
            .bind(owner)
            .fetch_optional(readers)
            .await;
    match found {
        Ok(Some(_)) => StoreError::Conflict("short_code"),
        Ok(None) => StoreError::MissingReference("user"),
        Err(err) => StoreError::from(err),
    }
}

impl SqliteStore {
    /// A url and its `created` event, written with whatever other creates are waiting.
    pub(super) async fn insert_url(&self, url: &NewUrl, event: &NewEvent) -> StoreResult<i64> {
        self.creates.create(url.clone(), event.clone()).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Flying, InFlight};
    use std::sync::Arc;
    use std::time::Duration;

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
