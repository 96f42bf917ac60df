//! `/links/{id}`: one link. Its edit form (target, title, active, and its lifecycle fields)
//! for viewers who may change it, and its clicks over a chosen period: over time, people
//! against bots, previews and prefetches, and by referrer, browser, OS, device, country and
//! language, the same numbers `GET /urls/{id}/stats` answers.

use super::chart::clicks_over_time;
use super::forms::{Field, Kind, Posted, api_body, body_of, general_problems, problems_of};
use super::layout::{csrf_field, page, problem, see_other};
use super::links::{link_form, link_id, no_such_link, readable_link};
use super::session::Viewer;
use crate::domain::Url;
use crate::domain::stats::{Stats, ValueCount};
use crate::http::AppState;
use crate::http::extract::RequestHost;
use crate::http::qr::short_url;
use crate::http::stats::link_stats_of;
use crate::http::urls::{UpdateUrl, update_url};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use std::collections::{BTreeMap, HashMap};

const FIELDS: [(&str, Kind); 8] = [
    ("original_url", Kind::Text),
    ("title", Kind::Text),
    ("is_active", Kind::Check),
    ("expires_at", Kind::DateTime),
    ("max_clicks", Kind::Number),
    ("fallback_url", Kind::Text),
    ("redirect_type", Kind::Number),
    ("password", Kind::Text),
];

/// The redirect statuses offered, the default first.
const STATUSES: [(&str, &str); 4] = [
    ("302", "302 Found (temporary; the default)"),
    ("307", "307 Temporary Redirect"),
    ("301", "301 Moved Permanently (browsers keep it)"),
    ("308", "308 Permanent Redirect (browsers keep it)"),
];

/// The periods offered, in days.
const PERIODS: [(&str, i64); 4] = [("7", 7), ("30", 30), ("90", 90), ("365", 365)];

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    host: RequestHost,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(caller) = viewer.caller.clone() else {
        return see_other("/signin", &viewer);
    };
    let Some(id) = link_id(&id) else {
        return no_such_link(&viewer);
    };
    let url = match readable_link(&state, &viewer, &caller, id).await {
        Ok(url) => url,
        Err(answer) => return *answer,
    };
    let notice = query.contains_key("saved").then_some("Saved.");
    link_page(
        &state,
        &viewer,
        &host,
        &url,
        &query,
        StatusCode::OK,
        None,
        notice,
    )
    .await
}

pub async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    host: RequestHost,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Form(posted): Form<Posted>,
) -> Response {
    let (caller, id) = match link_form(&state, &viewer, &id, &posted).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    // Read once: what the form showed, and what the page shows again if the save fails.
    let url = match readable_link(&state, &viewer, &caller, id).await {
        Ok(url) => url,
        Err(answer) => return *answer,
    };
    let current = shown(&url);
    let mut body = body_of(&posted, &FIELDS, true);
    if let Some(fields) = body.as_object_mut() {
        for name in SENT_WHEN_CHANGED {
            let sent = posted.get(name).map_or("", |v| v.trim());
            let before = current.get(name).map_or("", String::as_str);
            // A datetime-local input may drop the seconds of a value it was given.
            if sent == before
                || (name == "expires_at" && !sent.is_empty() && before.starts_with(sent))
            {
                fields.remove(name);
            }
        }
    }
    // An empty password field keeps the password; the box removes it.
    if let Some(fields) = body.as_object_mut() {
        if posted.contains_key("remove_password") {
            fields.insert("password".to_owned(), serde_json::Value::Null);
        } else if fields
            .get("password")
            .is_some_and(serde_json::Value::is_null)
        {
            fields.remove("password");
        }
    }
    // A required target is never cleared: an empty one is refused as the API refuses it.
    if body["original_url"].is_null() {
        body["original_url"] = serde_json::json!("");
    }
    let saved = match api_body::<UpdateUrl>(body) {
        Ok(body) => update_url(&state, &caller, id, &host, body).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => see_other(&format!("/links/{id}?saved"), &viewer),
        Err(error) => {
            let failed = (posted, problems_of(&error));
            link_page(
                &state,
                &viewer,
                &host,
                &url,
                &query,
                error.status(),
                Some(failed),
                None,
            )
            .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn link_page(
    state: &AppState,
    viewer: &Viewer,
    host: &RequestHost,
    url: &Url,
    query: &HashMap<String, String>,
    status: StatusCode,
    failed: Option<(Posted, BTreeMap<String, String>)>,
    notice: Option<&str>,
) -> Response {
    let Some(caller) = viewer.caller.clone() else {
        return see_other("/signin", viewer);
    };
    let days = query
        .get("days")
        .and_then(|d| PERIODS.iter().find(|(key, _)| key == d))
        .map_or(30, |(_, days)| *days);
    let to = time::OffsetDateTime::now_utc()
        .date()
        .next_day()
        .unwrap_or(time::Date::MAX);
    let from = to - time::Duration::days(days);
    let mut params = HashMap::from([
        ("from".to_owned(), format!("{from}T00:00:00")),
        ("to".to_owned(), format!("{to}T00:00:00")),
    ]);
    if days > 90 {
        params.insert("interval".to_owned(), "week".to_owned());
    }
    let stats = match link_stats_of(state, &caller, url.id, &params).await {
        Ok(stats) => stats,
        Err(err) => return problem(viewer, err.status(), "No stats", &err.to_string()),
    };
    let short = short_url(state.settings.public_url.as_ref(), host, &url.short_code);
    let body = html! {
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        p.short {
            a id="short-link" href=(short) { (short) } " "
            button type="button" data-copy=(short) { "Copy" }
            span.copied role="status" aria-live="polite" {}
        }
        @if failed.is_some() { (edit_form(viewer, url, failed.as_ref())) }
        p { "Leads to " a href=(url.original_url) rel="nofollow noopener" { (url.original_url) } }
        section aria-labelledby="clicks-title" {
            h2 id="clicks-title" { "Clicks" }
            nav.periods aria-label="Period" {
                @for (key, label) in [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "A year")] {
                    @if key == days.to_string() { strong aria-current="true" { (label) } }
                    @else { a href={ "/links/" (url.id) "?days=" (key) } { (label) } }
                }
            }
            (numbers(&stats))
            (clicks_over_time(&stats.series))
            div.dimensions {
                (dimension("Referrers", &stats.referrers))
                (dimension("Browsers", &stats.browsers))
                (dimension("Operating systems", &stats.os))
                (dimension("Devices", &stats.devices))
                (dimension("Countries", &stats.countries))
                (dimension("Languages", &stats.languages))
            }
        }
        @if viewer.may_write() && failed.is_none() {
            section aria-labelledby="edit-title" {
                h2 id="edit-title" { "Edit" }
                (edit_form(viewer, url, None))
            }
        }
    };
    page(viewer, status, &format!("/{}", url.short_code), body)
}

fn edit_form(
    viewer: &Viewer,
    url: &Url,
    failed: Option<&(Posted, BTreeMap<String, String>)>,
) -> Markup {
    let empty = BTreeMap::new();
    let problems = failed.map_or(&empty, |(_, problems)| problems);
    let current = shown(url);
    let value = |name: &str| match failed {
        Some((posted, _)) => posted.get(name).cloned().unwrap_or_default(),
        None => current.get(name).cloned().unwrap_or_default(),
    };
    let names: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = names.iter().map(|n| value(n)).collect();
    let field = |i: usize, label, kind, hint, required| Field {
        name: names[i],
        label,
        kind,
        value: &values[i],
        hint,
        required,
    };
    html! {
        form.card method="post" action={ "/links/" (url.id) } novalidate {
            (csrf_field(viewer))
            (general_problems(problems, &names))
            (field(0, "Target", "url", None, true).render(problems))
            (field(1, "Title", "text", None, false).render(problems))
            (field(2, "Active", "checkbox", Some("Switched off, the link answers 404."), false).render(problems))
            (field(3, "Expires at (UTC)", "datetime-local", None, false).render(problems))
            (field(4, "Visit limit", "number", Some("Human visits before the link stops working."), false).render(problems))
            (field(5, "After it ends, send visits to", "url", None, false).render(problems))
            div.field {
                label for="redirect_type" { "Redirect" }
                select id="redirect_type" name="redirect_type" {
                    @for (status, label) in STATUSES {
                        option value=(status) selected[values[6] == status] { (label) }
                    }
                }
                @if let Some(problem) = problems.get("redirect_type") { p.problem { "Redirect " (problem) } }
            }
            (field(7, "Password", "password", Some(password_hint(url)), false).render(problems))
            @if url.password_hash.is_some() {
                div.field {
                    label for="remove_password" { "Remove the password" }
                    input type="checkbox" id="remove_password" name="remove_password" value="on";
                }
            }
            button type="submit" { "Save" }
        }
    }
}

/// What the edit form shows of `url`, field by field (a datetime to the second).
fn shown(url: &Url) -> HashMap<&'static str, String> {
    let settings = url.settings.clone().unwrap_or_default();
    let active = if url.is_active { "on" } else { "" };
    HashMap::from([
        ("original_url", url.original_url.clone()),
        ("title", url.title.clone().unwrap_or_default()),
        ("is_active", active.to_owned()),
        (
            "expires_at",
            settings
                .expires_at
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ),
        (
            "max_clicks",
            settings
                .max_clicks
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        (
            "fallback_url",
            settings.fallback_url.clone().unwrap_or_default(),
        ),
        (
            "redirect_type",
            settings.redirect_type.unwrap_or(302).to_string(),
        ),
        ("password", String::new()),
    ])
}

/// The lifecycle fields a save sends only when they changed: an expired link's expiry
/// sent back as it was would be refused (it is in the past), and a plain link saved with
/// the default status would gain settings it never asked for.
const SENT_WHEN_CHANGED: [&str; 4] = ["expires_at", "max_clicks", "fallback_url", "redirect_type"];

fn password_hint(url: &Url) -> &'static str {
    if url.password_hash.is_some() {
        "This link has a password: type a new one to change it, or leave this empty to keep it."
    } else {
        "Visitors must type it before they are sent on."
    }
}

fn numbers(stats: &Stats) -> Markup {
    html! {
        dl.numbers {
            div { dt { "All clicks" } dd { (stats.total) } }
            div { dt { "People" } dd { (stats.humans) } }
            div { dt { "Bots" } dd { (stats.bots) } }
            div { dt { "Link previews" } dd { (stats.previews) } }
            div { dt { "Prefetches" } dd { (stats.prefetches) } }
            div { dt { "Unique visitors" } dd { (stats.unique_visitors) } }
        }
    }
}

fn dimension(title: &str, counts: &[ValueCount]) -> Markup {
    html! {
        section.dimension {
            h3 { (title) }
            @if counts.is_empty() { p.none { "None yet" } }
            @else {
                table {
                    thead { tr { th scope="col" { "Value" } th scope="col" class="number" { "People" } } }
                    tbody {
                        @for count in counts { tr { td { (count.value) } td.number { (count.count) } } }
                    }
                }
            }
        }
    }
}
