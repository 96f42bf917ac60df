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
//!
//! An invalidation that could not be told (Redis down, or a Sentinel failover that may have
//! lost the latest writes, as replication is asynchronous) leaves a debt: once Redis answers
//! again, this replica voids every code's L2 value and every replica's L1 (`{prefix}:gen:*`),
//! so what was missed cannot be served for the rest of a TTL.
//!
//! On Redis Cluster the code in a key is a hash tag (`{prefix}:link:{{code}}`), so a code's
//! value and generation share a slot; the `MGET` of those and of `gen:*` is split by slot.

use super::bus::Acks;
use super::link::Link;
use super::local::{Lookup, spread};
use super::topology::{Connected, Topology};
use crate::domain;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The payload of an invalidation that voids every code (otherwise the payload is a code).
pub const ALL: &str = "*";
/// After a Redis failure, skip Redis for this long (a down Redis makes each call wait).
const BACKOFF: Duration = Duration::from_secs(1);

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
    #[serde(rename = "l")]
    link: Option<domain::Link>,
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
    topology: Topology,
    /// Namespace of every key and of the channel, so deployments can share a Redis.
    prefix: String,
    /// Set once connected; replaced when a Sentinel failover moves the primary.
    connection: RwLock<Option<Connected>>,
    pub(super) ttl: Duration,
    negative_ttl: Duration,
    timeout: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` until which Redis is skipped.
    skip_until: AtomicU64,
    /// Whether the invalidation subscription is live (set by the bus).
    pub(super) subscribed: AtomicBool,
    /// Invalidations this replica sent and is waiting to hear confirmed.
    pub(super) acks: Acks,
    /// An invalidation may have been lost: flush everything once Redis answers.
    pub(super) owes_flush: AtomicBool,
    /// Tells the bus to subscribe again, on the primary the link moved to.
    pub(super) primary_moved: Notify,
}

impl SharedCache {
    /// Prepares the client; the connection is made in the background (see [`SharedCache::connect`]),
    /// so kurz starts and serves even while Redis is down.
    pub fn new(
        topology: Topology,
        prefix: &str,
        ttl: Duration,
        negative_ttl: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            topology,
            prefix: prefix.to_owned(),
            connection: RwLock::new(None),
            ttl,
            negative_ttl,
            timeout,
            epoch: Instant::now(),
            skip_until: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            acks: Acks::default(),
            owes_flush: AtomicBool::new(false),
            primary_moved: Notify::new(),
        }
    }

    /// A pub/sub connection to where invalidations are published.
    pub async fn subscriber(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.topology
            .subscriber(&self.channel(), self.connected())
            .await
    }

    fn connected(&self) -> Option<Connected> {
        let connection = self
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        connection.clone()
    }

    fn link(&self) -> Option<Link> {
        let connection = self
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        connection.as_ref().map(|c| c.link.clone())
    }

    fn set_connection(&self, connected: Connected) {
        *self
            .connection
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(connected);
    }

    /// The pub/sub channel invalidations travel on, as `{nonce}:{code}`.
    pub fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    /// The channel replicas confirm invalidations on, with the nonce.
    pub fn ack_channel(&self) -> String {
        format!("{}:invalidated", self.prefix)
    }

    /// A code's value. `v3`: the value is a `Link` with its settings (never a protected
    /// link: see [`Self::write`]); `v2` held one without them (and releases before that a `Url` under `link:`), so no
    /// two releases read each other's values during a rolling upgrade (an older one would
    /// take a protected link for a plain one); the generations they share still void all.
    fn link_key(&self, code: &str) -> String {
        format!("{}:v3:link:{}", self.prefix, self.slot_of(code))
    }

    pub(super) fn gen_key(&self, code: &str) -> String {
        format!("{}:gen:{}", self.prefix, self.slot_of(code))
    }

    /// The code, as a hash tag on a cluster (its keys then share a slot). Codes never contain
    /// braces. Elsewhere the plain code, the key names every earlier release used.
    fn slot_of<'a>(&self, code: &'a str) -> Cow<'a, str> {
        if self.topology.hash_tags() {
            Cow::Owned(format!("{{{code}}}"))
        } else {
            Cow::Borrowed(code)
        }
    }

    /// A rate-limit bucket (one key: any slot will do).
    pub(super) fn rate_key(&self, bucket: &str) -> String {
        format!("{}:rate:{bucket}", self.prefix)
    }

    pub(super) fn gen_all(&self) -> String {
        self.gen_key(ALL)
    }

    /// Connects, retrying until it succeeds or `stop` fires, then pings every second: the
    /// connection reconnects on the first command after an outage, and the ping makes that
    /// command ours rather than a client's, so health is known without waiting for traffic.
    /// Behind Sentinel each round also asks where the primary is, and follows it. A ping that
    /// answers pays a flush owed for a lost invalidation.
    pub async fn connect(self: Arc<Self>, stop: CancellationToken) {
        let mut wait = Duration::from_millis(100);
        while self.link().is_none() {
            tokio::select! {
                () = stop.cancelled() => return,
                result = self.topology.connect(self.timeout) => match result {
                    Ok(connected) => {
                        let primary = connected.primary_address();
                        self.set_connection(connected);
                        tracing::info!(primary, "connected to Redis");
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
        let ping = redis::cmd("PING");
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {},
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.follow_primary() => {},
            }
            let answered = self
                .call::<(), _, _>("ping", Attempts::Check, |mut link| {
                    let ping = &ping;
                    async move { ping.query_async(&mut link).await }
                })
                .await
                .is_some();
            if answered && self.owes_flush.load(Ordering::Acquire) {
                self.pay_flush().await;
            }
        }
    }

    /// Behind Sentinel, moves to the primary the sentinels name when it changed, and has the
    /// bus subscribe there too.
    async fn follow_primary(&self) {
        let current = self.connected();
        match self
            .topology
            .follow_primary(current.as_ref(), self.timeout)
            .await
        {
            Ok(None) => {}
            Ok(Some(connected)) => {
                let primary = connected.primary_address();
                self.set_connection(connected);
                // Replication is asynchronous: the old primary may have taken invalidations
                // the new one never received.
                self.owes_flush.store(true, Ordering::Release);
                self.primary_moved.notify_one();
                metrics::counter!("kurz_redis_primary_changes_total").increment(1);
                tracing::warn!(primary, "the Redis primary moved; following it");
            }
            Err(err) => tracing::warn!(error = %err, "could not ask the sentinels for the primary"),
        }
    }

    /// Voids every value and every replica's L1, for invalidations that may have been lost.
    async fn pay_flush(&self) {
        self.owes_flush.store(false, Ordering::Release);
        if self.invalidate_all().await {
            tracing::info!("flushed the caches for invalidations Redis may have missed");
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A connection has been made (it may not answer now).
    pub fn is_connected(&self) -> bool {
        self.link().is_some()
    }

    /// Connected and answering.
    pub fn is_healthy(&self) -> bool {
        self.link().is_some() && self.now_ms() >= self.skip_until.load(Ordering::Relaxed)
    }

    fn skip_for_backoff(&self) {
        metrics::gauge!("kurz_redis_up").set(0.0);
        self.skip_until.store(
            self.now_ms() + BACKOFF.as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    /// Runs `query` on the link with the timeout; `None` when skipped or failed. A failure
    /// makes ordinary calls skip Redis for [`BACKOFF`].
    pub(super) async fn call<T, Q, F>(
        &self,
        op: &'static str,
        attempts: Attempts,
        query: Q,
    ) -> Option<T>
    where
        Q: Fn(Link) -> F,
        F: Future<Output = redis::RedisResult<T>>,
    {
        self.link()?;
        if attempts == Attempts::One && self.now_ms() < self.skip_until.load(Ordering::Relaxed) {
            return None;
        }
        let tries: u32 = if attempts == Attempts::Persist { 3 } else { 1 };
        let mut failure = String::new();
        for attempt in 1..=tries {
            let link = self.link()?;
            match tokio::time::timeout(self.timeout, query(link)).await {
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
        self.skip_for_backoff();
        tracing::warn!(
            op,
            error = failure,
            "Redis call failed; skipping Redis for a moment"
        );
        None
    }

    pub async fn read(&self, code: &str) -> Read {
        let mut mget = redis::cmd("MGET");
        mget.arg(&[self.link_key(code), self.gen_key(code), self.gen_all()]);
        type Fetched = (Option<String>, Option<String>, Option<String>);
        let Some((value, code_gen, all_gen)) = self
            .call::<Fetched, _, _>("read", Attempts::One, |mut link| {
                let mget = &mget;
                async move { mget.query_async(&mut link).await }
            })
            .await
        else {
            return Read::Unavailable;
        };
        let current = Generations {
            code: code_gen.unwrap_or_default(),
            all: all_gen.unwrap_or_default(),
        };
        match value.and_then(|raw| serde_json::from_str::<Stored>(&raw).ok()) {
            Some(stored) if stored.generations == current => Read::Hit(stored.link.map(Arc::new)),
            _ => Read::Miss(current),
        }
    }

    pub async fn write(&self, code: &str, lookup: &Lookup, generations: Generations) {
        // A password's hash stays out of Redis: a protected link is cached in process only,
        // and each replica reads it from the store when its L1 entry expires.
        if lookup
            .as_ref()
            .is_some_and(|link| link.password_hash.is_some())
        {
            return;
        }
        let negative = lookup.as_ref().is_none_or(|u| !u.is_active);
        let ttl = if negative {
            self.negative_ttl
        } else {
            spread(self.ttl)
        };
        let stored = Stored {
            generations,
            link: lookup.as_deref().cloned(),
        };
        let Ok(value) = serde_json::to_string(&stored) else {
            return;
        };
        let mut set = redis::cmd("SET");
        set.arg(self.link_key(code))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        self.call::<(), _, _>("write", Attempts::One, |mut link| {
            let set = &set;
            async move { set.query_async(&mut link).await }
        })
        .await;
    }
}

/// How hard a call tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempts {
    /// Once, and not at all during the back-off: a miss is cheap.
    One,
    /// Once, even during the back-off: the health check that ends it.
    Check,
    /// Up to three times, even during the back-off: a lost invalidation costs correctness.
    Persist,
}
