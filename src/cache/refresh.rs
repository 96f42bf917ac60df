//! Links put in L1 ahead of their visits, read from the store many at a time: the
//! pre-warm at start-up, and the refresh of links being visited before they expire.
//!
//! Both are fills like any other: the invalidation sequence is taken before the read, so
//! an invalidation meanwhile (this process's, or another replica's through the
//! subscription) voids what they put (see [`super::local::LocalCache::put`]).
//!
//! **Refresh-ahead.** A link is kept in L1 for about `KURZ_L1_TTL_SECS`, and the links filled
//! together (the pre-warm's thousands at start-up, every code when load begins) come due
//! together: with nothing more, each went back to the store on its first visit after it
//! expired, and that visit waited for the store's readers behind every other lookup of the
//! wave (BENCHMARKS.md, fifteenth round). So a link visited in the last eighth of the TTL
//! before it expires is noted as due, and its visits keep being answered from L1; one task
//! reads the due links again, up to [`PER_READ`] codes a query, and puts the fresh entries
//! in L1, each with a lifetime of its own. Read one code a query (four at once), the
//! refreshes fell behind under load: at 500 connections on the embedded store, up to 3,700
//! visits in a step still found their link expired, and the refreshes held up to half the
//! readers the lists needed (BENCHMARKS.md, sixteenth round). A link is read about as often as before
//! (once a lifetime), only no visit waits for it; a link nobody visits then expires as
//! before. Each code is noted once at a time, and at most [`MOST_DUE`] are: beyond, a due
//! link's visit leaves it to a later one.

use super::{CachedLinks, holds_within};
use crate::domain::{Link, ShortCode};
use crate::store::StoreResult;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Codes read again in one store query at most.
const PER_READ: usize = 256;

/// Codes noted as due and not yet read again at most, per process.
const MOST_DUE: usize = 100_000;

/// Longest wait of the pre-warm for the invalidation subscription (see [`CachedLinks::prewarm`]).
const PREWARM_WAITS_FOR_REDIS: Duration = Duration::from_secs(10);

/// The links due for a refresh.
#[derive(Default)]
pub struct Refreshes {
    due: Mutex<Due>,
}

#[derive(Default)]
struct Due {
    /// Codes to read again, in the order their visits found them due.
    waiting: VecDeque<ShortCode>,
    /// Those and the codes being read now: each is noted once at a time.
    noted: HashSet<String>,
    /// Whether a task is reading them.
    reading: bool,
}

impl Refreshes {
    fn due(&self) -> MutexGuard<'_, Due> {
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes `code` as due; true when no task is reading the due links, and the caller is
    /// to start one.
    fn note(&self, code: &ShortCode) -> bool {
        let mut due = self.due();
        // Looked up before anything is allocated: a hot link is found due by every visit
        // until its refresh is put.
        if due.noted.len() >= MOST_DUE || due.noted.contains(code.as_str()) {
            return false;
        }
        due.noted.insert(code.as_str().to_owned());
        due.waiting.push_back(code.clone());
        !std::mem::replace(&mut due.reading, true)
    }

    /// The next codes to read again; none when none are due, and the reading task is to
    /// stop (a code noted after this starts another).
    fn next(&self) -> Vec<ShortCode> {
        let mut due = self.due();
        let n = due.waiting.len().min(PER_READ);
        let codes: Vec<ShortCode> = due.waiting.drain(..n).collect();
        if codes.is_empty() {
            due.reading = false;
        }
        codes
    }

    /// `codes` were read again (or could not be): each may be noted again.
    fn done(&self, codes: &[ShortCode]) {
        let mut due = self.due();
        for code in codes {
            due.noted.remove(code.as_str());
        }
    }
}

/// Held by the reading task: if it panics, everything noted is forgotten, so that the next
/// due visit starts another (the entries meanwhile expire as they would have).
struct Reading(Arc<CachedLinks>);

impl Drop for Reading {
    fn drop(&mut self) {
        if std::thread::panicking() {
            *self.0.refreshes.due() = Due::default();
        }
    }
}

impl CachedLinks {
    /// Notes `code`, due for a refresh, and starts the task that reads the due links if none
    /// runs.
    pub(super) fn refresh_ahead(&self, code: &ShortCode) {
        if !self.refreshes.note(code) {
            return;
        }
        let Some(links) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            let reading = Reading(links);
            loop {
                let codes = reading.0.refreshes.next();
                if codes.is_empty() {
                    break;
                }
                reading.0.refresh(&codes).await;
                reading.0.refreshes.done(&codes);
            }
        });
    }

    /// Reads `codes` from the store in one query and puts what it finds in L1 (a code that
    /// names no url any more as unknown). Failed, the entries stay until they expire; the
    /// next visit after that fills them.
    async fn refresh(&self, codes: &[ShortCode]) {
        let mark = self.local.mark();
        let read: StoreResult<Vec<Link>> = self.inner.find_links(codes).await;
        let count = codes.len() as u64;
        match read {
            Ok(links) => {
                let mut found: HashMap<String, Link> = links
                    .into_iter()
                    .map(|link| (link.short_code.clone(), link))
                    .collect();
                for code in codes {
                    let lookup = found.remove(code.as_str()).map(Arc::new);
                    self.local.put(code.as_str(), lookup, mark).await;
                }
                metrics::counter!("kurz_cache_refreshes_total", "result" => "ok").increment(count);
            }
            Err(err) => {
                tracing::debug!(codes = count, error = %err, "refreshing cached links failed");
                metrics::counter!("kurz_cache_refreshes_total", "result" => "failed")
                    .increment(count);
            }
        }
    }

    /// Loads `limit` active links into the local cache: the most clicked, then, while there is
    /// room, the newest of those never clicked (after an import, or on a store whose links
    /// are mostly new, the counters name few or none).
    ///
    /// Into L1 only, under the invalidation sequence taken before the store is read, so that
    /// any invalidation since (this process's own, or another replica's through the
    /// subscription) voids what it put. Through Redis it starts once the subscription is
    /// live (until then L1 is not trusted, and going live empties it); not live within
    /// [`PREWARM_WAITS_FOR_REDIS`], nothing is warmed. Redis is not written: a value there
    /// must carry generations read before the store was asked, which for a batch means a
    /// store lookup per link (filling it that way, two replicas starting on an empty Redis
    /// held the open-loop capacity to a fifth; BENCHMARKS.md, thirteenth round).
    pub async fn prewarm(&self, limit: i64) -> StoreResult<usize> {
        if limit <= 0 {
            return Ok(0);
        }
        if let Some(shared) = &self.shared
            && !holds_within(PREWARM_WAITS_FOR_REDIS, || {
                shared.subscribed.load(Ordering::Acquire)
            })
            .await
        {
            tracing::warn!("invalidation subscription not live: caches not pre-warmed");
            return Ok(0);
        }
        let mark = self.local.mark();
        let mut hot = self.inner.most_clicked(limit).await?;
        // Fewer than asked for: every clicked link is in, the rest are never clicked.
        let room = limit - hot.len() as i64;
        if room > 0 {
            hot.extend(self.inner.newest_unclicked_links(room).await?);
        }
        let warmed = hot.len();
        for link in hot {
            let code = link.short_code.clone();
            self.local.put(&code, Some(Arc::new(link)), mark).await;
        }
        metrics::gauge!("kurz_cache_prewarmed_links").set(warmed as f64);
        Ok(warmed)
    }
}

#[cfg(test)]
mod tests {
    use super::{MOST_DUE, PER_READ, Refreshes};
    use crate::domain::ShortCode;

    fn code(n: usize) -> ShortCode {
        ShortCode::parse(&format!("code{n}")).unwrap_or_else(|err| panic!("code{n}: {err}"))
    }

    #[test]
    fn each_code_is_noted_once_and_one_task_reads_them_many_at_a_time() {
        let refreshes = Refreshes::default();
        assert!(
            refreshes.note(&code(0)),
            "the first due code starts the reader"
        );
        assert!(!refreshes.note(&code(0)), "a code is noted once at a time");
        for n in 1..PER_READ + 10 {
            assert!(!refreshes.note(&code(n)), "one reader at a time");
        }
        let first = refreshes.next();
        assert_eq!(first.len(), PER_READ, "a full read first");
        assert_eq!(first[0].as_str(), "code0", "in the order they came due");
        assert!(!refreshes.note(&code(0)), "still noted while being read");
        refreshes.done(&first);
        assert_eq!(refreshes.next().len(), 10, "then the rest");
        assert!(refreshes.next().is_empty(), "then none: the reader stops");
        assert!(
            refreshes.note(&code(0)),
            "and the next due code starts another"
        );
    }

    #[test]
    fn no_more_than_the_bound_are_noted() {
        let refreshes = Refreshes::default();
        for n in 0..MOST_DUE {
            refreshes.note(&code(n));
        }
        assert!(
            !refreshes.note(&code(MOST_DUE)),
            "beyond the bound, left to a later visit"
        );
        let read = refreshes.next();
        refreshes.done(&read);
        assert!(
            !refreshes.note(&code(MOST_DUE)),
            "the reader still runs: not started again"
        );
        assert_eq!(
            refreshes.due().noted.len(),
            MOST_DUE - PER_READ + 1,
            "room made by a read"
        );
    }
}
