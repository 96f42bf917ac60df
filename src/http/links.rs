//! The links router: following a short link. `GET /{code}` (and `/urls/{code}/redirect`)
//! looks the link up through the caches, asks the one decision ([`decide`]) what the visit
//! gets, queues the click without waiting for the database, and answers. Its layer set is
//! thin (see [`super::router`]); static routes of the API win over `/{code}` by the
//! router's own precedence, so no list of words guards it.

use super::AppState;
use super::client_ip::ClientIp;
use super::error::ApiError;
use crate::domain::visit::decide;
use crate::domain::{Outcome, ShortCode, Timestamp, Visit};
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Links are mutable: browsers must ask again every time.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, max-age=0");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(follow))
        .routes(routes!(follow_under_urls))
}

/// The short code in the path, if it is one: a path that is no code (not UTF-8, too long,
/// other characters) names no link. A code followed by `+` asks for its inspect page.
struct Code {
    code: Option<ShortCode>,
    inspect: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Code {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The router's own (percent-decoded) parameter, read without deserialising it.
        let params = RawPathParams::from_request_parts(parts, state).await;
        let raw = params.ok().and_then(|params| {
            let (_, raw) = params.iter().find(|(name, _)| *name == "code")?;
            Some(raw.to_owned())
        });
        let raw = raw.as_deref().unwrap_or_default();
        let (raw, inspect) = match raw.strip_suffix('+') {
            Some(code) => (code, true),
            None => (raw, false),
        };
        Ok(Self {
            code: ShortCode::parse(raw).ok(),
            inspect,
        })
    }
}

/// The path parameter, as described.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct CodeParam {
    /// The short code (case-sensitive).
    code: String,
}

/// What following a link answers.
#[derive(IntoResponses)]
#[allow(dead_code)]
enum Followed {
    /// `/{code}+`: where the link leads, without following it or counting a visit (HTML
    /// when the client asks for `text/html` first). A switched-off link is 404.
    #[response(status = 200)]
    Inspected(super::inspect::Inspected),
    /// To the link's target; `Cache-Control: private, max-age=0`.
    #[response(status = 302, headers(
        ("Location" = String, description = "The link's `original_url`"),
        ("Cache-Control" = String)
    ))]
    Found,
    /// No such code, an inactive link, or a malformed code.
    #[response(status = 404)]
    NotFound(super::openapi::ErrorBody),
    /// The link's destination is blocked.
    #[response(status = 410)]
    Gone(super::openapi::ErrorBody),
}

#[utoipa::path(
    get, path = "/{code}", operation_id = "followLink", tag = "redirects",
    summary = "Follow a short link",
    description = "Records a `click` event (without making the redirect wait for the database). `HEAD` answers the same and records nothing. The code followed by `+` (`/abc123+`) answers where the link leads instead, records nothing.",
    params(CodeParam), responses(Followed), security(())
)]
async fn follow(State(state): State<AppState>, code: Code, request: Request) -> Response {
    let client = ClientIp::of(&state.proxies, (request.extensions(), request.headers())).0;
    visit(&state, code, request.method(), request.headers(), client).await
}

#[utoipa::path(
    get, path = "/urls/{code}/redirect", operation_id = "followLinkUnderUrls", tag = "redirects",
    summary = "Follow a short link (the same as `GET /{code}`)",
    params(CodeParam), responses(Followed), security(())
)]
async fn follow_under_urls(
    State(state): State<AppState>,
    code: Code,
    request: Request,
) -> Response {
    let client = ClientIp::of(&state.proxies, (request.extensions(), request.headers())).0;
    visit(&state, code, request.method(), request.headers(), client).await
}

/// One visit, from the code in the path to the answer. The request's parts are taken
/// apart by the caller: its body is not `Sync`, so a reference to it may not wait here.
async fn visit(
    state: &AppState,
    code: Code,
    method: &Method,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
) -> Response {
    // A malformed code cannot exist: answer before touching any cache or store.
    let Some(short) = code.code else {
        return ApiError::not_found("short code").into_response();
    };
    if code.inspect {
        return super::inspect::inspect(state, &short, headers).await;
    }
    let code = short;
    let link = match state.links.resolve(&code).await {
        Ok(link) => link,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let visit = Visit {
        at: Timestamp::now(),
        referrer: text(headers, &header::REFERER),
        user_agent: text(headers, &header::USER_AGENT),
        accept_language: text(headers, &header::ACCEPT_LANGUAGE),
        prefetch: prefetch(headers),
        client,
    };
    let outcome = decide(link.as_deref(), &visit, |target| {
        state.safety.blocked_destination(target)
    });
    let response = answer(&outcome);
    // HEAD (link previews, monitors) answers the same but is not a visit.
    let recorded = matches!(response.status(), StatusCode::FOUND | StatusCode::GONE);
    if let Some(link) = &link
        && *method == Method::GET
        && recorded
    {
        state.clicks.record(visit.record(link, &outcome)).await;
    }
    response
}

/// Whether the browser fetches ahead of a click: `Sec-Purpose: prefetch` (and its older
/// spellings `Purpose` and `X-Moz`).
fn prefetch(headers: &HeaderMap) -> bool {
    ["sec-purpose", "purpose", "x-moz"].iter().any(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("prefetch"))
    })
}

fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The HTTP answer to an outcome.
fn answer(outcome: &Outcome<'_>) -> Response {
    let mut response = match outcome {
        Outcome::Redirect { target } => match HeaderValue::from_str(target) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => {
                return ApiError::Internal(anyhow::anyhow!(
                    "a stored target is not a valid header"
                ))
                .into_response();
            }
        },
        Outcome::NotFound => return ApiError::not_found("short code").into_response(),
        Outcome::Blocked { .. } => {
            ApiError::Gone("this link's destination is blocked".into()).into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, CACHE_CONTROL);
    response
}
