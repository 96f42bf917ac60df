//! Access control. Each route declares who may call it (its `security` in the API's
//! description); [`AccessTable`] is those declarations as a table, [`authorize`] enforces it
//! in `keys` mode and tells handlers who is calling ([`Caller`]) so they can check
//! ownership. In `open` mode everyone may do everything, as the contract says.

use super::AppState;
use super::error::ApiError;
use crate::auth::{KeyRefusal, loggable};
use crate::config::AuthMode;
use crate::domain::{ApiKey, Scope};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The header some clients find easier to set than `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: redirects, reports, probes, the API description.
    Public,
    /// A key with at least this scope.
    Needs(Scope),
}

/// Who may call each route, by method and route template, read from the routes' own
/// declarations: `security(())` is public, `security(("apiKey" = ["write"]))` needs that
/// scope. A route that declares nothing needs `admin`, so a route added later is closed
/// until someone opens it.
#[derive(Debug, Default)]
pub struct AccessTable(HashMap<(Method, String), Access>);

impl AccessTable {
    /// The table of an OpenAPI document (as JSON), as the routes declared it.
    pub fn from_spec(spec: &Value) -> Self {
        let mut table = HashMap::new();
        let paths = spec["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                table.insert((method, path.clone()), declared(&operation["security"]));
            }
        }
        Self(table)
    }

    /// What `method` on `route` needs; a route no one declared needs `admin`.
    pub fn get(&self, method: &Method, route: &str) -> Access {
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0
            .get(&(method.clone(), route.to_owned()))
            .copied()
            .unwrap_or(Access::Needs(Scope::Admin))
    }
}

/// An operation's declared `security`: an empty requirement opens it; else the lowest
/// scope any requirement names.
fn declared(security: &Value) -> Access {
    let Some(requirements) = security.as_array() else {
        return Access::Needs(Scope::Admin);
    };
    if requirements
        .iter()
        .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
    {
        return Access::Public;
    }
    requirements
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|scope| Scope::parse(scope.as_str()?).ok())
        .min()
        .map_or(Access::Needs(Scope::Admin), Access::Needs)
}

/// Who is calling, as handlers see it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `open` mode: the contract's anyone-may-do-anything.
    Open,
    /// `keys` mode on a public route.
    Anonymous,
    /// `keys` mode with a valid key of sufficient scope.
    Key(Arc<ApiKey>),
}

impl Caller {
    /// True when no ownership rule applies (`open` mode, admin keys).
    pub fn manages_everything(&self) -> bool {
        match self {
            Self::Open => true,
            Self::Anonymous => false,
            Self::Key(key) => key.scope.grants(Scope::Admin),
        }
    }

    /// May this caller change links and events owned by `owner`? Admin keys may change any;
    /// `write` keys only their own user's.
    pub fn may_manage(&self, owner: Option<i64>) -> bool {
        match self {
            _ if self.manages_everything() => true,
            Self::Key(key) => key.user_id.is_some() && key.user_id == owner,
            _ => false,
        }
    }

    /// May this caller read a link owned by `owner` (the link, its stats, its QR code)? A key
    /// of a user only its own user's links (unless its scope manages everything); other
    /// callers any.
    pub fn may_read(&self, owner: Option<i64>) -> bool {
        match self {
            Self::Key(key) if key.user_id.is_some() => self.may_manage(owner),
            _ => true,
        }
    }

    /// Whose links a list may show, given the `user_id` asked for: a key of a user (short of
    /// admin) only its own user's, by default and when asked for by id (another user's is
    /// refused); other callers whatever was asked.
    pub fn readable_owner(&self, requested: Option<i64>) -> Result<Option<i64>, ApiError> {
        match self {
            // What such a key reads is what it may own: the same rule as a new link's.
            Self::Key(key) if key.user_id.is_some() => self.owner_for(requested),
            _ => Ok(requested),
        }
    }

    /// The owner a new link or event gets: as requested, or for a `write` key its own user
    /// (naming another user is refused).
    pub fn owner_for(&self, requested: Option<i64>) -> Result<Option<i64>, ApiError> {
        match self {
            _ if self.manages_everything() => Ok(requested),
            Self::Key(key) => match requested {
                None => Ok(key.user_id),
                Some(_) if self.may_manage(requested) => Ok(requested),
                Some(_) => Err(not_yours()),
            },
            Self::Open | Self::Anonymous => Err(not_yours()),
        }
    }

    /// The key's id, for per-client limits.
    pub fn key_id(&self) -> Option<i64> {
        match self {
            Self::Key(key) => Some(key.id),
            _ => None,
        }
    }
}

/// The 403 for acting on another user's links.
pub fn not_yours() -> ApiError {
    ApiError::Forbidden("this API key may only act for its own user".into())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Without the middleware's word, assume the least.
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous))
    }
}

/// The secret from `Authorization: Bearer …` or `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized(
                "unsupported authorization scheme: use Bearer".into(),
            ));
        }
        return Ok(Some(token.trim()).filter(|t| !t.is_empty()));
    }
    Ok(headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty()))
}

fn refused(reason: &'static str, error: ApiError) -> Response {
    metrics::counter!("kurz_auth_failures_total", "reason" => reason).increment(1);
    error.into_response()
}

/// Enforces [`access`] in `keys` mode and records the caller for handlers.
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.settings.security.auth == AuthMode::Open {
        request.extensions_mut().insert(Caller::Open);
        return next.run(request).await;
    }
    let Some(route) = request.extensions().get::<MatchedPath>() else {
        // No route matched: the answer is a 404 whoever asks.
        request.extensions_mut().insert(Caller::Anonymous);
        return next.run(request).await;
    };
    let needed = match state.document.access.get(request.method(), route.as_str()) {
        Access::Public => {
            request.extensions_mut().insert(Caller::Anonymous);
            return next.run(request).await;
        }
        Access::Needs(scope) => scope,
    };
    let secret = match presented_key(request.headers()) {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return refused(
                "missing",
                ApiError::Unauthorized(
                    "an API key is required: send Authorization: Bearer <key> or X-API-Key".into(),
                ),
            );
        }
        Err(err) => return refused("scheme", err),
    };
    let caller = match state.keys.authenticate(secret).await {
        Ok(key) if key.scope.grants(needed) => Caller::Key(key),
        Ok(key) => {
            tracing::warn!(key = %key.prefix, scope = %key.scope, needed = %needed, "API key lacks the scope");
            return refused(
                "scope",
                ApiError::Forbidden(format!(
                    "this API key has scope {}; this call needs {needed}",
                    key.scope
                )),
            );
        }
        Err(KeyRefusal::Store(err)) => return ApiError::from(err).into_response(),
        Err(refusal) => {
            // Never the secret: its first characters identify it well enough.
            tracing::warn!(
                key = loggable(secret),
                reason = refusal.reason(),
                "API key refused"
            );
            return refused(
                refusal.reason(),
                ApiError::Unauthorized(refusal.to_string()),
            );
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AccessTable {
        crate::http::openapi::Document::build().access
    }

    #[test]
    fn redirects_reports_probes_and_the_description_are_public() {
        let table = table();
        for route in [
            "/{code}",
            "/urls/{code}/redirect",
            "/health",
            "/ready",
            "/metrics",
            "/openapi.json",
            "/docs",
        ] {
            assert_eq!(table.get(&Method::GET, route), Access::Public, "{route}");
            assert_eq!(table.get(&Method::HEAD, route), Access::Public, "{route}");
        }
        assert_eq!(
            table.get(&Method::POST, "/urls/{code}/report"),
            Access::Public
        );
    }

    #[test]
    fn users_bulk_the_event_history_and_undeclared_routes_need_admin() {
        let table = table();
        for (method, route) in [
            (Method::GET, "/users"),
            (Method::POST, "/users"),
            (Method::POST, "/users/bulk"),
            (Method::PUT, "/users/{id}"),
            (Method::DELETE, "/users/{id}"),
            (Method::GET, "/events"),
            (Method::PATCH, "/urls/{id}"),
            (Method::GET, "/not/declared"),
        ] {
            assert_eq!(
                table.get(&method, route),
                Access::Needs(Scope::Admin),
                "{method} {route}"
            );
        }
    }

    #[test]
    fn links_need_read_to_see_and_write_to_change() {
        let table = table();
        for (method, route, scope) in [
            (Method::GET, "/urls", Scope::Read),
            (Method::GET, "/urls/{id}", Scope::Read),
            (Method::GET, "/users/{id}/urls", Scope::Read),
            (Method::POST, "/urls", Scope::Write),
            (Method::PUT, "/urls/{id}", Scope::Write),
            (Method::DELETE, "/urls/{id}", Scope::Write),
            (Method::POST, "/events", Scope::Write),
        ] {
            assert_eq!(
                table.get(&method, route),
                Access::Needs(scope),
                "{method} {route}"
            );
        }
    }

    #[test]
    fn presented_keys_come_from_bearer_or_x_api_key() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers).ok(), Some(None));
        headers.insert(
            API_KEY_HEADER,
            "kurz_abc".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(presented_key(&headers).ok(), Some(Some("kurz_abc")));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer kurz_def".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(presented_key(&headers).ok(), Some(Some("kurz_def")));
        headers.insert(
            header::AUTHORIZATION,
            "Basic dXNlcjpwYXNz"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(presented_key(&headers).is_err());
    }
}
