//! Refresh-ahead of the links in L1 that are being visited. A link is kept in L1 for about
//! `KURZ_L1_TTL_SECS`, and the links filled together (the pre-warm's thousands at start-up,
//! every code when load begins) come due together: with nothing more, each went back to the
//! store on its first visit after it expired, and that visit waited for the store's readers
//! behind every other lookup of the wave (10,000 lookups of 50–100 ms in one step of the
//! quest at 500 connections; BENCHMARKS.md, fifteenth round). So a link visited in the
//! last eighth of the TTL before it expires is read again in the background, below L1,
//! while its visits keep being answered from L1; the fresh entry replaces it, with a
//! lifetime of its own. A link is read about as often as before (once a lifetime), only no
//! visit waits for it; a link nobody visits then expires as before.
//!
//! A refresh is a fill like any other: the invalidation sequence is taken before the read,
//! so an invalidation meanwhile voids what it puts (see [`super::local::LocalCache::put`]).
//! One refresh per code at a time, and at most [`AT_ONCE`] in flight: a visit that finds
//! none free leaves the refresh to a later visit, so a wave of due links is read as fast as
//! the store answers a few at a time, never by a queue of thousands in front of its readers.

use super::CachedLinks;
use crate::domain::ShortCode;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Refreshes in flight at most, per process.
const AT_ONCE: usize = 4;

/// The codes being refreshed, and room for more.
pub struct Refreshes {
    claimed: Arc<Mutex<HashSet<String>>>,
    slots: Arc<Semaphore>,
}

impl Default for Refreshes {
    fn default() -> Self {
        Self {
            claimed: Arc::default(),
            slots: Arc::new(Semaphore::new(AT_ONCE)),
        }
    }
}

/// The right to refresh one code, until dropped (when the refresh ends, or if it panics).
pub struct Claim {
    code: String,
    claimed: Arc<Mutex<HashSet<String>>>,
    _slot: OwnedSemaphorePermit,
}

impl Refreshes {
    /// A claim on refreshing `code`: none while it is being refreshed already, or while
    /// [`AT_ONCE`] refreshes are in flight.
    pub fn claim(&self, code: &str) -> Option<Claim> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        if !claimed.insert(code.to_owned()) {
            return None;
        }
        Some(Claim {
            code: code.to_owned(),
            claimed: self.claimed.clone(),
            _slot: slot,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.code);
    }
}

impl CachedLinks {
    /// Reads `code`, due for a refresh, again below L1 in a task of its own and puts what it
    /// finds in L1; nothing if it is being refreshed already or there is no room.
    pub(super) fn refresh_ahead(&self, code: &ShortCode) {
        let Some(claim) = self.refreshes.claim(code.as_str()) else {
            return;
        };
        let Some(links) = self.me.upgrade() else {
            return;
        };
        let code = code.clone();
        tokio::spawn(async move {
            let mark = links.local.mark();
            match links.resolve_below_l1(&code).await {
                Ok(lookup) => {
                    links.local.put(code.as_str(), lookup, mark).await;
                    metrics::counter!("kurz_cache_refreshes_total", "result" => "ok").increment(1);
                }
                // The entry stays until it expires; the next visit after that fills it.
                Err(err) => {
                    tracing::debug!(code = code.as_str(), error = %err, "refreshing a cached link failed");
                    metrics::counter!("kurz_cache_refreshes_total", "result" => "failed")
                        .increment(1);
                }
            }
            drop(claim);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{AT_ONCE, Refreshes};

    #[test]
    fn one_refresh_per_code_and_a_few_at_once() {
        let refreshes = Refreshes::default();
        let first = refreshes.claim("abc");
        assert!(first.is_some(), "a code nobody refreshes is claimed");
        assert!(refreshes.claim("abc").is_none(), "not twice at once");
        drop(first);
        assert!(
            refreshes.claim("abc").is_some(),
            "claimable again once done"
        );

        let held: Vec<_> = (0..AT_ONCE)
            .map(|n| refreshes.claim(&format!("code{n}")))
            .collect();
        assert!(held.iter().all(Option::is_some), "{AT_ONCE} at once");
        assert!(refreshes.claim("another").is_none(), "no more than that");
        drop(held);
        assert!(refreshes.claim("another").is_some(), "room again");
    }
}
