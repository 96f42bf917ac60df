//! Metrics: a Prometheus recorder, the per-request middleware, and process CPU/memory.
//! Requests are labelled by route template (`/users/{id}`), never by raw path.

use crate::app::AppState;
use crate::http::client_ip::ClientIp;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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
        "kurz_click_batches_total",
        "Batches of click events written"
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

/// "2xx", "4xx", …: the status label of the latency histogram (full codes would multiply
/// its series for little gain; the request counter keeps them).
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Standard methods as static strings: labels then need no allocation.
fn method_label(method: &axum::http::Method) -> metrics::SharedString {
    use axum::http::Method;
    let name = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => return metrics::SharedString::from(method.to_string()),
    };
    metrics::SharedString::const_str(name)
}

/// The status code as a label, static for the codes kurz answers.
fn status_label(status: axum::http::StatusCode) -> metrics::SharedString {
    match status.as_str() {
        code @ ("200" | "201" | "204" | "302" | "400" | "401" | "403" | "404" | "405" | "409"
        | "410" | "413" | "422" | "429" | "500" | "503") => {
            metrics::SharedString::const_str(static_code(code))
        }
        other => metrics::SharedString::from(other.to_owned()),
    }
}

fn static_code(code: &str) -> &'static str {
    const CODES: [&str; 16] = [
        "200", "201", "204", "302", "400", "401", "403", "404", "405", "409", "410", "413", "422",
        "429", "500", "503",
    ];
    CODES.into_iter().find(|c| *c == code).unwrap_or("other")
}

/// The access log line of one request (target `kurz::access`). `client` is only worked out
/// when the line is written.
pub fn access_line(
    method: &Method,
    route: &str,
    status: StatusCode,
    elapsed: Duration,
    request_id: &str,
    client: impl FnOnce() -> Option<IpAddr>,
) {
    if !tracing::enabled!(target: "kurz::access", tracing::Level::INFO) {
        return;
    }
    tracing::info!(
        target: "kurz::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_us = elapsed.as_micros() as u64,
        request_id = %request_id,
        client = client().map(|c| c.to_string()).unwrap_or_default(),
        "request"
    );
}

/// The metrics of one route's redirects (`GET` answered `302`), registered once: a cached
/// redirect then records them without the registry lookup (hashing name and labels) that
/// `counter!` and `histogram!` make per call. The same series as [`observe`] records.
pub struct RedirectMetrics {
    requests: Counter,
    duration: Histogram,
}

impl RedirectMetrics {
    pub fn register(route: &'static str) -> Self {
        Self {
            requests: metrics::counter!(
                "kurz_http_requests_total",
                "method" => "GET", "route" => route, "status" => "302"
            ),
            duration: metrics::histogram!(
                "kurz_http_request_duration_seconds",
                "method" => "GET", "route" => route, "status" => "3xx"
            ),
        }
    }

    /// One redirect answered after `elapsed`.
    pub fn found(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// Logs one line per request and records its metrics. Also works out the client's address
/// (see [`crate::http::client_ip::TrustedProxies`]) and leaves it in the request for the handlers.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unknown>".to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get(crate::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| state.proxies.client_ip(peer.ip(), request.headers()));
    if let Some(client) = client {
        request.extensions_mut().insert(ClientIp(client));
    }
    let in_flight = metrics::gauge!("kurz_http_requests_in_flight");
    in_flight.increment(1.0);

    let span = tracing::info_span!("request", request_id = %request_id);
    let response = tracing::Instrument::instrument(next.run(request), span).await;

    in_flight.decrement(1.0);
    let elapsed = start.elapsed();
    let status = response.status();
    let method_name = method_label(&method);
    metrics::histogram!(
        "kurz_http_request_duration_seconds",
        "method" => method_name.clone(),
        "route" => route.clone(),
        "status" => status_class(status.as_u16())
    )
    .record(elapsed.as_secs_f64());
    metrics::counter!(
        "kurz_http_requests_total",
        "method" => method_name,
        "route" => route.clone(),
        "status" => status_label(status)
    )
    .increment(1);
    access_line(&method, &route, status, elapsed, &request_id, || client);
    response
}
