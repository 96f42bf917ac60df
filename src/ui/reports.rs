//! `/reports` (admins): the abuse-report queue. Each reported link with its reports since
//! an admin last dealt with it (their number, reasons, latest time), and two answers:
//! switch the link off, or dismiss the reports (a `reports_dismissed` event; the link
//! leaves the queue until it is reported again).

use super::forms::Posted;
use super::layout::{csrf_field, page, problem, see_other};
use super::links::{link_id, no_such_link, unavailable};
use super::session::Viewer;
use crate::domain::{Event, NewEvent, Timestamp, UrlPatch, event_type};
use crate::http::AppState;
use crate::limits::WriteKind;
use crate::safety::reports::newest_events;
use crate::store::LinkStore;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use std::collections::BTreeMap;

/// A link in the queue.
struct Reported {
    url_id: i64,
    short_code: String,
    count: usize,
    reasons: Vec<String>,
    latest: Timestamp,
}

pub async fn queue(State(state): State<AppState>, viewer: Viewer) -> Response {
    if viewer.caller.is_none() {
        return see_other("/signin", &viewer);
    }
    if !viewer.is_admin() {
        return not_admin(&viewer);
    }
    let cap = state.settings.list_cap;
    let (reports, dismissals) = match (
        newest_events(&*state.events, None, event_type::REPORT, cap).await,
        newest_events(&*state.events, None, event_type::REPORTS_DISMISSED, cap).await,
    ) {
        (Ok(reports), Ok(dismissals)) => (reports, dismissals),
        (Err(err), _) | (_, Err(err)) => return unavailable(&viewer, &err.to_string()),
    };
    let queued = pending(&reports, &dismissals);
    let mut links = Vec::new();
    for reported in queued {
        let active = match state.links.get_url(reported.url_id).await {
            Ok(Some(url)) => url.is_active,
            Ok(None) => continue,
            Err(err) => return unavailable(&viewer, &err.to_string()),
        };
        links.push((reported, active));
    }
    let body = html! {
        @if links.is_empty() { p { "No reports wait for an answer." } }
        @else {
            div.table { table {
                thead { tr {
                    th scope="col" { "Link" } th scope="col" class="number" { "Reports" }
                    th scope="col" { "Reasons" } th scope="col" { "Latest" } th scope="col" { "State" }
                    th scope="col" { span.hidden { "Actions" } }
                } }
                tbody {
                    @for (reported, active) in &links {
                        tr {
                            td { a href={ "/links/" (reported.url_id) } { (reported.short_code) } }
                            td.number { (reported.count) }
                            td { (reported.reasons.join("; ")) }
                            td { (reported.latest) }
                            td { @if *active { "active" } @else { "off" } }
                            td.actions {
                                @if *active {
                                    form.inline method="post" action={ "/reports/" (reported.url_id) "/deactivate" } {
                                        (csrf_field(&viewer))
                                        button.danger type="submit" aria-label={ "Switch off " (reported.short_code) } { "Switch off" }
                                    }
                                }
                                form.inline method="post" action={ "/reports/" (reported.url_id) "/dismiss" } {
                                    (csrf_field(&viewer))
                                    button type="submit" aria-label={ "Dismiss the reports of " (reported.short_code) } { "Dismiss" }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    page(&viewer, StatusCode::OK, "Reports", body)
}

/// The reported links whose latest report is newer than their latest dismissal, most
/// reported first.
fn pending(reports: &[Event], dismissals: &[Event]) -> Vec<Reported> {
    let mut dismissed: BTreeMap<i64, i64> = BTreeMap::new();
    for event in dismissals {
        if let Some(url) = event.url_id {
            dismissed.insert(url, event.id);
        }
    }
    let mut queue: BTreeMap<i64, Reported> = BTreeMap::new();
    for event in reports {
        let Some(url_id) = event.url_id else { continue };
        if dismissed
            .get(&url_id)
            .is_some_and(|after| event.id < *after)
        {
            continue;
        }
        let entry = queue.entry(url_id).or_insert_with(|| Reported {
            url_id,
            short_code: event
                .details
                .get("short_code")
                .and_then(|c| c.as_str())
                .unwrap_or("")
                .to_owned(),
            count: 0,
            reasons: Vec::new(),
            latest: event.timestamp,
        });
        entry.count += 1;
        entry.latest = entry.latest.max(event.timestamp);
        if let Some(reason) = event.details.get("reason").and_then(|r| r.as_str())
            && entry.reasons.len() < 5
            && !entry.reasons.iter().any(|r| r == reason)
        {
            entry.reasons.push(reason.to_owned());
        }
    }
    let mut queue: Vec<Reported> = queue.into_values().collect();
    queue.sort_by(|a, b| b.count.cmp(&a.count).then(b.latest.cmp(&a.latest)));
    queue
}

/// `POST /reports/{id}/deactivate`.
pub async fn deactivate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Response {
    let id = match admin_form(&state, &viewer, &id, &posted).await {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let patch = UrlPatch {
        is_active: Some(false),
        ..UrlPatch::default()
    };
    state.clicks.flush().await;
    match state.links.update_url(id, patch, Timestamp::now()).await {
        Ok(Some(_)) => see_other("/reports", &viewer),
        Ok(None) => no_such_link(&viewer),
        Err(err) => unavailable(&viewer, &err.to_string()),
    }
}

/// `POST /reports/{id}/dismiss`.
pub async fn dismiss(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Response {
    let id = match admin_form(&state, &viewer, &id, &posted).await {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let url = match state.links.get_url(id).await {
        Ok(Some(url)) => url,
        Ok(None) => return no_such_link(&viewer),
        Err(err) => return unavailable(&viewer, &err.to_string()),
    };
    let event = NewEvent {
        url_id: Some(url.id),
        user_id: url.user_id,
        event_type: event_type::REPORTS_DISMISSED.to_owned(),
        timestamp: Timestamp::now(),
        details: serde_json::Map::from_iter([(
            "short_code".to_owned(),
            serde_json::Value::String(url.short_code),
        )]),
    };
    match state.events.create_event(event).await {
        Ok(_) => see_other("/reports", &viewer),
        Err(err) => unavailable(&viewer, &err.to_string()),
    }
}

/// The link a form to the queue is about, or the answer when it may not go ahead: not
/// an admin, a forged form, over the write limit, or no such id.
async fn admin_form(
    state: &AppState,
    viewer: &Viewer,
    raw_id: &str,
    posted: &Posted,
) -> Result<i64, Box<Response>> {
    if viewer.caller.is_none() {
        return Err(Box::new(see_other("/signin", viewer)));
    }
    if !viewer.is_admin() {
        return Err(Box::new(not_admin(viewer)));
    }
    viewer
        .checked_post(state, posted, WriteKind::Change)
        .await?;
    link_id(raw_id).ok_or_else(|| Box::new(no_such_link(viewer)))
}

fn not_admin(viewer: &Viewer) -> Response {
    problem(
        viewer,
        StatusCode::FORBIDDEN,
        "Not allowed",
        "The report queue is for admins.",
    )
}
