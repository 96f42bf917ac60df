//! `/`: the shorten page. A URL, and optionally a custom code, a title, an expiry, a visit
//! cap and a password; the answer shows the short link with a copy button and its QR code,
//! or each field's problem beside it, as `POST /urls` found them.

use super::forms::{Field, Kind, Posted, api_body, body_of, general_problems, problems_of};
use super::layout::{csrf_field, page, see_other};
use super::session::Viewer;
use crate::domain::Url;
use crate::http::AppState;
use crate::http::extract::RequestHost;
use crate::http::qr::{short_url, svg_of};
use crate::http::urls::{CreateUrl, create_url};
use crate::limits::WriteKind;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use std::collections::BTreeMap;

/// The fields of the form, as the API names them.
const FIELDS: [(&str, Kind); 6] = [
    ("original_url", Kind::Text),
    ("short_code", Kind::Text),
    ("title", Kind::Text),
    ("expires_at", Kind::DateTime),
    ("max_clicks", Kind::Number),
    ("password", Kind::Text),
];

pub async fn form(viewer: Viewer) -> Response {
    if viewer.caller.is_none() {
        return see_other("/signin", &viewer);
    }
    if !viewer.may_write() {
        return see_other("/links", &viewer);
    }
    shorten_page(
        &viewer,
        StatusCode::OK,
        &Posted::new(),
        &BTreeMap::new(),
        None,
    )
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    host: RequestHost,
    Form(posted): Form<Posted>,
) -> Response {
    let caller = match viewer.writer() {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if let Err(refused) = viewer
        .checked_post(&state, &posted, WriteKind::Create)
        .await
    {
        return *refused;
    }
    let body = body_of(&posted, &FIELDS, false);
    let created = match api_body::<CreateUrl>(body) {
        Ok(body) => create_url(&state, &caller, &host, body).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(url) => {
            let short = short_url(state.settings.public_url.as_ref(), &host, &url.short_code);
            let made = made(&url, &short);
            shorten_page(
                &viewer,
                StatusCode::CREATED,
                &Posted::new(),
                &BTreeMap::new(),
                Some(made),
            )
        }
        Err(error) => {
            let status = error.status();
            shorten_page(&viewer, status, &posted, &problems_of(&error), None)
        }
    }
}

/// The new link: its address, a copy button, and its QR code.
fn made(url: &Url, short: &str) -> Markup {
    let qr = svg_of(short, 192).unwrap_or_default();
    html! {
        section.made aria-labelledby="made-title" {
            h2 id="made-title" { "Your short link" }
            p.short {
                a id="short-link" href=(short) { (short) }
                " "
                button type="button" data-copy=(short) { "Copy" }
                span.copied role="status" aria-live="polite" {}
            }
            p { "Leads to " a href=(url.original_url) rel="nofollow noopener" { (url.original_url) } }
            div.qr role="img" aria-label={ "QR code of " (short) } { (PreEscaped(qr)) }
            p { a href={ "/links/" (url.id) } { "Edit it and see its clicks" } }
        }
    }
}

fn shorten_page(
    viewer: &Viewer,
    status: StatusCode,
    posted: &Posted,
    problems: &BTreeMap<String, String>,
    made: Option<Markup>,
) -> Response {
    let value = |name: &str| posted.get(name).map(String::as_str).unwrap_or("");
    let field = |name, label, kind, hint, required| Field {
        name,
        label,
        kind,
        value: value(name),
        hint,
        required,
    };
    let names: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
    let body = html! {
        @if let Some(made) = made { (made) }
        form.card method="post" action="/" novalidate {
            (csrf_field(viewer))
            (general_problems(problems, &names))
            (field("original_url", "Long URL", "url", None, true).render(problems))
            details open[names[1..].iter().any(|n| !value(n).is_empty() || problems.contains_key(*n))] {
                summary { "More options" }
                (field("short_code", "Custom code", "text", Some("3 to 32 letters, digits, - or _; leave empty for a random one."), false).render(problems))
                (field("title", "Title", "text", None, false).render(problems))
                (field("expires_at", "Expires at (UTC)", "datetime-local", None, false).render(problems))
                (field("max_clicks", "Visit limit", "number", Some("Human visits before the link stops working."), false).render(problems))
                (field("password", "Password", "password", Some("Visitors must type it before they are sent on."), false).render(problems))
            }
            button type="submit" { "Shorten" }
        }
    };
    page(viewer, status, "Shorten a link", body)
}
