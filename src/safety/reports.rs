//! Abuse reports on links, kept as `report` events, and deactivation once enough distinct
//! reporters agree.
//!
//! A reporter is an IPv4 address or an IPv6 /64 (one subscriber's usual allocation, so one
//! machine cannot pass for thousands) and counts once per link: a repeated report is
//! acknowledged but not stored again, which also keeps one client from filling the history.
//! Only reports since the link was last reactivated count, so a link an owner or admin has
//! put back is not taken down again by the next single report.

use crate::domain::{Event, Link, NewEvent, Timestamp, UrlPatch, event_type};
use crate::store::{EventFilter, EventStore, LinkStore, Page, StoreResult};
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::net::IpAddr;

/// One abuse report as received.
#[derive(Debug, Clone)]
pub struct Report {
    pub reporter: IpAddr,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored; `deactivated` when it brought the link to the threshold.
    Recorded { deactivated: bool },
    /// This reporter already reported the link since its last reactivation.
    AlreadyReported,
}

/// Where reports are kept and what they may change.
pub struct Stores<'a> {
    pub events: &'a dyn EventStore,
    /// The links as the caches see them, so a deactivation reaches every replica.
    pub links: &'a dyn LinkStore,
}

/// Stores `report` about `url` (an active link) unless its reporter already reported it,
/// and deactivates the link through an ordinary update (so caches are invalidated and an
/// `updated` event is written) when `threshold` (> 0) distinct reporters have reported it.
/// `cap` bounds how many events are read per list.
pub async fn file(
    stores: Stores<'_>,
    url: &Link,
    report: Report,
    threshold: u32,
    cap: i64,
) -> StoreResult<Outcome> {
    let store = stores.events;
    let since = last_reactivation(store, url.id, cap).await?;
    let reports = newest_events(store, Some(url.id), event_type::REPORT, cap).await?;
    let mut reporters: HashSet<IpNet> = reports
        .iter()
        .filter(|event| event.id > since)
        .filter_map(|event| event.details.get("reporter")?.as_str()?.parse().ok())
        .map(reporter_network)
        .collect();
    if !reporters.insert(reporter_network(report.reporter)) {
        return Ok(Outcome::AlreadyReported);
    }
    let deactivate = threshold > 0 && reporters.len() >= threshold as usize && url.is_active;
    store
        .create_event(report_event(url, &report, deactivate))
        .await?;
    if deactivate {
        let patch = UrlPatch {
            is_active: Some(false),
            ..UrlPatch::default()
        };
        stores
            .links
            .update_url(url.id, patch, Timestamp::now())
            .await?;
        metrics::counter!("kurz_reports_deactivations_total").increment(1);
        tracing::warn!(
            short_code = url.short_code,
            reporters = reporters.len(),
            "link deactivated by abuse reports"
        );
    }
    Ok(Outcome::Recorded {
        deactivated: deactivate,
    })
}

/// Who counts as one reporter: the address itself for IPv4 (also written as IPv4-mapped
/// IPv6), its /64 for IPv6.
pub fn reporter_network(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet::from(IpAddr::V4(v4)),
            None => IpNet::new_assert(IpAddr::V6(v6), 64).trunc(),
        },
        v4 => IpNet::from(v4),
    }
}

fn report_event(url: &Link, report: &Report, deactivates: bool) -> NewEvent {
    let mut details = Map::new();
    details.insert("short_code".into(), Value::String(url.short_code.clone()));
    details.insert(
        "reason".into(),
        report.reason.clone().map_or(Value::Null, Value::String),
    );
    details.insert(
        "reporter".into(),
        Value::String(report.reporter.to_string()),
    );
    details.insert("deactivated".into(), Value::Bool(deactivates));
    NewEvent {
        url_id: Some(url.id),
        user_id: url.user_id,
        event_type: event_type::REPORT.to_owned(),
        timestamp: Timestamp::now(),
        details,
    }
}

/// The id of the newest `updated` event that set the link active again (0: none).
async fn last_reactivation(store: &dyn EventStore, url_id: i64, cap: i64) -> StoreResult<i64> {
    let updates = newest_events(store, Some(url_id), event_type::UPDATED, cap).await?;
    Ok(updates
        .iter()
        .filter(|event| {
            event.details.get("field").and_then(Value::as_str) == Some("is_active")
                && event.details.get("new_value").and_then(Value::as_str) == Some("true")
        })
        .map(|event| event.id)
        .max()
        .unwrap_or(0))
}

/// The newest `cap` events of one type, about one link or (`None`) any (lists are ordered
/// oldest first: the page at their end).
pub async fn newest_events(
    store: &dyn EventStore,
    url_id: Option<i64>,
    kind: &str,
    cap: i64,
) -> StoreResult<Vec<Event>> {
    let filter = EventFilter {
        url_id,
        event_type: Some(kind.to_owned()),
        ..EventFilter::default()
    };
    let first = store
        .list_events(
            &filter,
            Page {
                limit: cap,
                offset: 0,
            },
        )
        .await?;
    if first.total <= first.items.len() as i64 {
        return Ok(first.items);
    }
    let last = Page {
        limit: cap,
        offset: first.total - cap,
    };
    Ok(store.list_events(&filter, last).await?.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(ip: &str) -> IpNet {
        reporter_network(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn an_ipv6_reporter_is_its_slash_64() {
        assert_eq!(network("2001:db8:1:2::1"), network("2001:db8:1:2:ffff::9"));
        assert_ne!(network("2001:db8:1:2::1"), network("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_reporter_is_its_address_however_written() {
        assert_eq!(network("198.51.100.7"), network("::ffff:198.51.100.7"));
        assert_ne!(network("198.51.100.7"), network("198.51.100.8"));
    }
}
