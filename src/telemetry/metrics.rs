//! Metrics: the Prometheus recorder and process CPU/memory. What each metric means is
//! [`super::catalogue`]'s; the request metrics are recorded by the HTTP layer
//! (`http::observe`).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Latency buckets from 50 µs (a cached redirect) to 10 s, fine enough for p50/p95/p99.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// Creates written in one transaction: 1 to 256 (`store::creates`), in powers of two.
const CREATE_BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

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
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("kurz_create_batch_size".into()),
                        CREATE_BATCH_BUCKETS,
                    )
                })
                .and_then(|builder| builder.install_recorder())
                .map_err(|e| e.to_string())?;
            spawn_upkeep(handle.clone());
            Ok(handle)
        });
        let handle = installed
            .clone()
            .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
        super::catalogue::describe();
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
