//! The invalidation bus: every replica subscribes to Redis pub/sub and drops the L1 entries
//! other replicas invalidate. While the subscription is down a replica cannot hear
//! invalidations, so its L1 is flushed and bypassed until the subscription is back (and
//! flushed again then, for whatever was missed in between).
//!
//! Each invalidation carries a nonce; every replica that applies it answers on the ack
//! channel, and the writer waits for as many answers as Redis counted listeners, so a write
//! answers only once every live replica has dropped the old entry.
//!
//! Where the subscription lives depends on the topology (see `topology.rs`): the server, the
//! primary Sentinel names, or one node of a cluster.

use super::local::LocalCache;
use super::shared::{ALL, Attempts, SharedCache};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Longest wait for every replica to confirm an invalidation; a replica that is hung but
/// still subscribed cannot hold writes up for longer.
const ACK_WAIT: Duration = Duration::from_millis(250);

/// The sending side: what a write tells every replica.
impl SharedCache {
    /// Gives the code a new generation (voiding its L2 value everywhere), tells every
    /// replica to drop its L1 entry, and waits until every replica that heard it has done so
    /// (at most [`ACK_WAIT`]). `false` when Redis could not be told.
    ///
    /// The generation is a random number, not a count: the key expires (one per code ever
    /// changed would otherwise stay for good), and a count would start again at 1 after
    /// that, the very generation an L2 value written just before the expiry carries, which
    /// would then be taken for current for the rest of its lifetime. A number (not any
    /// text) so that a replica of an earlier release, which adds one to it, still can.
    pub async fn invalidate(&self, code: &str) -> bool {
        let generation = self.gen_key(code);
        let fresh = rand::random::<u64>() >> 1;
        let key_ttl = (self.ttl * 2).as_secs().max(1);
        self.announce("invalidate", code, |pipe| {
            pipe.set_ex(&generation, fresh, key_ttl).ignore();
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

    /// Runs `bump` and publishes `code` (in one transaction where the topology allows), then
    /// waits for the acks. A failure leaves a flush owed.
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
        let (channel, message) = (self.channel(), format!("{nonce}:{code}"));
        let announced = self
            .call::<usize, _, _>(op, Attempts::Persist, |mut link| {
                let (pipe, channel, message) = (&pipe, &channel, &message);
                async move { link.announce(pipe, channel, message).await }
            })
            .await;
        let Some(listeners) = announced else {
            self.acks.forget(nonce);
            self.owes_flush.store(true, Ordering::Release);
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
        let (channel, bus) = (self.ack_channel(), self.channel());
        self.call::<usize, _, _>("acknowledge", Attempts::Check, |mut link| {
            let (channel, bus) = (&channel, &bus);
            async move { link.publish(channel, nonce, bus).await }
        })
        .await;
    }
}

/// Subscribes and applies invalidations until `stop` fires, reconnecting as needed.
pub async fn run(shared: Arc<SharedCache>, local: Arc<LocalCache>, stop: CancellationToken) {
    let mut wait = Duration::from_millis(100);
    while !stop.is_cancelled() {
        let ended = subscribe_and_listen(&shared, &local, &stop).await;
        let was_live = shared.subscribed.swap(false, Ordering::AcqRel);
        if stop.is_cancelled() {
            // Shutting down ends the subscription on purpose: nothing was lost.
            break;
        }
        match ended {
            Ok(()) => wait = Duration::from_millis(100),
            // Before the cache's first connection (start-up, or Redis down: `connect` warns).
            Err(err) if !shared.is_connected() => {
                tracing::debug!(error = %err, "invalidation subscription waits for Redis");
            }
            Err(err) => tracing::warn!(error = %err, "invalidation subscription failed; retrying"),
        }
        if was_live {
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
    let mut pubsub = shared.subscriber().await?;
    let (channel, ack_channel) = (shared.channel(), shared.ack_channel());
    pubsub.subscribe(&[&channel, &ack_channel]).await?;
    // Anything published before this point was missed: start from an empty L1.
    local.flush();
    shared.subscribed.store(true, Ordering::Release);
    metrics::gauge!("kurz_cache_bus_up").set(1.0);
    tracing::info!("invalidation subscription live");
    let mut messages = pubsub.on_message();
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            // Behind Sentinel, the writes went to a new primary: listen there.
            () = shared.primary_moved.notified() => return Ok(()),
            message = messages.next() => message,
        };
        let Some(message) = message else {
            return Ok(()); // the connection closed
        };
        let Ok(payload) = message.get_payload::<String>() else {
            tracing::warn!("unreadable message on the invalidation channels");
            continue;
        };
        if message.get_channel_name() == ack_channel {
            if let Ok(nonce) = payload.parse() {
                shared.acks.record(nonce);
            }
            continue;
        }
        let Some((nonce, code)) = payload.split_once(':') else {
            continue;
        };
        if code == ALL {
            local.flush();
        } else {
            local.invalidate(code).await;
        }
        metrics::counter!("kurz_cache_invalidations_received_total").increment(1);
        shared.acknowledge(nonce).await;
    }
}

/// Invalidations waiting for their confirmations, by nonce.
#[derive(Default)]
pub struct Acks {
    waiting: Mutex<HashMap<u64, Waiter>>,
}

struct Waiter {
    received: usize,
    /// How many listeners Redis delivered to; unknown until PUBLISH answers.
    expected: Option<usize>,
    done: Option<oneshot::Sender<()>>,
}

impl Waiter {
    fn settle(&mut self) {
        if self
            .expected
            .is_some_and(|expected| self.received >= expected)
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}

impl Acks {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Waiter>) -> T) -> T {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut waiting)
    }

    /// Starts waiting for `nonce`, before it is published (acks may beat PUBLISH's answer).
    pub fn register(&self, nonce: u64) -> oneshot::Receiver<()> {
        let (done, acked) = oneshot::channel();
        self.with(|w| {
            w.insert(
                nonce,
                Waiter {
                    received: 0,
                    expected: None,
                    done: Some(done),
                },
            )
        });
        acked
    }

    pub fn expect(&self, nonce: u64, listeners: usize) {
        self.with(|w| {
            if let Some(waiter) = w.get_mut(&nonce) {
                waiter.expected = Some(listeners);
                waiter.settle();
            }
        });
    }

    pub fn record(&self, nonce: u64) {
        self.with(|w| {
            if let Some(waiter) = w.get_mut(&nonce) {
                waiter.received += 1;
                waiter.settle();
            }
        });
    }

    pub fn forget(&self, nonce: u64) {
        self.with(|w| w.remove(&nonce));
    }
}
