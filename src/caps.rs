//! Visit caps (`max_clicks`): a human visit of a capped link is redirected only once the
//! store has counted it under the cap. The count lives in the database, one row per link,
//! raised by one atomic conditional statement, so any number of replicas asking at once
//! redirect exactly `max_clicks` visits in all, and nothing held in Redis or in a process
//! can be lost in a restart and let extra visits through (DECISIONS.md). Each replica
//! remembers the links it found used up, so an exhausted link answers without the
//! database from then on: the database sees at most `max_clicks` successful increments
//! per link, about one refused one per replica, and a read of the count for each visit
//! that does not spend (crawlers, previews) until the link is found used up.

use crate::domain::Link;
use crate::store::{LinkStore, StoreResult};
use std::sync::Arc;
use std::time::Duration;

/// Links remembered as used up, per replica.
const REMEMBERED: u64 = 100_000;
/// How long one is remembered. A cap only grows by an update (which changes the key).
const REMEMBERED_FOR: Duration = Duration::from_secs(3600);

/// The caps of this replica's visits; cheap to clone.
#[derive(Clone)]
pub struct VisitCaps {
    store: Arc<dyn LinkStore>,
    /// `(url id, max_clicks)` of links whose cap is used up.
    exhausted: moka::future::Cache<(i64, i64), ()>,
}

impl VisitCaps {
    pub fn new(store: Arc<dyn LinkStore>) -> Self {
        Self {
            store,
            exhausted: moka::future::Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_live(REMEMBERED_FOR)
                .build(),
        }
    }

    /// Whether this replica already knows the link's cap is used up.
    pub fn known_exhausted(&self, link: &Link) -> bool {
        cap_of(link).is_some_and(|cap| self.exhausted.contains_key(&(link.id, cap)))
    }

    /// Counts one human visit against the link's cap; `false` when the cap is used up
    /// (then remembered). A link without a cap always passes.
    pub async fn spend(&self, link: &Link) -> StoreResult<bool> {
        let Some(cap) = cap_of(link) else {
            return Ok(true);
        };
        let spent = self.store.spend_visit(link.id, cap).await?;
        if !spent {
            self.exhausted.insert((link.id, cap), ()).await;
            metrics::counter!("kurz_visit_cap_refusals_total").increment(1);
        }
        Ok(spent)
    }

    /// Whether the link's cap is used up: remembered, else read from the store (and
    /// remembered when it is); `false` for a link without a cap.
    pub async fn exhausted(&self, link: &Link) -> StoreResult<bool> {
        let Some(cap) = cap_of(link) else {
            return Ok(false);
        };
        if self.exhausted.contains_key(&(link.id, cap)) {
            return Ok(true);
        }
        let exhausted = self.store.visits_spent(link.id).await? >= cap;
        if exhausted {
            self.exhausted.insert((link.id, cap), ()).await;
        }
        Ok(exhausted)
    }
}

fn cap_of(link: &Link) -> Option<i64> {
    link.settings.as_ref().and_then(|s| s.max_clicks)
}
