//! Retention of raw clicks (`KURZ_CLICK_RETENTION_DAYS`): a background task removes `click`
//! events older than the retention, from the oldest on, in bounded slices (each its own
//! short write, with a pause between, so the store's other writers are not held up). The
//! counters the stats read (`link_clicks`, `click_rollups`, `click_agents`,
//! `click_dimensions`) stay: stats keep their history after the raw clicks are gone.

use crate::domain::Timestamp;
use crate::store::EventStore;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// How often a pass runs (the first at start).
const EVERY: Duration = Duration::from_secs(3600);
/// Event ids one statement looks at.
const SLICE_IDS: i64 = 10_000;
/// The pause between two slices.
const PAUSE: Duration = Duration::from_millis(20);

/// Starts the retention task for clicks older than `days` days.
pub fn spawn(events: Arc<dyn EventStore>, days: u32) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        loop {
            every.tick().await;
            let pass = AssertUnwindSafe(forget_old_clicks(events.as_ref(), days)).catch_unwind();
            if pass.await.is_err() {
                tracing::error!("click retention pass panicked; the next pass runs as usual");
            }
        }
    });
}

/// One pass: slices until no click is older than the retention, or the store fails (the
/// next pass carries on). Returns how many clicks went.
pub async fn forget_old_clicks(events: &dyn EventStore, days: u32) -> u64 {
    let now = Timestamp::now().as_primitive().assume_utc();
    let before = now - time::Duration::days(i64::from(days));
    let before =
        Timestamp::from_primitive(time::PrimitiveDateTime::new(before.date(), before.time()));
    let mut total = 0;
    loop {
        match events.forget_clicks(before, SLICE_IDS).await {
            Ok(0) => break,
            Ok(forgotten) => {
                total += forgotten;
                metrics::counter!("kurz_clicks_forgotten_total").increment(forgotten);
                tokio::time::sleep(PAUSE).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "click retention stopped; the next pass goes on");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(forgotten = total, days, "clicks past retention removed");
    }
    total
}
