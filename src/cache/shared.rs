//! L2: Redis, shared by every replica. Optional and failing open: every call has a tight
//! timeout, and after a failure Redis is skipped for a short back-off, so a dead Redis costs
//! a cache miss (and a metric), never an error page or a slow redirect.
//!
//! Staleness is prevented with generations rather than deletes: each code has a generation
//! counter (`{prefix}:gen:{code}`) bumped by every invalidation, and there is one for "all
//! codes" (`{prefix}:gen:*`, bumped by bulk imports). A value records the generations read *before*
//! the store was asked; a reader fetches value and generations in one `MGET` and ignores a
//! value whose generations are not current. So a fill racing with a write can never
//! re-insert the old target.

use super::bus::Acks;
use super::local::Lookup;
use crate::domain::Url;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The payload of an invalidation that voids every code (otherwise the payload is a code).
pub const ALL: &str = "*";
/// After a Redis failure, skip Redis for this long (a down Redis makes each call wait).
const BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait for every replica to confirm an invalidation; a replica that is hung but
/// still subscribed cannot hold writes up for longer.
const ACK_WAIT: Duration = Duration::from_millis(250);

/// The generations a fill read before asking the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    code: String,
    all: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "g")]
    generations: Generations,
    #[serde(rename = "u")]
    url: Option<Url>,
}

/// What an L2 read found.
pub enum Read {
    /// A current value.
    Hit(Lookup),
    /// No current value; a fill may be stored with these generations.
    Miss(Generations),
    /// Redis is not available: neither read nor write it.
    Unavailable,
}

pub struct SharedCache {
    client: redis::Client,
    /// Namespace of every key and of the channel, so deployments can share a Redis.
    prefix: String,
    connection: OnceLock<ConnectionManager>,
    ttl: Duration,
    negative_ttl: Duration,
    timeout: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` until which Redis is skipped.
    skip_until: AtomicU64,
    /// Whether the invalidation subscription is live (set by the bus).
    pub(super) subscribed: AtomicBool,
    /// Invalidations this replica sent and is waiting to hear confirmed.
    pub(super) acks: Acks,
}

impl SharedCache {
    /// Prepares the client; the connection is made in the background (see [`SharedCache::connect`]),
    /// so kurz starts and serves even while Redis is down.
    pub fn new(
        url: &str,
        prefix: &str,
        ttl: Duration,
        negative_ttl: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            connection: OnceLock::new(),
            ttl,
            negative_ttl,
            timeout,
            epoch: Instant::now(),
            skip_until: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            acks: Acks::default(),
        })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The pub/sub channel invalidations travel on, as `{nonce}:{code}`.
    pub fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    /// The channel replicas confirm invalidations on, with the nonce.
    pub fn ack_channel(&self) -> String {
        format!("{}:invalidated", self.prefix)
    }

    fn link_key(&self, code: &str) -> String {
        format!("{}:link:{code}", self.prefix)
    }

    fn gen_key(&self, code: &str) -> String {
        format!("{}:gen:{code}", self.prefix)
    }

    fn gen_all(&self) -> String {
        self.gen_key(ALL)
    }

    /// Connects, retrying until it succeeds or `stop` fires, then pings every second: the
    /// connection manager reconnects on the first command after an outage, and the ping makes
    /// that command ours rather than a client's, so health is known without waiting for traffic.
    pub async fn connect(self: Arc<Self>, stop: CancellationToken) {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut wait = Duration::from_millis(100);
        while self.connection.get().is_none() {
            let attempt = ConnectionManager::new_with_config(self.client.clone(), config.clone());
            tokio::select! {
                () = stop.cancelled() => return,
                result = attempt => match result {
                    Ok(connection) => {
                        let _ = self.connection.set(connection);
                        tracing::info!("connected to Redis");
                        continue;
                    }
                    Err(err) => tracing::warn!(error = %err, "Redis unreachable; retrying"),
                },
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {},
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        let mut ping = redis::pipe();
        ping.cmd("PING").ignore();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {},
            }
            self.call::<()>("ping", Attempts::Check, &ping).await;
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Connected and answering.
    pub fn is_healthy(&self) -> bool {
        self.connection.get().is_some() && self.now_ms() >= self.skip_until.load(Ordering::Relaxed)
    }

    /// Runs one pipeline with the timeout; `None` when skipped or failed. A failure makes
    /// ordinary calls skip Redis for [`BACKOFF`].
    async fn call<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        attempts: Attempts,
        pipe: &redis::Pipeline,
    ) -> Option<T> {
        let connection = self.connection.get()?;
        if attempts == Attempts::One && self.now_ms() < self.skip_until.load(Ordering::Relaxed) {
            return None;
        }
        let tries: u32 = if attempts == Attempts::Persist { 3 } else { 1 };
        let mut failure = String::new();
        for attempt in 1..=tries {
            let mut connection = connection.clone();
            match tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut connection)).await {
                Ok(Ok(value)) => {
                    if self.skip_until.swap(0, Ordering::Relaxed) != 0 {
                        tracing::info!("Redis answering again");
                    }
                    metrics::gauge!("kurz_redis_up").set(1.0);
                    return Some(value);
                }
                Ok(Err(err)) => failure = err.to_string(),
                Err(_) => failure = "timed out".to_owned(),
            }
            if attempt < tries {
                tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
            }
        }
        metrics::counter!("kurz_cache_errors_total", "tier" => "l2", "op" => op).increment(1);
        metrics::gauge!("kurz_redis_up").set(0.0);
        self.skip_until.store(
            self.now_ms() + BACKOFF.as_millis() as u64,
            Ordering::Relaxed,
        );
        tracing::warn!(
            op,
            error = failure,
            "Redis call failed; skipping Redis for a moment"
        );
        None
    }

    pub async fn read(&self, code: &str) -> Read {
        let mut pipe = redis::pipe();
        pipe.cmd("MGET")
            .arg(&[self.link_key(code), self.gen_key(code), self.gen_all()]);
        type Fetched = ((Option<String>, Option<String>, Option<String>),);
        let Some(((value, code_gen, all_gen),)) =
            self.call::<Fetched>("read", Attempts::One, &pipe).await
        else {
            return Read::Unavailable;
        };
        let current = Generations {
            code: code_gen.unwrap_or_default(),
            all: all_gen.unwrap_or_default(),
        };
        match value.and_then(|raw| serde_json::from_str::<Stored>(&raw).ok()) {
            Some(stored) if stored.generations == current => Read::Hit(stored.url.map(Arc::new)),
            _ => Read::Miss(current),
        }
    }

    pub async fn write(&self, code: &str, lookup: &Lookup, generations: Generations) {
        let negative = lookup.as_ref().is_none_or(|u| !u.is_active);
        let ttl = if negative {
            self.negative_ttl
        } else {
            self.ttl
        };
        let stored = Stored {
            generations,
            url: lookup.as_deref().cloned(),
        };
        let Ok(value) = serde_json::to_string(&stored) else {
            return;
        };
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.link_key(code))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore();
        self.call::<()>("write", Attempts::One, &pipe).await;
    }

    /// Bumps the code's generation (voiding its L2 value everywhere), tells every replica to
    /// drop its L1 entry, and waits until every replica that heard it has done so (at most
    /// [`ACK_WAIT`]). `false` when Redis could not be told.
    pub async fn invalidate(&self, code: &str) -> bool {
        let generation = self.gen_key(code);
        let key_ttl = i64::try_from((self.ttl * 2).as_secs().max(1)).unwrap_or(i64::MAX);
        self.announce("invalidate", code, |pipe| {
            pipe.incr(&generation, 1)
                .ignore()
                .expire(&generation, key_ttl)
                .ignore();
        })
        .await
    }

    /// Voids every code's L2 value and every replica's L1.
    pub async fn invalidate_all(&self) -> bool {
        let generation = self.gen_all();
        self.announce("invalidate_all", ALL, |pipe| {
            pipe.incr(&generation, 1).ignore();
        })
        .await
    }

    /// Runs `bump` and publishes `code` in one transaction, then waits for the acks.
    async fn announce(
        &self,
        op: &'static str,
        code: &str,
        bump: impl FnOnce(&mut redis::Pipeline),
    ) -> bool {
        let nonce: u64 = rand::random();
        let acked = self.acks.register(nonce);
        let mut pipe = redis::pipe();
        pipe.atomic();
        bump(&mut pipe);
        pipe.publish(self.channel(), format!("{nonce}:{code}"));
        let Some((listeners,)) = self.call::<(usize,)>(op, Attempts::Persist, &pipe).await else {
            self.acks.forget(nonce);
            return false;
        };
        self.acks.expect(nonce, listeners);
        if tokio::time::timeout(ACK_WAIT, acked).await.is_err() {
            metrics::counter!("kurz_cache_invalidation_ack_timeouts_total").increment(1);
            tracing::warn!(
                code,
                listeners,
                "not every replica confirmed an invalidation in time"
            );
        }
        self.acks.forget(nonce);
        true
    }

    /// Confirms an invalidation to the replica that sent it.
    pub async fn acknowledge(&self, nonce: &str) {
        let mut pipe = redis::pipe();
        pipe.publish(self.ack_channel(), nonce).ignore();
        self.call::<()>("acknowledge", Attempts::Check, &pipe).await;
    }
}

/// How hard a call tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempts {
    /// Once, and not at all during the back-off: a miss is cheap.
    One,
    /// Once, even during the back-off: the health check that ends it.
    Check,
    /// Up to three times, even during the back-off: a lost invalidation costs correctness.
    Persist,
}
