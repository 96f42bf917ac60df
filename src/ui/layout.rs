//! The shell every page is drawn in: the document head (its stylesheet, script and icon are
//! kurz's own, nothing is fetched from elsewhere), the navigation for what the viewer may
//! do, one `h1`, and the answer's headers (the CSRF cookie when new, no caching, a content
//! security policy that allows only kurz's own files).

use super::session::{Viewer, set_cookies};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Scripts, styles and forms from kurz only; images also as `data:` (none are, today).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page with `status`.
pub fn page(viewer: &Viewer, status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · kurz" }
                link rel="icon" href="/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/app.js" defer {}
            }
            body {
                header {
                    nav aria-label="Main" {
                        a.brand href="/" { "kurz" }
                        @if viewer.caller.is_some() {
                            @if viewer.may_write() { a href="/" { "Shorten" } }
                            a href="/links" { "Links" }
                            @if viewer.is_admin() { a href="/reports" { "Reports" } }
                        }
                        @if viewer.keys_mode {
                            @if viewer.caller.is_some() {
                                form.inline method="post" action="/signout" {
                                    (csrf_field(viewer))
                                    button.link type="submit" { "Sign out" }
                                }
                            } @else {
                                a href="/signin" { "Sign in" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    set_cookies(headers, &viewer.cookies());
    response
}

/// The hidden field every form carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A page saying what went wrong, with a way on.
pub fn problem(viewer: &Viewer, status: StatusCode, title: &str, message: &str) -> Response {
    page(
        viewer,
        status,
        title,
        html! {
            p { (message) }
            p { a href="/" { "Back to the start" } }
        },
    )
}

/// The 303 that follows a form's post (so a reload does not post again).
pub fn see_other(to: &str, viewer: &Viewer) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    set_cookies(response.headers_mut(), &viewer.cookies());
    response
}

/// The answer to a form whose CSRF token is missing or not this browser's.
pub fn refused_form(viewer: &Viewer) -> Response {
    problem(
        viewer,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not sent from this browser's page, or the page is too old. Open it again and resend.",
    )
}
