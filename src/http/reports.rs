//! `POST /urls/{short_code}/report`: anyone may report a link as abusive. The report is
//! kept as a `report` event (visible through `GET /events?event_type=report`); enough
//! distinct reporters deactivate the link (`KURZ_REPORT_THRESHOLD`).

use super::AppState;
use super::client_ip::ClientIp;
use super::error::ApiError;
use super::extract::OptionalBody;
use super::input::{Checks, Input};
use super::schema;
use crate::domain::ShortCode;
use crate::safety::reports::{self, Outcome, Report, Stores};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest reason accepted.
const MAX_REASON_CHARS: usize = 1000;

/// Its own route, so an access policy can open it to the public alone.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

/// `POST /urls/{code}/report`; the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReportLink {
    #[schema(schema_with = reason_schema)]
    reason: Input<String>,
}

fn reason_schema() -> Object {
    schema::text(
        MAX_REASON_CHARS,
        format!("Why the link is abusive, at most {MAX_REASON_CHARS} characters."),
    )
}

/// The answer to every accepted report, whatever it changed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportReceipt {
    #[schema(examples("received"))]
    status: String,
    short_code: String,
}

fn parse_reason(raw: String) -> Result<Option<String>, String> {
    if raw.chars().count() > MAX_REASON_CHARS {
        return Err(format!("must be at most {MAX_REASON_CHARS} characters"));
    }
    let reason = raw.trim();
    Ok((!reason.is_empty()).then(|| reason.to_owned()))
}

#[utoipa::path(
    post, path = "/urls/{code}/report", operation_id = "reportLink", tag = "redirects",
    summary = "Report a link as abusive",
    description = "Recorded as a `report` event; enough distinct reporters deactivate the link. The answer is the same whatever the report changed.",
    params(("code" = String, Path, description = "The short code")),
    request_body(content = Option<ReportLink>, description = "Optional"),
    responses(
        (status = 202, description = "Received", body = ReportReceipt),
        (status = 400, description = "A body that is not a JSON object sent as JSON", body = super::openapi::ErrorBody),
        (status = 404, description = "No such code, an inactive link, or a malformed code", body = super::openapi::ErrorBody),
        (status = 422, description = "`reason` is invalid", body = super::openapi::ErrorBody),
    ),
    security(())
)]
async fn report(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ClientIp(client): ClientIp,
    OptionalBody(body): OptionalBody<ReportLink>,
) -> Result<impl IntoResponse, ApiError> {
    let mut checks = Checks::default();
    let reason = body.and_then(|body| checks.optional("reason", body.reason).flatten());
    let reason = checks.parse("reason", reason, parse_reason).flatten();
    checks.finish()?;
    // Like the redirect: an unknown, inactive or malformed code is not there to report.
    let code = ShortCode::parse(&code).map_err(|_| ApiError::not_found("short code"))?;
    let link = state
        .links
        .resolve(&code)
        .await?
        .filter(|link| link.is_active)
        .ok_or_else(|| ApiError::not_found("short code"))?;
    // Served requests always have a peer; unspecified is a safe stand-in.
    let reporter = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // Clicks answered earlier come before the report in the history.
    state.clicks.flush().await;
    let stores = Stores {
        events: &*state.events,
        links: &*state.links,
    };
    let outcome = reports::file(
        stores,
        &link,
        Report { reporter, reason },
        state.safety.report_threshold(),
        state.settings.list_cap,
    )
    .await?;
    let label = match outcome {
        Outcome::Recorded { deactivated: true } => "deactivated",
        Outcome::Recorded { deactivated: false } => "recorded",
        Outcome::AlreadyReported => "repeated",
    };
    metrics::counter!("kurz_reports_total", "outcome" => label).increment(1);
    // The same answer whatever happened: a reporter learns nothing about the count.
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "received", "short_code": link.short_code })),
    ))
}
