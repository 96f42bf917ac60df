//! The invalidation bus: every replica subscribes to Redis pub/sub and drops the L1 entries
//! other replicas invalidate. While the subscription is down a replica cannot hear
//! invalidations, so its L1 is flushed and bypassed until the subscription is back (and
//! flushed again then, for whatever was missed in between).

use super::local::LocalCache;
use super::shared::{ALL, SharedCache};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Subscribes and applies invalidations until `stop` fires, reconnecting as needed.
pub async fn run(shared: Arc<SharedCache>, local: Arc<LocalCache>, stop: CancellationToken) {
    let mut wait = Duration::from_millis(100);
    while !stop.is_cancelled() {
        match subscribe_and_listen(&shared, &local, &stop).await {
            Ok(()) => wait = Duration::from_millis(100),
            Err(err) => tracing::warn!(error = %err, "invalidation subscription failed; retrying"),
        }
        if shared.subscribed.swap(false, Ordering::AcqRel) {
            tracing::warn!("invalidation subscription lost: L1 cache bypassed until it is back");
        }
        metrics::gauge!("kurz_cache_bus_up").set(0.0);
        local.flush();
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {},
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe_and_listen(
    shared: &SharedCache,
    local: &LocalCache,
    stop: &CancellationToken,
) -> redis::RedisResult<()> {
    let mut pubsub = shared.client().get_async_pubsub().await?;
    pubsub.subscribe(shared.channel()).await?;
    // Anything published before this point was missed: start from an empty L1.
    local.flush();
    shared.subscribed.store(true, Ordering::Release);
    metrics::gauge!("kurz_cache_bus_up").set(1.0);
    tracing::info!("invalidation subscription live");
    let mut messages = pubsub.on_message();
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            message = messages.next() => message,
        };
        let Some(message) = message else {
            return Ok(()); // the connection closed
        };
        match message.get_payload::<String>() {
            Ok(code) if code == ALL => local.flush(),
            Ok(code) => local.invalidate(&code).await,
            Err(err) => tracing::warn!(error = %err, "unreadable invalidation message"),
        }
        metrics::counter!("kurz_cache_invalidations_received_total").increment(1);
    }
}
