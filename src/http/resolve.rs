//! `GET /urls/{id}/resolve`: a dry run of a visit. Given what a visit would bring (user
//! agent, language, country, query string, instant, address), it answers what the one
//! redirect decision would do: which target and which rule or variant chose it, or which
//! end (expired, exhausted), password or block stops it. Nothing is recorded and no cap
//! is spent.

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::parse_id;
use super::urls::readable_url;
use crate::domain::visit::decide;
use crate::domain::{Chosen, End, Facts, Outcome, Timestamp, Visit};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resolve))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ResolveParams {
    /// The visit's `User-Agent` (none: an empty one, which counts as a bot).
    user_agent: Option<String>,
    /// The visit's `Accept-Language` (`de-CH,de;q=0.9`).
    language: Option<String>,
    /// The client's country, ISO 3166 alpha-2 (instead of looking up `client`).
    country: Option<String>,
    /// The visited URL's query string, without `?` (`utm_source=mail&x=1`).
    query: Option<String>,
    /// The instant of the visit (default: now).
    at: Option<String>,
    /// The client's address: with the user agent it picks the visitor's variant.
    client: Option<String>,
}

/// What a visit like that would get.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Resolved {
    /// `redirect`, `fallback` (ended, sent to `fallback_url`), `expired`, `exhausted`,
    /// `password_required`, `blocked`, or `inactive`.
    pub outcome: &'static str,
    /// The status the visit would get.
    pub status: u16,
    /// Where it would lead; for `password_required`, where it leads once the password is
    /// given.
    pub target: Option<String>,
    /// The index of the rule that chose the target.
    pub rule: Option<usize>,
    /// The index of the variant the visitor falls on.
    pub variant: Option<usize>,
    /// How the visitor is classified (`human`, `bot`, `preview`, `prefetch`): only human
    /// visits count toward `max_clicks`.
    pub visit_class: Option<&'static str>,
}

#[utoipa::path(
    get, path = "/urls/{id}/resolve", operation_id = "resolveUrl", tag = "urls",
    summary = "What a visit would get, without visiting",
    description = "Runs the redirect decision for a visit described by the parameters: expiry, visit cap (read, not spent), password, rules, variants and blocklist. Records nothing. In `keys` mode a key of a user sees only that user's links.",
    params(("id" = i64, Path, description = "The url's id"), ResolveParams),
    responses(
        (status = 200, description = "The outcome", body = Resolved),
        (status = 403, description = "A key of a user, asking for another user's link", body = super::openapi::ErrorBody),
        (status = 404, description = "No such url", body = super::openapi::ErrorBody),
        (status = 422, description = "`at`, `client` or `country` is invalid; `details` names it", body = super::openapi::ErrorBody),
    ),
    security(("apiKey" = ["read"]))
)]
async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Resolved>, ApiError> {
    let id = parse_id(&id, "url")?;
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let at = match param("at") {
        Some(raw) => Timestamp::parse(raw).map_err(|e| ApiError::invalid("at", e))?,
        None => Timestamp::now(),
    };
    let client = param("client")
        .map(|raw| raw.parse::<IpAddr>())
        .transpose()
        .map_err(|_| ApiError::invalid("client", "must be an IP address"))?;
    let country = param("country")
        .map(|raw| {
            Some(raw.to_ascii_uppercase())
                .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| ApiError::invalid("country", "must be an ISO 3166 alpha-2 code"))
        })
        .transpose()?;
    let link = readable_url(&state, &caller, id).await?.link();
    let visit = Visit {
        at,
        referrer: None,
        user_agent: param("user_agent"),
        accept_language: param("language"),
        prefetch: false,
        client,
    }
    .clipped();
    let mut visitor = state.classifier.visitor(&visit, link.id, param("query"));
    if country.is_some() {
        visitor.country = country;
    }
    let visit_class = visitor.class.map(|class| class.as_str());
    let mut facts = Facts {
        visitor,
        unlocked: false,
        exhausted: state.caps.exhausted(&link).await?,
    };
    let blocked = |target: &str| state.safety.blocked_destination(target);
    let mut outcome = decide(Some(&link), &visit, &facts, blocked);
    let locked = outcome == Outcome::Locked;
    if locked {
        facts.unlocked = true;
        outcome = decide(Some(&link), &visit, &facts, blocked);
    }
    let mut resolved = Resolved {
        outcome: "redirect",
        status: 302,
        target: None,
        rule: None,
        variant: None,
        visit_class,
    };
    match outcome {
        Outcome::Redirect {
            target,
            status,
            chosen,
            ..
        } => {
            resolved.target = Some(target.to_owned());
            resolved.status = status;
            match chosen {
                Chosen::Rule(index) => resolved.rule = Some(index),
                Chosen::Variant(index) => resolved.variant = Some(index),
                Chosen::Fallback(_) => resolved.outcome = "fallback",
                Chosen::Target => {}
            }
        }
        Outcome::NotFound => (resolved.outcome, resolved.status) = ("inactive", 404),
        Outcome::Blocked { .. } => (resolved.outcome, resolved.status) = ("blocked", 410),
        Outcome::Ended(End::Expired) => (resolved.outcome, resolved.status) = ("expired", 410),
        Outcome::Ended(End::Exhausted) => (resolved.outcome, resolved.status) = ("exhausted", 410),
        Outcome::Locked => {}
    }
    if locked {
        (resolved.outcome, resolved.status) = ("password_required", 401);
    }
    Ok(Json(resolved))
}
