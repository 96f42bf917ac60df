//! The database's circuit breaker: while PostgreSQL is known to be down, a request that needs
//! it fails at once (`StoreError::Down`, a 503 with `Retry-After`) instead of waiting the
//! pool's acquire timeout, which would fill a replica's in-flight bound with waiting requests.
//!
//! - **Closed** (normal): connections come from the pool. An acquire that has not finished
//!   after [`SUSPECT_AFTER`] sends a probe (a fresh connection and a `SELECT 1`, bounded by
//!   [`PROBE_TIMEOUT`]; one at a time, its result shared for [`PROBE_VALID`]); a failed probe,
//!   or an acquire that fails for want of a connection, opens the breaker. A pool that is
//!   merely busy passes the probe, and its requests keep waiting as before (one that waited
//!   out the pool's timeout fails alone: the breaker asks the database before it opens).
//! - **Open**: every acquire fails at once. A background task probes every
//!   [`PROBE_INTERVAL`] (the half-open state: one trial connection, no request depends on
//!   it) and closes the breaker on the first success, so service resumes within that
//!   interval of the database's return.
//!
//! Cached redirects never reach the store, so they keep answering while it is open.
//! `kurz_store_breaker_open` is 1 while open; `kurz_store_breaker_rejections_total` counts
//! what it refused and `kurz_store_breaker_opened_total` how often it opened.

use super::{StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// An acquire slower than this makes the breaker check the database.
const SUSPECT_AFTER: Duration = Duration::from_millis(50);
/// Longest a probe may take before it counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a probe's verdict stands for the acquires that wait on it.
const PROBE_VALID: Duration = Duration::from_millis(500);
/// How often an open breaker tries the database.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// One database's breaker; cheap to clone (shared state).
#[derive(Clone)]
pub struct Breaker(Arc<Inner>);

struct Inner {
    connect: PgConnectOptions,
    open: AtomicBool,
    /// The last probe: when it finished and whether the database answered.
    last_probe: Mutex<Option<(Instant, bool)>>,
}

impl Breaker {
    pub fn new(connect: PgConnectOptions) -> Self {
        metrics::gauge!("kurz_store_breaker_open").set(0.0);
        Self(Arc::new(Inner {
            connect,
            open: AtomicBool::new(false),
            last_probe: Mutex::new(None),
        }))
    }

    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::Acquire)
    }

    /// A pooled connection (or transaction), unless the database is known to be down.
    pub async fn acquire<C>(
        &self,
        acquire: impl Future<Output = Result<C, sqlx::Error>>,
    ) -> StoreResult<C> {
        if self.is_open() {
            return Err(self.reject());
        }
        let mut acquire = std::pin::pin!(acquire);
        let result = match tokio::time::timeout(SUSPECT_AFTER, acquire.as_mut()).await {
            Ok(result) => result,
            // Slow: a busy pool, or a database that is gone. Ask the database meanwhile.
            Err(_) => tokio::select! {
                result = acquire.as_mut() => result,
                up = self.database_answers() => {
                    if !up {
                        self.trip();
                        return Err(self.reject());
                    }
                    acquire.await
                }
            },
        };
        self.settle(result).await
    }

    /// An acquire's result; a failure for want of a connection opens the breaker, unless it
    /// was the pool's timeout and the database answers (a pool merely busy for that long:
    /// its requests fail, the others go on).
    async fn settle<C>(&self, result: Result<C, sqlx::Error>) -> StoreResult<C> {
        match result {
            Ok(connection) => Ok(connection),
            Err(err) => {
                let busy =
                    matches!(err, sqlx::Error::PoolTimedOut) && self.database_answers().await;
                if is_connection_failure(&err) && !busy {
                    self.trip();
                }
                Err(StoreError::from(err))
            }
        }
    }

    fn reject(&self) -> StoreError {
        metrics::counter!("kurz_store_breaker_rejections_total").increment(1);
        StoreError::Down
    }

    /// Whether the database answers: a recent probe's verdict, or a new probe (one at a time).
    async fn database_answers(&self) -> bool {
        let mut last = self.0.last_probe.lock().await;
        if let Some((at, up)) = *last
            && at.elapsed() < PROBE_VALID
        {
            return up;
        }
        let up = probe(&self.0.connect).await;
        *last = Some((Instant::now(), up));
        up
    }

    /// Opens the breaker (once) and starts the task that closes it when the database is back.
    fn trip(&self) {
        if self.0.open.swap(true, Ordering::AcqRel) {
            return;
        }
        metrics::gauge!("kurz_store_breaker_open").set(1.0);
        metrics::counter!("kurz_store_breaker_opened_total").increment(1);
        tracing::error!(
            "the database does not answer: failing requests that need it at once until it does"
        );
        let breaker = self.clone();
        tokio::spawn(async move {
            let down_since = Instant::now();
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                if probe(&breaker.0.connect).await {
                    *breaker.0.last_probe.lock().await = Some((Instant::now(), true));
                    breaker.0.open.store(false, Ordering::Release);
                    metrics::gauge!("kurz_store_breaker_open").set(0.0);
                    tracing::info!(
                        down_ms = down_since.elapsed().as_millis() as u64,
                        "the database answers again"
                    );
                    return;
                }
            }
        });
    }
}

/// A fresh connection and a `SELECT 1` within [`PROBE_TIMEOUT`]. Through PgBouncer the
/// connection alone proves nothing: the query needs a server behind it.
async fn probe(connect: &PgConnectOptions) -> bool {
    let attempt = async {
        let mut connection = connect.connect().await?;
        connection.ping().await?;
        connection.close().await
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, attempt).await,
        Ok(Ok(()))
    )
}

/// Failures that mean no connection could be had (not a bad statement).
fn is_connection_failure(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    )
}
