//! Rate-limit counting in Redis, shared by every replica: a generic cell rate algorithm
//! run as one script, so checking and updating a client's allowance is one atomic step
//! however many replicas ask at once. Redis's own clock is used, so replicas' clocks
//! need not agree.

use super::shared::SharedCache;
use std::sync::Arc;
use std::time::Duration;

/// `KEYS[1]`: the client's bucket. `ARGV[1]`: microseconds between requests at the
/// sustained rate; `ARGV[2]`: the burst. Returns 0 when the request may pass (and counts
/// it), else the microseconds to wait. The bucket holds the theoretical arrival time of
/// the next request and expires once it is in the past (a full burst is back).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return wait end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// The shared tier of the rate limits; cheap to clone.
#[derive(Clone)]
pub struct SharedRateLimit {
    cache: Arc<SharedCache>,
    script: Arc<redis::Script>,
}

impl SharedRateLimit {
    pub(super) fn new(cache: Arc<SharedCache>) -> Self {
        Self {
            cache,
            script: Arc::new(redis::Script::new(GCRA)),
        }
    }

    /// `Some(Ok)` when the request may pass, `Some(Err(wait))` when not, `None` when Redis
    /// did not answer (the caller then counts in process).
    pub async fn check(
        &self,
        bucket: &str,
        interval: Duration,
        burst: u32,
    ) -> Option<Result<(), Duration>> {
        let key = self.cache.rate_key(bucket);
        let interval_us = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let wait_us: u64 = self
            .cache
            .call("rate_limit", super::shared::Attempts::One, |mut link| {
                let (script, key) = (&self.script, &key);
                async move {
                    script
                        .key(key)
                        .arg(interval_us)
                        .arg(burst.max(1))
                        .invoke_async(&mut link)
                        .await
                }
            })
            .await?;
        Some(if wait_us == 0 {
            Ok(())
        } else {
            Err(Duration::from_micros(wait_us))
        })
    }
}
