//! Retries of transient failures, with bounded, jittered backoff, so a database restart or a
//! serialization failure costs a few milliseconds instead of an error page. Each backend
//! wraps its calls in [`read`] or [`write`]: reads retry on any transient failure, writes
//! only when the failure proves nothing was written (see [`StoreError::is_safe_to_repeat`]),
//! so a retry never duplicates a row. Both time the call for
//! `kurz_store_operation_duration_seconds`.

use super::{StoreError, StoreResult};
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::{Duration, Instant};

/// Three more attempts, 20 ms → 200 ms apart with jitter: enough to ride over a dropped
/// connection or a failover, short enough to answer within a client's patience.
const POLICY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(20))
    .with_max_delay(Duration::from_millis(200))
    .with_max_times(3)
    .with_jitter();

/// Runs a read, again after a transient failure. A pool timeout is not retried: it already
/// waited its full budget, and waiting again only piles up requests; nor is a refusal of
/// the breaker (the database is known to be down).
pub async fn read<T, F, Fut>(op: &'static str, call: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    run(op, call, |e: &StoreError| {
        e.is_transient()
            && !matches!(
                e,
                StoreError::Unavailable(sqlx::Error::PoolTimedOut) | StoreError::Down
            )
    })
    .await
}

/// Runs a write, again only when the failure proves nothing was written.
pub async fn write<T, F, Fut>(op: &'static str, call: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    run(op, call, StoreError::is_safe_to_repeat).await
}

async fn run<T, F, Fut>(op: &'static str, call: F, again: fn(&StoreError) -> bool) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    once(
        op,
        call.retry(POLICY)
            .when(again)
            .notify(|e, wait| notify(op, e, wait)),
    )
    .await
}

/// Runs a call once, timed like the others (the click writer has its own, longer retries).
pub async fn once<T>(
    op: &'static str,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let start = Instant::now();
    let result = call.await;
    observe(op, start);
    result
}

fn observe(op: &'static str, start: Instant) {
    metrics::histogram!("kurz_store_operation_duration_seconds", "op" => op)
        .record(start.elapsed().as_secs_f64());
}

fn notify(op: &'static str, err: &StoreError, wait: Duration) {
    metrics::counter!("kurz_store_retries_total", "op" => op).increment(1);
    tracing::warn!(op, error = %err, wait_ms = wait.as_millis() as u64, "store call failed; retrying");
}
