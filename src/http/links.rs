//! The links router: following a short link. `GET /{code}` (and `/urls/{code}/redirect`)
//! looks the link up through the caches, asks the one decision ([`decide`]) what the visit
//! gets, queues the click without waiting for the database, and answers. Its layer set is
//! thin (see [`super::router`]); static routes of the API win over `/{code}` by the
//! router's own precedence, so no list of words guards it.

use super::AppState;
use super::client_ip::ClientIp;
use super::error::ApiError;
use super::protected;
use crate::domain::analytics::VisitClass;
use crate::domain::visit::decide;
use crate::domain::{Facts, Link, Outcome, ShortCode, Timestamp, Visit};
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Links are mutable: browsers must ask again every time.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, max-age=0");
/// A 301 or 308 the link asked for, on a link nothing makes answer otherwise: browsers may
/// keep it for an hour (and many keep permanent redirects longer whatever this says).
const PERMANENT: HeaderValue = HeaderValue::from_static("public, max-age=3600");
/// Where a visit may send a protected link's password.
const LINK_PASSWORD: HeaderName = HeaderName::from_static("x-link-password");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(follow, unlock))
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
    /// A `redirect_type` of 301: `Cache-Control: public, max-age=3600` when nothing can
    /// make the link answer otherwise (no expiry, cap, rules, variants or password), else
    /// `private, max-age=0`.
    #[response(status = 301, headers(("Location" = String), ("Cache-Control" = String)))]
    Moved,
    /// To the link's target (or the target a rule, variant or fallback chose);
    /// `Cache-Control: private, max-age=0`.
    #[response(status = 302, headers(
        ("Location" = String, description = "The link's `original_url`, or the chosen target"),
        ("Cache-Control" = String)
    ))]
    Found,
    /// After the password form (`POST /{code}`): to the target, whatever the link's
    /// `redirect_type` (a 307 or 308 would make the browser post the password on).
    #[response(status = 303, headers(("Location" = String), ("Cache-Control" = String)))]
    SeeOther,
    /// A `redirect_type` of 307 (`Cache-Control: private, max-age=0`).
    #[response(status = 307, headers(("Location" = String), ("Cache-Control" = String)))]
    Temporary,
    /// A `redirect_type` of 308 (cached as a 301 is).
    #[response(status = 308, headers(("Location" = String), ("Cache-Control" = String)))]
    Permanent,
    /// The link has a password and the visit did not bring the right one: a small form
    /// (HTML when the client asks for `text/html` first), else JSON.
    #[response(status = 401)]
    Locked(super::openapi::ErrorBody),
    /// No such code, an inactive link, or a malformed code.
    #[response(status = 404)]
    NotFound(super::openapi::ErrorBody),
    /// The link's destination is blocked, or the link has expired or used up its
    /// `max_clicks` and has no `fallback_url` (HTML for browsers).
    #[response(status = 410)]
    Gone(super::openapi::ErrorBody),
    /// Too many password attempts from this client on this link; `Retry-After` says when.
    #[response(status = 429, headers(("Retry-After" = String)))]
    TooManyAttempts(super::openapi::ErrorBody),
    /// The link has a visit cap and the database, which counts it, does not answer.
    #[response(status = 503)]
    Unavailable(super::openapi::ErrorBody),
}

#[utoipa::path(
    get, path = "/{code}", operation_id = "followLink", tag = "redirects",
    summary = "Follow a short link",
    description = "Records a `click` event (without making the redirect wait for the database). `HEAD` answers the same and records nothing. The code followed by `+` (`/abc123+`) answers where the link leads instead, records nothing. A protected link takes its password in `X-Link-Password` (or by the form `POST /{code}`).",
    params(CodeParam, ("X-Link-Password" = Option<String>, Header, description = "The link's password, when it has one")),
    responses(Followed), security(())
)]
async fn follow(State(state): State<AppState>, code: Code, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let password = text(&parts.headers, &LINK_PASSWORD).map(str::to_owned);
    visit(&state, code, &parts, password).await
}

/// The password form's body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Unlock {
    password: String,
}

#[utoipa::path(
    post, path = "/{code}", operation_id = "unlockLink", tag = "redirects",
    summary = "Follow a protected link with its password (the password form)",
    description = "The form the `401` page shows posts here: the right password answers the redirect (and records the click), a wrong one the form again. Attempts are limited per client and link.",
    params(CodeParam),
    request_body(content = Unlock, content_type = "application/x-www-form-urlencoded"),
    responses(Followed), security(())
)]
async fn unlock(State(state): State<AppState>, code: Code, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form = Form::<Unlock>::from_request(Request::from_parts(parts.clone(), body), &state).await;
    let password = form.ok().map(|Form(unlock)| unlock.password);
    // The form's answer is as for a GET: a redirect is followed with GET.
    let mut parts = parts;
    parts.method = Method::GET;
    // A body that is no such form brings no password: the form is asked for again.
    let mut response = visit(&state, code, &parts, password).await;
    // Always 303 after the form: a 307 or 308 would make the browser post the form, the
    // password in it, again to the target.
    if response.status().is_redirection() {
        *response.status_mut() = StatusCode::SEE_OTHER;
    }
    response
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
    let (parts, _) = request.into_parts();
    let password = text(&parts.headers, &LINK_PASSWORD).map(str::to_owned);
    visit(&state, code, &parts, password).await
}

/// One visit, from the code in the path to the answer. `password`: what the visit sent
/// as the link's password, if anything.
async fn visit(state: &AppState, code: Code, parts: &Parts, password: Option<String>) -> Response {
    // A malformed code cannot exist: answer before touching any cache or store.
    let Some(short) = code.code else {
        return ApiError::not_found("short code").into_response();
    };
    let headers = &parts.headers;
    if code.inspect {
        return super::inspect::inspect(state, &short, headers).await;
    }
    let link = match state.links.resolve(&short).await {
        Ok(link) => link,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let client = ClientIp::of(&state.proxies, (&parts.extensions, headers)).0;
    let visit = Visit {
        at: Timestamp::now(),
        referrer: text(headers, &header::REFERER),
        user_agent: text(headers, &header::USER_AGENT),
        accept_language: text(headers, &header::ACCEPT_LANGUAGE),
        prefetch: prefetch(headers),
        client,
    }
    .clipped();
    let blocked = |target: &str| state.safety.blocked_destination(target);
    let mut facts = Facts::default();
    let mut wrong_password = false;
    if let Some(link) = link.as_deref().filter(|link| link.is_active) {
        // A plain link needs nothing of its visitor: the hot path stays as it was.
        if link.settings.is_some() {
            facts.visitor = state.classifier.visitor(&visit, link.id, parts.uri.query());
            // A human visit of an open link learns of a used-up cap by spending; any other
            // visit of a capped link reads it, so that bots, previews and a password form
            // meet the end a person would.
            let spends =
                facts.visitor.class == Some(VisitClass::Human) && link.password_hash.is_none();
            facts.exhausted = if spends {
                state.caps.known_exhausted(link)
            } else {
                match state.caps.exhausted(link).await {
                    Ok(exhausted) => exhausted,
                    Err(err) => return ApiError::from(err).into_response(),
                }
            };
        }
        if let (Some(hash), Some(password)) = (&link.password_hash, &password) {
            match protected::check(state, link.id, hash, password, client).await {
                Ok(right) => (facts.unlocked, wrong_password) = (right, !right),
                Err(refusal) => return refusal,
            }
        }
    }
    let mut outcome = decide(link.as_deref(), &visit, &facts, blocked);
    // A human visit of a capped link goes ahead only once the cap has counted it. HEAD
    // is no visit, and spends nothing.
    if let (
        Outcome::Redirect {
            spends_cap: true, ..
        },
        Some(link),
    ) = (&outcome, &link)
        && parts.method == Method::GET
    {
        match state.caps.spend(link).await {
            Ok(true) => {}
            Ok(false) => {
                facts.exhausted = true;
                outcome = decide(Some(link), &visit, &facts, blocked);
            }
            Err(err) => return ApiError::from(err).into_response(),
        }
    }
    let response = answer(link.as_deref(), &outcome, headers, wrong_password);
    // HEAD (link previews, monitors) answers the same but is not a visit.
    let recorded = matches!(outcome, Outcome::Redirect { .. } | Outcome::Blocked { .. });
    if let Some(link) = &link
        && parts.method == Method::GET
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
fn answer(
    link: Option<&Link>,
    outcome: &Outcome<'_>,
    headers: &HeaderMap,
    wrong_password: bool,
) -> Response {
    let mut refusal = match outcome {
        Outcome::Redirect { target, status, .. } => return redirect(link, target, *status),
        Outcome::NotFound => return ApiError::not_found("short code").into_response(),
        Outcome::Blocked { .. } => {
            ApiError::Gone("this link's destination is blocked".into()).into_response()
        }
        Outcome::Ended(end) => protected::ended(*end, headers),
        Outcome::Locked => protected::locked(link, headers, wrong_password),
    };
    // What the link answers may change any moment: no one may keep it.
    refusal
        .headers_mut()
        .insert(header::CACHE_CONTROL, CACHE_CONTROL);
    refusal
}

/// A redirect to `target` with `status`.
fn redirect(link: Option<&Link>, target: &str, status: u16) -> Response {
    let (Ok(location), Ok(status)) = (HeaderValue::from_str(target), StatusCode::from_u16(status))
    else {
        return ApiError::Internal(anyhow::anyhow!("a stored target is not a valid header"))
            .into_response();
    };
    // A permanent redirect may be kept, but only when nothing can make it answer otherwise.
    let fixed = link.is_some_and(|link| {
        link.password_hash.is_none() && !link.settings.as_ref().is_some_and(|s| s.varies())
    });
    let cache = match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT if fixed => PERMANENT,
        _ => CACHE_CONTROL,
    };
    let mut response = (status, [(header::LOCATION, location)]).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, cache);
    response
}
