//! `/links`: the viewer's links (a key of a user: that user's; an admin or `open` mode:
//! all), searched by code, target or title, filtered by state, a page at a time, with each
//! link's human clicks; switching a link on or off, and deleting it after a confirmation.

use super::forms::{Posted, api_body};
use super::layout::{csrf_field, page, problem, see_other};
use super::session::Viewer;
use crate::background;
use crate::domain::Url;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::RequestHost;
use crate::http::urls::{UpdateUrl, delete_url, readable_url, update_url};
use crate::limits::WriteKind;
use crate::store::{LinkStore, Page, UrlFilter};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use std::collections::HashMap;

/// Links on a page.
const PER_PAGE: i64 = 20;

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(caller) = viewer.caller.clone() else {
        return see_other("/signin", &viewer);
    };
    let search = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    let state_filter = query.get("state").map(String::as_str).unwrap_or("all");
    let number: i64 = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| (1..=1_000_000_000).contains(p))
        .unwrap_or(1);
    let filter = UrlFilter {
        user_id: own_user(&caller),
        is_active: match state_filter {
            "active" => Some(true),
            "inactive" => Some(false),
            _ => None,
        },
        search: search.clone(),
        ..UrlFilter::default()
    };
    let wanted = Page {
        limit: PER_PAGE,
        offset: (number - 1) * PER_PAGE,
    };
    let links = state.links.clone();
    let listing = background::read(async move { links.list_urls(&filter, wanted).await }).await;
    let listing = match listing {
        Ok(listing) => listing,
        Err(err) => return unavailable(&viewer, &err.to_string()),
    };
    let ids: Vec<i64> = listing.items.iter().map(|u| u.id).collect();
    // As for the stats: the clicks this replica has queued count.
    state.clicks.flush().await;
    let humans: HashMap<i64, i64> = state
        .stats
        .humans_by_link(&ids)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    let pages = ((listing.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let here = |page: i64| {
        let mut params = vec![format!("page={page}")];
        if let Some(q) = &search {
            params.push(format!(
                "q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ));
        }
        if state_filter != "all" {
            params.push(format!("state={state_filter}"));
        }
        format!("/links?{}", params.join("&"))
    };
    let back = here(number);
    let writes = viewer.may_write();
    let body = html! {
        form.search method="get" action="/links" role="search" {
            div.field {
                label for="q" { "Search" }
                input type="search" id="q" name="q" value=[search.as_deref()] placeholder="code, target or title";
            }
            div.field {
                label for="state" { "Show" }
                select id="state" name="state" {
                    @for (value, label) in [("all", "All links"), ("active", "Active"), ("inactive", "Switched off")] {
                        option value=(value) selected[state_filter == value] { (label) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        p.count role="status" { (listing.total) " link" @if listing.total != 1 { "s" } }
        @if !listing.items.is_empty() {
            div.table {
                table {
                    thead { tr {
                        th scope="col" { "Code" } th scope="col" { "Target" } th.title scope="col" { "Title" }
                        th scope="col" class="number" { "Human clicks" } th scope="col" { "State" }
                        @if writes { th scope="col" { span.hidden { "Actions" } } }
                    } }
                    tbody {
                        @for url in &listing.items {
                            tr {
                                td { a href={ "/links/" (url.id) } { (url.short_code) } }
                                td.target { (url.original_url) }
                                td.title { (url.title.as_deref().unwrap_or("")) }
                                td.number { (humans.get(&url.id).copied().unwrap_or(0)) }
                                td { @if url.is_active { "active" } @else { "off" } }
                                @if writes {
                                    td.actions {
                                        form.inline method="post" action={ "/links/" (url.id) "/active" } {
                                            (csrf_field(&viewer))
                                            input type="hidden" name="back" value=(back);
                                            input type="hidden" name="active" value=(if url.is_active { "false" } else { "true" });
                                            button type="submit" aria-label={ (if url.is_active { "Switch off " } else { "Switch on " }) (url.short_code) } {
                                                @if url.is_active { "Switch off" } @else { "Switch on" }
                                            }
                                        }
                                        a.danger href={ "/links/" (url.id) "/delete" } aria-label={ "Delete " (url.short_code) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                @if number > 1 { a rel="prev" href=(here(number - 1)) { "← Previous" } }
                span { "Page " (number) " of " (pages) }
                @if number < pages { a rel="next" href=(here(number + 1)) { "Next →" } }
            }
        }
    };
    page(&viewer, StatusCode::OK, "Links", body)
}

/// A key of a user sees that user's links; everyone else all.
fn own_user(caller: &Caller) -> Option<i64> {
    match caller {
        Caller::Key(key) if !caller.manages_everything() => key.user_id,
        _ => None,
    }
}

/// `POST /links/{id}/active`: switches a link on or off, then back to the list.
pub async fn set_active(
    State(state): State<AppState>,
    viewer: Viewer,
    host: RequestHost,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Response {
    let (caller, id) = match link_form(&state, &viewer, &id, &posted).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    let active = posted.get("active").map(String::as_str) == Some("true");
    let body = serde_json::json!({ "is_active": active });
    let changed = match api_body::<UpdateUrl>(body) {
        Ok(body) => update_url(&state, &caller, id, &host, body).await,
        Err(e) => Err(e),
    };
    match changed {
        Ok(_) => see_other(&back_to(&posted), &viewer),
        Err(err) => problem(&viewer, err.status(), "Not changed", &err.to_string()),
    }
}

/// Where a form asked to go back to: a list page, or the list.
fn back_to(posted: &Posted) -> String {
    posted
        .get("back")
        .filter(|b| b.starts_with("/links") && !b.contains("//"))
        .cloned()
        .unwrap_or_else(|| "/links".to_owned())
}

/// `GET /links/{id}/delete`: are you sure?
pub async fn confirm_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let caller = match viewer.writer() {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let Some(id) = link_id(&id) else {
        return no_such_link(&viewer);
    };
    let url = match readable_link(&state, &viewer, &caller, id).await {
        Ok(url) => url,
        Err(answer) => return *answer,
    };
    let body = html! {
        p { "Delete " strong { (url.short_code) } ", which leads to " code { (url.original_url) } "? "
            "Its short link stops working at once; its history is kept." }
        form.inline method="post" action={ "/links/" (url.id) "/delete" } {
            (csrf_field(&viewer))
            button.danger type="submit" { "Delete " (url.short_code) }
        }
        " "
        a href="/links" { "Cancel" }
    };
    page(&viewer, StatusCode::OK, "Delete this link?", body)
}

/// `POST /links/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Response {
    let (caller, id) = match link_form(&state, &viewer, &id, &posted).await {
        Ok(form) => form,
        Err(answer) => return *answer,
    };
    match delete_url(&state, &caller, id).await {
        Ok(_) => see_other("/links", &viewer),
        Err(err) => problem(&viewer, err.status(), "Not deleted", &err.to_string()),
    }
}

/// A form that changes link `raw_id`: its caller and the link id, or the answer when it
/// may not go ahead (not signed in, a read key, a forged form, over the write limit, no
/// such id).
pub async fn link_form(
    state: &AppState,
    viewer: &Viewer,
    raw_id: &str,
    posted: &Posted,
) -> Result<(Caller, i64), Box<Response>> {
    let caller = viewer.writer()?;
    viewer
        .checked_post(state, posted, WriteKind::Change)
        .await?;
    let id = link_id(raw_id).ok_or_else(|| Box::new(no_such_link(viewer)))?;
    Ok((caller, id))
}

/// The url `id` names if `caller` may read it, else the page saying there is none (or
/// that it is not theirs).
pub async fn readable_link(
    state: &AppState,
    viewer: &Viewer,
    caller: &Caller,
    id: i64,
) -> Result<Url, Box<Response>> {
    readable_url(state, caller, id).await.map_err(|err| {
        Box::new(problem(
            viewer,
            err.status(),
            "No such link",
            &err.to_string(),
        ))
    })
}

/// A link id from a page's path: a positive number.
pub fn link_id(raw: &str) -> Option<i64> {
    raw.parse().ok().filter(|id| *id > 0)
}

/// The page for a link that is not there (or not a link id at all).
pub fn no_such_link(viewer: &Viewer) -> Response {
    problem(
        viewer,
        StatusCode::NOT_FOUND,
        "No such link",
        "There is no link with this number.",
    )
}

/// The store did not answer.
pub fn unavailable(viewer: &Viewer, why: &str) -> Response {
    tracing::warn!(error = why, "a page could not be read");
    problem(
        viewer,
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again in a moment",
        "The database did not answer.",
    )
}
