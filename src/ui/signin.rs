//! `/signin` and `/signout` (`keys` mode): a person signs in by pasting an API key; what
//! the key's scope allows is what the pages offer.

use super::forms::Posted;
use super::layout::{csrf_field, page, refused_form, see_other};
use super::session::{Viewer, ended_session, session_cookie, set_cookies};
use crate::auth::{KeyRefusal, loggable};
use crate::http::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

pub async fn form(viewer: Viewer) -> Response {
    if !viewer.keys_mode || viewer.caller.is_some() {
        return see_other("/links", &viewer);
    }
    signin_page(&viewer, StatusCode::OK, None)
}

pub async fn sign_in(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(posted): Form<Posted>,
) -> Response {
    if !viewer.keys_mode {
        return see_other("/links", &viewer);
    }
    if !viewer.csrf_matches(posted.get("csrf").map(String::as_str)) {
        return refused_form(&viewer);
    }
    let key = posted.get("key").map(|k| k.trim()).unwrap_or("");
    match state.keys.authenticate(key).await {
        Ok(found) => {
            tracing::info!(key = %found.prefix, "signed in to the web UI");
            let seconds = state.settings.ui.session_length().as_secs();
            let mut response = see_other("/links", &viewer);
            let cookie = session_cookie(&state, key, seconds, viewer.secure);
            set_cookies(response.headers_mut(), &[cookie]);
            response
        }
        // The store's own words are for the log, never for the page.
        Err(KeyRefusal::Store(err)) => super::links::unavailable(&viewer, &err.to_string()),
        // Counted and logged as the API counts its refusals: a burst of `unknown` is
        // someone guessing, whichever door they guess at.
        Err(refusal) => {
            metrics::counter!("kurz_auth_failures_total", "reason" => refusal.reason())
                .increment(1);
            tracing::warn!(
                key = loggable(key),
                reason = refusal.reason(),
                "sign-in refused"
            );
            signin_page(
                &viewer,
                StatusCode::UNAUTHORIZED,
                Some(&refusal.to_string()),
            )
        }
    }
}

pub async fn sign_out(viewer: Viewer, Form(posted): Form<Posted>) -> Response {
    if !viewer.csrf_matches(posted.get("csrf").map(String::as_str)) {
        return refused_form(&viewer);
    }
    let mut response = see_other("/signin", &viewer);
    set_cookies(response.headers_mut(), &[ended_session(viewer.secure)]);
    response
}

fn signin_page(viewer: &Viewer, status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        form.card method="post" action="/signin" {
            (csrf_field(viewer))
            p { "Paste an API key (made with " code { "kurz keys create" } "). Its scope decides what you can do here." }
            div.field {
                label for="key" { "API key" }
                input type="password" id="key" name="key" required autocomplete="off"
                    aria-invalid=[problem.map(|_| "true")] aria-describedby=[problem.map(|_| "key-problem")];
                @if let Some(problem) = problem { p.problem id="key-problem" { "Not signed in: " (problem) "." } }
            }
            button type="submit" { "Sign in" }
        }
    };
    page(viewer, status, "Sign in", body)
}
