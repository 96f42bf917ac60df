//! Polling until something holds, within a time limit (blocking, or awaiting in a test's runtime).

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a cheap condition is checked again.
const POLL: Duration = Duration::from_millis(25);
/// How often an HTTP answer is asked for again.
const POLL_HTTP: Duration = Duration::from_millis(50);

/// Blocks until `ready` holds; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, ready: impl FnMut() -> bool) {
    assert!(
        poll_every(limit, POLL, ready),
        "{what}: not within {limit:?}"
    );
}

/// Blocks until `ready` holds, checking every `every` (for a check that is costly itself);
/// whether it came to hold within `limit`.
pub fn poll_every(limit: Duration, every: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(every);
    }
    true
}

/// Awaits `check` until it returns `Some`; panics with `what` and the last `None`'s message
/// after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?} (last: {last})"
            ),
        }
        tokio::time::sleep(POLL_HTTP).await;
    }
}
