//! Metrics: the Prometheus recorder, what each metric means, and process CPU/memory. The
//! request metrics are recorded by the HTTP layer (`http::observe`).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Latency buckets from 50 µs (a cached redirect) to 10 s, fine enough for p50/p95/p99.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// The metrics facade is process-wide by design (call sites need no handle), so the recorder
/// is installed once per process; every `AppState` shares its handle.
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// How often histogram samples are folded into their buckets without a scrape.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample until they are folded into buckets, which
/// happens on a scrape or an upkeep: without Prometheus scraping, memory grew by 8 bytes
/// per request per histogram. A thread of its own, so it runs whatever runtime is up.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "could not start the metrics upkeep thread");
    }
}

/// Renders `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    process: Arc<metrics_process::Collector>,
}

impl Metrics {
    /// Installs the recorder on first use and describes kurz's metrics.
    pub fn install() -> anyhow::Result<Self> {
        // `get_or_init` runs the installation once; concurrent callers wait for it.
        let installed = RECORDER.get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder())
                .map_err(|e| e.to_string())?;
            spawn_upkeep(handle.clone());
            Ok(handle)
        });
        let handle = installed
            .clone()
            .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
        describe();
        metrics::gauge!("kurz_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        let process = metrics_process::Collector::default();
        process.describe();
        Ok(Self {
            handle,
            process: Arc::new(process),
        })
    }

    /// The exposition text, with process figures read now.
    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.run_upkeep();
        self.handle.render()
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "kurz_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "kurz_http_request_duration_seconds",
        "HTTP request latency, by method and route template"
    );
    describe_gauge!("kurz_http_requests_in_flight", "HTTP requests being served");
    describe_counter!(
        "kurz_clicks_queued_total",
        "Click events queued by redirects"
    );
    describe_counter!(
        "kurz_clicks_written_total",
        "Click events written to the store"
    );
    describe_counter!(
        "kurz_clicks_dropped_total",
        "Click events dropped (queue full, or the store refused them)"
    );
    describe_counter!(
        "kurz_click_queue_waits_total",
        "Redirects that waited for room in a full click queue (overload: the store writes clicks slower than they come)"
    );
    describe_counter!(
        "kurz_click_batches_total",
        "Batches of click events written"
    );
    describe_counter!(
        "kurz_sqlite_checkpoints_total",
        "Passive WAL checkpoints of the embedded store, run beside its writer"
    );
    describe_histogram!(
        "kurz_sqlite_checkpoint_duration_seconds",
        "Duration of the embedded store's WAL checkpoints (copying pages and syncing the database file)"
    );
    describe_gauge!(
        "kurz_sqlite_wal_frames",
        "Pages (frames) in the embedded store's WAL at its last checkpoint"
    );
    describe_counter!(
        "kurz_sqlite_clicks_behind_creates_total",
        "Transactions of clicks on the embedded store that stopped waiting for creates in flight and took their turn at the writer"
    );
    describe_counter!(
        "kurz_click_write_errors_total",
        "Failed attempts to write a batch of click events"
    );
    describe_gauge!(
        "kurz_click_queue_depth",
        "Click events waiting to be written"
    );
    describe_counter!(
        "kurz_short_code_collisions_total",
        "Generated short codes that were already taken"
    );
    describe_counter!("kurz_panics_total", "Requests that panicked (answered 500)");
    describe_counter!(
        "kurz_requests_shed_total",
        "Requests answered 503 at once because the in-flight bound was reached"
    );
    describe_counter!(
        "kurz_requests_timed_out_total",
        "Requests answered 503 because they ran past KURZ_REQUEST_TIMEOUT_MS"
    );
    describe_counter!(
        "kurz_cache_requests_total",
        "Cache lookups by tier (l1, l2) and result (hit, miss)"
    );
    describe_counter!(
        "kurz_cache_fills_total",
        "L1 fills (one per coalesced burst of misses)"
    );
    describe_counter!(
        "kurz_cache_store_lookups_total",
        "Short-code lookups that reached the store"
    );
    describe_counter!(
        "kurz_cache_errors_total",
        "Failed Redis calls, by operation"
    );
    describe_counter!(
        "kurz_cache_invalidations_received_total",
        "Invalidations received from other replicas"
    );
    describe_gauge!(
        "kurz_cache_bus_up",
        "1 while the invalidation subscription is live"
    );
    describe_gauge!("kurz_redis_up", "1 while Redis answers");
    describe_counter!(
        "kurz_redis_primary_changes_total",
        "Failovers followed to a new Redis primary (Sentinel)"
    );
    describe_gauge!(
        "kurz_cache_prewarmed_links",
        "Links loaded into the caches at start-up"
    );
    describe_counter!(
        "kurz_store_retries_total",
        "Store calls retried after a transient failure, by operation"
    );
}
