//! Every metric kurz records, with its kind, labels and meaning: one list, from which the
//! `# HELP` lines of `/metrics` are described at start-up and against which the operator's
//! reference (docs/RUNBOOK.md, "Every metric") is checked by the tests. A metric recorded
//! but missing here has no `# HELP` line, and the tests say so.

/// How a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// As the `# TYPE` line of `/metrics` names it. Every histogram is given buckets
    /// ([`super::Metrics::install`]), so none is exported as the exporter's default summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of kurz's own.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// Its label names.
    pub labels: &'static [&'static str],
    /// What it counts: its `# HELP` line.
    pub help: &'static str,
}

/// Every metric kurz records, in the order of their names. (The `process_*` metrics are the
/// process collector's, described by it.)
pub const METRICS: &[Metric] = &[
    Metric {
        name: "kurz_auth_failures_total",
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Requests refused for their API key (KURZ_AUTH=keys: API calls and web UI sign-ins), by reason (missing, scheme, unknown, revoked, expired, scope)",
    },
    Metric {
        name: "kurz_blocklist_entries",
        kind: Kind::Gauge,
        labels: &[],
        help: "Hosts on the blocklist in force",
    },
    Metric {
        name: "kurz_blocklist_invalid_lines",
        kind: Kind::Gauge,
        labels: &[],
        help: "Lines of the blocklist file skipped at its last load",
    },
    Metric {
        name: "kurz_blocklist_loaded_timestamp_seconds",
        kind: Kind::Gauge,
        labels: &[],
        help: "When the blocklist in force was read (Unix time)",
    },
    Metric {
        name: "kurz_blocklist_reloads_total",
        kind: Kind::Counter,
        labels: &["result"],
        help: "Blocklist loads, by result (error: the last good list stayed in force)",
    },
    Metric {
        name: "kurz_build_info",
        kind: Kind::Gauge,
        labels: &["version"],
        help: "Always 1; the running version in its label",
    },
    Metric {
        name: "kurz_cache_bus_up",
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while the invalidation subscription is live",
    },
    Metric {
        name: "kurz_cache_errors_total",
        kind: Kind::Counter,
        labels: &["tier", "op"],
        help: "Failed Redis calls, by operation",
    },
    Metric {
        name: "kurz_cache_fills_total",
        kind: Kind::Counter,
        labels: &["tier"],
        help: "L1 fills (one per coalesced burst of misses)",
    },
    Metric {
        name: "kurz_cache_invalidation_ack_timeouts_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Invalidations not confirmed by every listening replica within 250 ms (the write was answered anyway: a replica that is hung but still subscribed cannot hold writes up)",
    },
    Metric {
        name: "kurz_cache_invalidations_received_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Invalidations received from other replicas",
    },
    Metric {
        name: "kurz_cache_prewarmed_links",
        kind: Kind::Gauge,
        labels: &[],
        help: "Links loaded into the caches at start-up",
    },
    Metric {
        name: "kurz_cache_refreshes_total",
        kind: Kind::Counter,
        labels: &["result"],
        help: "Links visited near the end of their L1 lifetime and read again from the store in the background, by result (ok, failed)",
    },
    Metric {
        name: "kurz_cache_requests_total",
        kind: Kind::Counter,
        labels: &["tier", "result"],
        help: "Cache lookups by tier (l1, l2) and result (hit, miss)",
    },
    Metric {
        name: "kurz_cache_store_lookups_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Short-code lookups that reached the store",
    },
    Metric {
        name: "kurz_click_batches_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Batches of click events written",
    },
    Metric {
        name: "kurz_click_queue_depth",
        kind: Kind::Gauge,
        labels: &[],
        help: "Click events waiting to be written",
    },
    Metric {
        name: "kurz_click_queue_waits_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Redirects that waited for room in a full click queue (overload: the store writes clicks slower than they come)",
    },
    Metric {
        name: "kurz_click_write_errors_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Failed attempts to write a batch of click events",
    },
    Metric {
        name: "kurz_clicks_dropped_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Click events dropped (queue full, or the store refused them)",
    },
    Metric {
        name: "kurz_clicks_forgotten_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Click events deleted for being older than KURZ_CLICK_RETENTION_DAYS",
    },
    Metric {
        name: "kurz_clicks_queued_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Click events queued by redirects",
    },
    Metric {
        name: "kurz_clicks_total",
        kind: Kind::Counter,
        labels: &["class"],
        help: "Click events written, by visit class (human, bot, preview, prefetch)",
    },
    Metric {
        name: "kurz_clicks_written_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Click events written to the store",
    },
    Metric {
        name: "kurz_create_batch_size",
        kind: Kind::Histogram,
        labels: &[],
        help: "Creates written together in one store transaction",
    },
    Metric {
        name: "kurz_http_request_duration_seconds",
        kind: Kind::Histogram,
        labels: &["method", "route", "status"],
        help: "HTTP request latency, by method, route template and status class (2xx to 5xx)",
    },
    Metric {
        name: "kurz_http_requests_in_flight",
        kind: Kind::Gauge,
        labels: &[],
        help: "HTTP requests being served",
    },
    Metric {
        name: "kurz_http_requests_total",
        kind: Kind::Counter,
        labels: &["method", "route", "status"],
        help: "HTTP requests answered, by method, route template and status",
    },
    Metric {
        name: "kurz_link_password_attempts_total",
        kind: Kind::Counter,
        labels: &["result"],
        help: "Passwords tried on protected links, by result (right, wrong)",
    },
    Metric {
        name: "kurz_panics_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Requests that panicked (answered 500)",
    },
    Metric {
        name: "kurz_rate_limited_total",
        kind: Kind::Counter,
        labels: &["kind"],
        help: "Requests answered 429, by limit (create, change, password)",
    },
    Metric {
        name: "kurz_redirects_blocked_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Redirects refused (410) because the target's host is now blocked",
    },
    Metric {
        name: "kurz_redis_primary_changes_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Failovers followed to a new Redis primary (Sentinel)",
    },
    Metric {
        name: "kurz_redis_up",
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while Redis answers",
    },
    Metric {
        name: "kurz_reports_deactivations_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Links deactivated by reaching the abuse-report threshold",
    },
    Metric {
        name: "kurz_reports_total",
        kind: Kind::Counter,
        labels: &["outcome"],
        help: "Abuse reports received, by outcome",
    },
    Metric {
        name: "kurz_requests_shed_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Requests answered 503 at once because the in-flight bound was reached",
    },
    Metric {
        name: "kurz_requests_timed_out_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Requests answered 503 because they ran past KURZ_REQUEST_TIMEOUT_MS",
    },
    Metric {
        name: "kurz_short_code_collisions_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Generated short codes that were already taken",
    },
    Metric {
        name: "kurz_sqlite_checkpoint_duration_seconds",
        kind: Kind::Histogram,
        labels: &[],
        help: "Duration of the embedded store's WAL checkpoints (copying pages and syncing the database file)",
    },
    Metric {
        name: "kurz_sqlite_checkpoints_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Passive WAL checkpoints of the embedded store, run beside its writer",
    },
    Metric {
        name: "kurz_sqlite_clicks_behind_creates_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Transactions of clicks on the embedded store that stopped waiting for creates in flight and took their turn at the writer",
    },
    Metric {
        name: "kurz_sqlite_events_index_lag",
        kind: Kind::Gauge,
        labels: &[],
        help: "Events on the embedded store not yet in its index file (read by a scan meanwhile)",
    },
    Metric {
        name: "kurz_sqlite_wal_frames",
        kind: Kind::Gauge,
        labels: &[],
        help: "Pages (frames) in the embedded store's WAL at its last checkpoint",
    },
    Metric {
        name: "kurz_store_breaker_open",
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while the database is known to be down and requests that need it are answered 503 at once",
    },
    Metric {
        name: "kurz_store_breaker_opened_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Times the database breaker opened",
    },
    Metric {
        name: "kurz_store_breaker_rejections_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Store calls answered at once (503) because the breaker was open",
    },
    Metric {
        name: "kurz_store_operation_duration_seconds",
        kind: Kind::Histogram,
        labels: &["op"],
        help: "Store calls, by operation, retries and waits for a connection included",
    },
    Metric {
        name: "kurz_store_pool_acquire_seconds",
        kind: Kind::Histogram,
        labels: &["pool"],
        help: "Waits for a pooled store connection, by pool",
    },
    Metric {
        name: "kurz_store_pool_connections",
        kind: Kind::Gauge,
        labels: &["pool"],
        help: "Open connections of each store pool (read at each scrape)",
    },
    Metric {
        name: "kurz_store_pool_idle",
        kind: Kind::Gauge,
        labels: &["pool"],
        help: "Idle connections of each store pool (read at each scrape)",
    },
    Metric {
        name: "kurz_store_retries_total",
        kind: Kind::Counter,
        labels: &["op"],
        help: "Store calls retried after a transient failure, by operation",
    },
    Metric {
        name: "kurz_store_up",
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while the store answers (checked at each scrape)",
    },
    Metric {
        name: "kurz_targets_refused_total",
        kind: Kind::Counter,
        labels: &["rule", "write"],
        help: "Targets refused at create or update, by rule (blocklist, own_host, private) and write",
    },
    Metric {
        name: "kurz_visit_cap_refusals_total",
        kind: Kind::Counter,
        labels: &[],
        help: "Visits refused because the link's visit cap was used up",
    },
];

/// Describes every metric of [`METRICS`] to the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    for metric in METRICS {
        match metric.kind {
            Kind::Counter => describe_counter!(metric.name, metric.help),
            Kind::Gauge => describe_gauge!(metric.name, metric.help),
            Kind::Histogram => describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::METRICS;

    #[test]
    fn each_metric_is_listed_once_in_the_order_of_the_names() {
        let names: Vec<&str> = METRICS.iter().map(|metric| metric.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(names.iter().all(|name| name.starts_with("kurz_")));
    }
}
