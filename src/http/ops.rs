//! Operations endpoints: liveness, readiness, metrics.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest wait for the store's answer when a scrape asks whether it is up.
const STORE_PROBE: Duration = Duration::from_secs(1);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// `/metrics`: on the API's port, or on its own listener (`KURZ_METRICS_LISTEN`).
pub fn metrics_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Liveness.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    #[schema(examples("ok"))]
    status: String,
}

/// Readiness: whether this replica should receive traffic.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Readiness {
    /// `ok`, `unavailable` (the database is unreachable or not migrated yet) or `draining`
    /// (shutting down).
    #[schema(pattern = "^(ok|unavailable|draining)$")]
    status: String,
    #[schema(pattern = "^(ok|unreachable|migrating)$")]
    database: String,
    /// `off` without Redis; `degraded` while Redis is configured but unreachable (kurz keeps
    /// serving).
    #[schema(pattern = "^(ok|degraded|off)$")]
    cache: String,
}

#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "operations",
    summary = "Liveness: 200 while the process serves",
    responses((status = 200, description = "Serving", body = Health)),
    security(())
)]
/// 200 while the process serves.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(
    get, path = "/ready", operation_id = "ready", tag = "operations",
    summary = "Readiness: whether this replica should get traffic",
    description = "503 while the database is unreachable or not migrated, and once shutdown has begun.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; the body says why", body = Readiness),
    ),
    security(())
)]
/// 200 when the store answers and the schema is in place; 503 otherwise (and while shutting
/// down), so load balancers route around this replica. A cache outage is `degraded`, not
/// a failure: kurz serves without it.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let cache = state.links.status();
    let database = match state.schema.ping().await {
        Ok(()) if state.health.schema_ready() => "ok",
        Ok(()) => "migrating",
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: store unreachable");
            "unreachable"
        }
    };
    let draining = state.health.draining();
    let (status, word) = match (database, draining) {
        (_, true) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        ("ok", false) => (StatusCode::OK, "ok"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (
        status,
        Json(json!({ "status": word, "database": database, "cache": cache })),
    )
}

#[utoipa::path(
    get, path = "/metrics", operation_id = "metrics", tag = "operations",
    summary = "Prometheus metrics",
    description = "Served on its own listener instead when `KURZ_METRICS_LISTEN` is set.",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")),
    security(())
)]
/// Prometheus text. Gauges that describe the present (queue depth, pools, whether the
/// database answers) are read now, so they are fresh at every scrape.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("kurz_click_queue_depth").set(state.clicks.depth() as f64);
    let store_up = tokio::time::timeout(STORE_PROBE, state.schema.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    metrics::gauge!("kurz_store_up").set(if store_up { 1.0 } else { 0.0 });
    for pool in state.schema.pool_stats() {
        metrics::gauge!("kurz_store_pool_connections", "pool" => pool.name)
            .set(f64::from(pool.size));
        metrics::gauge!("kurz_store_pool_idle", "pool" => pool.name).set(pool.idle as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
