//! Per-client rate limits on writes: creates and changes, each a generic cell rate (a
//! sustained rate plus a burst). With Redis the count is shared by every replica, so a
//! client spreading its requests over replicas gets the same allowance; without Redis, or
//! while it does not answer, each replica counts on its own. The HTTP layer decides what
//! counts as which write and whom to count (`http::rate_limit`).

use crate::cache::SharedRateLimit;
use crate::config::SecuritySettings;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// How often idle clients' in-process state is forgotten (it is recreated full on return).
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);
/// Password attempts one client may make on one link at once, then one per
/// [`PASSWORD_ATTEMPT_EVERY`]: enough for a person's typos, far too few to guess.
pub const PASSWORD_ATTEMPTS: u32 = 5;
pub const PASSWORD_ATTEMPT_EVERY: Duration = Duration::from_secs(12);

/// Which allowance a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Create,
    Change,
    /// A password sent to a protected link (counted per client and link).
    Password,
}

impl WriteKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Change => "change",
            Self::Password => "password",
        }
    }
}

/// One allowance: its rate in both tiers.
struct Allowance {
    local: DefaultKeyedRateLimiter<String>,
    /// Time between requests at the sustained rate.
    interval: Duration,
    burst: u32,
}

impl Allowance {
    fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        Self::every(Duration::from_secs(1) / rate.get(), burst)
    }

    /// One request per `interval` after a burst of `burst`.
    fn every(interval: Duration, burst: u32) -> Option<Self> {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)?.allow_burst(burst);
        Some(Self {
            local: DefaultKeyedRateLimiter::keyed(quota),
            interval,
            burst: burst.get(),
        })
    }

    fn check_locally(&self, client: &String) -> Result<(), Duration> {
        self.local
            .check_key(client)
            .map_err(|not_until| not_until.wait_time_from(self.local.clock().now()))
    }
}

/// The limits of this process; cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    creates: Option<Arc<Allowance>>,
    changes: Option<Arc<Allowance>>,
    passwords: Option<Arc<Allowance>>,
    shared: Option<SharedRateLimit>,
}

impl RateLimits {
    pub fn new(settings: &SecuritySettings, shared: Option<SharedRateLimit>) -> Self {
        let allowance = |rate, burst| Allowance::new(rate, burst).map(Arc::new);
        Self {
            creates: allowance(settings.rate_creates_per_sec, settings.rate_creates_burst),
            changes: allowance(settings.rate_writes_per_sec, settings.rate_writes_burst),
            passwords: Allowance::every(PASSWORD_ATTEMPT_EVERY, PASSWORD_ATTEMPTS).map(Arc::new),
            shared,
        }
    }

    /// Forgets clients that have been quiet long enough to have their full burst back, so
    /// memory follows the number of active clients, not of all clients ever seen.
    pub fn spawn_forgetter(&self) {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FORGET_IDLE_EVERY);
            loop {
                every.tick().await;
                for allowance in [&limits.creates, &limits.changes, &limits.passwords]
                    .into_iter()
                    .flatten()
                {
                    allowance.local.retain_recent();
                    allowance.local.shrink_to_fit();
                }
            }
        });
    }

    /// `Err(wait)` when `client` must wait before another request of this kind.
    pub async fn check(&self, kind: WriteKind, client: &str) -> Result<(), Duration> {
        let allowance = match kind {
            WriteKind::Create => &self.creates,
            WriteKind::Change => &self.changes,
            WriteKind::Password => &self.passwords,
        };
        let Some(allowance) = allowance else {
            return Ok(());
        };
        let bucket = format!("{}:{client}", kind.label());
        if let Some(shared) = &self.shared
            && let Some(verdict) = shared
                .check(&bucket, allowance.interval, allowance.burst)
                .await
        {
            return verdict;
        }
        allowance.check_locally(&bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_passes_then_the_rate_applies() {
        let Some(allowance) = Allowance::new(1, 3) else {
            panic!("a non-zero rate makes an allowance")
        };
        let client = "ip:10.0.0.1".to_owned();
        for _ in 0..3 {
            assert!(allowance.check_locally(&client).is_ok());
        }
        let wait = allowance.check_locally(&client).err();
        assert!(wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_secs(1)));
        assert!(allowance.check_locally(&"ip:10.0.0.2".to_owned()).is_ok());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        assert!(Allowance::new(0, 10).is_none());
    }
}
