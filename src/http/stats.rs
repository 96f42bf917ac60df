//! `/urls/{id}/stats` and `/stats`: clicks over a period, by class, over time and by
//! dimension, read from the counters (one row per hour, and per day and value, whatever the
//! number of clicks).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, FieldErrors};
use super::extract::parse_id;
use super::urls::readable_url;
use crate::domain::Timestamp;
use crate::domain::stats::{Interval, Period, Stats};
use axum::Json;
use axum::extract::{Path, Query, State};
use std::collections::HashMap;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(link_stats))
        .routes(routes!(all_stats))
}

/// The period of a stats request.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PeriodParams {
    /// Start (UTC, e.g. `2026-11-01T00:00:00`); default: 30 days before `to`. Counters are
    /// hourly: the hour `from` falls in counts whole; the dimension lists count whole days.
    from: Option<Timestamp>,
    /// End, exclusive; default: the end of the current UTC day.
    to: Option<Timestamp>,
    /// The width of a series point; default `day`. Days start at 00:00 UTC, weeks on Monday.
    interval: Option<Interval>,
}

/// The period asked for, every problem named by its parameter (422).
fn period(params: &HashMap<String, String>) -> Result<Period, ApiError> {
    let mut problems = FieldErrors::new();
    let mut time = |name: &str| match params.get(name) {
        None => None,
        Some(raw) => Timestamp::parse(raw)
            .map_err(|problem| problems.insert(name.to_owned(), problem))
            .ok(),
    };
    let (from, to) = (time("from"), time("to"));
    let interval = match params.get("interval").map(|raw| Interval::parse(raw)) {
        Some(Err(problem)) => {
            problems.insert("interval".into(), problem);
            None
        }
        Some(Ok(interval)) => Some(interval),
        None => None,
    };
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Period::new(from, to, interval, Timestamp::now())
        .map_err(|(field, problem)| ApiError::invalid(field, problem))
}

#[utoipa::path(
    get, path = "/urls/{id}/stats", operation_id = "getUrlStats", tag = "stats",
    summary = "A link's clicks: humans, bots, previews and prefetches, over time and by referrer, browser, OS, device, country and language",
    description = "Dimension lists count human clicks: the top 10, then `other`. In `keys` mode a key of a user sees only that user's links.",
    params(("id" = i64, Path, description = "The url's id"), PeriodParams),
    responses(
        (status = 200, description = "The link's stats", body = Stats),
        (status = 403, description = "A key of a user, asking for another user's link", body = super::openapi::ErrorBody),
        (status = 404, description = "No such url", body = super::openapi::ErrorBody),
        (status = 422, description = "`from`, `to` or `interval` is invalid, or the period has more than 1,000 points; `details` names the parameter", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn link_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Stats>, ApiError> {
    let id = parse_id(&id, "url")?;
    link_stats_of(&state, &caller, id, &params).await.map(Json)
}

/// A link's stats as `GET /urls/{id}/stats` answers them (the web UI's link page shows the same).
pub(crate) async fn link_stats_of(
    state: &AppState,
    caller: &Caller,
    id: i64,
    params: &HashMap<String, String>,
) -> Result<Stats, ApiError> {
    let period = period(params)?;
    readable_url(state, caller, id).await?;
    // As for the event list: what this replica has queued counts.
    state.clicks.flush().await;
    let counters = state.stats.counters(Some(id), period.buckets()).await?;
    Ok(Stats::assemble(Some(id), period, counters))
}

#[utoipa::path(
    get, path = "/stats", operation_id = "getStats", tag = "stats",
    summary = "Clicks on every link, as for one link, with the 10 links most clicked by humans",
    params(PeriodParams),
    responses(
        (status = 200, description = "The stats of all links", body = Stats),
        (status = 422, description = "`from`, `to` or `interval` is invalid, or the period has more than 1,000 points; `details` names the parameter", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["admin"]))
)]
async fn all_stats(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Stats>, ApiError> {
    let period = period(&params)?;
    state.clicks.flush().await;
    let counters = state.stats.counters(None, period.buckets()).await?;
    Ok(Json(Stats::assemble(None, period, counters)))
}
