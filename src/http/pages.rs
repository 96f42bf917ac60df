//! The few small HTML pages a visitor's browser may get instead of a redirect (where a
//! link leads, its password form, that it has ended): one shell, plain HTML with a light
//! and a dark scheme, nothing fetched from elsewhere. API clients get JSON instead.

use super::docs::escape;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// A browser asks for HTML first; API clients and `*/*` get JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.trim_start().starts_with("text/html"))
}

/// A page titled `title` (text) around `body` (HTML, already escaped), never cached.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let title = escape(title);
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
         padding:0 1rem}}dt{{font-weight:600}}dd{{margin:0 0 .75rem;overflow-wrap:anywhere}}\
         label,input,button{{font:inherit}}input{{padding:.4rem;margin:.25rem 0 .75rem;\
         width:100%;max-width:20rem;box-sizing:border-box}}button{{padding:.4rem 1rem}}\
         .problem{{color:#b00020}}\
         @media(prefers-color-scheme:dark){{body{{background:#111;color:#eee}}a{{color:#8bf}}\
         .problem{{color:#ff8a80}}}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    response
}
