//! Tests of L1 (`local.rs`).

use super::*;
use std::sync::atomic::AtomicUsize;

fn url(target: &str) -> Lookup {
    Some(Arc::new(Link {
        id: 1,
        user_id: None,
        short_code: "abc".into(),
        target: target.into(),
        is_active: true,
        settings: None,
        password_hash: None,
    }))
}

#[test]
fn links_filled_together_expire_over_the_last_quarter_of_the_ttl_and_unknowns_at_once() {
    let ttl = Ttl {
        positive: Duration::from_secs(40),
        negative: Duration::from_secs(5),
    };
    let link = url("https://example.com/");
    let lifetimes: Vec<Duration> = (0..1_000).map(|_| ttl.lifetime(&link)).collect();
    let (Some(shortest), Some(longest)) = (lifetimes.iter().min(), lifetimes.iter().max()) else {
        unreachable!("a thousand lifetimes")
    };
    assert!(*shortest >= Duration::from_secs(30), "{shortest:?}");
    assert!(*longest <= Duration::from_secs(40), "{longest:?}");
    // A thousand draws within one tenth of the range: under 1 in 10^990 by chance.
    assert!(
        *longest - *shortest > Duration::from_secs(1),
        "spread, not one instant: {shortest:?} to {longest:?}"
    );
    assert_eq!(ttl.lifetime(&None), Duration::from_secs(5));
}

#[tokio::test]
async fn a_link_read_before_its_invalidation_and_put_after_it_is_not_served() {
    let cache = cache();
    let before = cache.mark();
    // The store is read here; then the link changes and its code is invalidated.
    cache.invalidate("abc").await;
    cache
        .put("abc", url("https://example.com/old"), before)
        .await;
    assert!(cache.get("abc").await.is_none(), "the old target is void");

    let after = cache.mark();
    cache
        .put("abc", url("https://example.com/new"), after)
        .await;
    let served = cache
        .get("abc")
        .await
        .and_then(|hit| hit.lookup)
        .map(|l| l.target.clone());
    assert_eq!(served.as_deref(), Some("https://example.com/new"));
}

fn cache() -> LocalCache {
    LocalCache::new(1 << 20, Duration::from_secs(60), Duration::from_secs(5))
}

fn target_of(lookup: &Result<Lookup, Arc<StoreError>>) -> Option<String> {
    lookup.as_ref().ok()?.as_ref().map(|u| u.target.clone())
}

#[tokio::test]
async fn a_burst_of_misses_on_one_code_fills_once() {
    let cache = Arc::new(cache());
    let fills = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (cache, fills) = (cache.clone(), fills.clone());
            tokio::spawn(async move {
                cache
                    .get_or_fill("abc", || async {
                        fills.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(url("https://a.example"))
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            target_of(
                &task
                    .await
                    .unwrap_or_else(|_| Err(Arc::new(StoreError::Corrupt("join".into()))))
            )
            .as_deref(),
            Some("https://a.example")
        );
    }
    assert_eq!(fills.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_invalidation_voids_a_fill_that_was_in_flight() {
    // The "store": a fill reads it, then takes its time before answering.
    let target = Arc::new(std::sync::Mutex::new("https://old.example".to_owned()));
    let cache = Arc::new(cache());
    let fill = {
        let target = target.clone();
        move || {
            let read = target.lock().map(|t| t.clone()).unwrap_or_default();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(url(&read))
            }
        }
    };
    let slow = {
        let (cache, fill) = (cache.clone(), fill.clone());
        tokio::spawn(async move { cache.get_or_fill("abc", fill).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // A write commits and invalidates while the fill is still reading the old value.
    *target.lock().unwrap_or_else(|e| e.into_inner()) = "https://new.example".to_owned();
    cache.invalidate("abc").await;
    let answered = slow
        .await
        .unwrap_or_else(|_| Err(Arc::new(StoreError::Corrupt("join".into()))));
    assert_eq!(target_of(&answered).as_deref(), Some("https://new.example"));
    let cached = cache
        .get("abc")
        .await
        .and_then(|hit| hit.lookup)
        .map(|u| u.target.clone());
    assert_eq!(cached.as_deref(), Some("https://new.example"));
}

#[tokio::test]
async fn a_link_is_due_for_a_refresh_in_its_last_eighth_and_a_refreshed_one_lives_anew() {
    // Links live 3 to 4 s here, and are due for a refresh in their last 0.5 s.
    let cache = LocalCache::new(1 << 20, Duration::from_secs(4), Duration::from_secs(10));
    let start = Instant::now();
    cache
        .put("abc", url("https://a.example"), cache.mark())
        .await;
    cache.put("gone", None, cache.mark()).await;
    let due = |hit: Option<Hit>| hit.map(|hit| hit.due);
    assert_eq!(due(cache.get("abc").await), Some(false), "fresh");
    // Looked at every 20 ms: due before it expires.
    loop {
        match due(cache.get("abc").await) {
            Some(true) => break,
            Some(false) => tokio::time::sleep(Duration::from_millis(20)).await,
            None => panic!("expired before it was due"),
        }
    }
    assert_eq!(
        due(cache.get("gone").await),
        Some(false),
        "unknowns are not refreshed"
    );

    // The refresh (at 2.5 s at the earliest) lives 3 s at least from then: past the first
    // entry's longest lifetime, it is served, and not due.
    cache
        .put("abc", url("https://b.example"), cache.mark())
        .await;
    tokio::time::sleep_until((start + Duration::from_millis(4_200)).into()).await;
    let Some(hit) = cache.get("abc").await else {
        panic!("the refreshed link expired with the first");
    };
    let target = hit.lookup.map(|link| link.target.clone());
    assert_eq!(target.as_deref(), Some("https://b.example"));
    assert!(!hit.due);
}

#[tokio::test]
async fn a_flush_voids_everything() {
    let cache = cache();
    cache
        .put("abc", url("https://a.example"), cache.mark())
        .await;
    assert!(cache.get("abc").await.is_some());
    cache.flush();
    assert!(cache.get("abc").await.is_none());
}

#[tokio::test]
async fn errors_are_not_cached() {
    let cache = cache();
    let failed = cache
        .get_or_fill("abc", || async { Err(StoreError::Corrupt("boom".into())) })
        .await;
    assert!(failed.is_err());
    let ok = cache
        .get_or_fill("abc", || async { Ok(url("https://a.example")) })
        .await;
    assert_eq!(target_of(&ok).as_deref(), Some("https://a.example"));
}
