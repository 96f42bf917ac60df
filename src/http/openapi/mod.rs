//! The OpenAPI 3.1 description of the API, collected from the routes themselves: each route
//! is declared once, with its handler, its `#[utoipa::path]` description and its access
//! scope (`security`), in its resource's `routes()`. [`Document`] assembles them, derives
//! the access table the middleware enforces from the same declarations, and adds what all
//! routes share ([`rules`]).

mod params;
mod rules;

pub use params::{ErrorBody, EventFilters, Pagination, UrlFilters, UserFilters, UserUrlFilters};

use super::auth::AccessTable;
use super::docs;
use axum::body::Bytes;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

const DESCRIPTION: &str = "\
A self-hosted URL shortener: users, short links, their click and audit history, and the \
redirects themselves.

Every response body is JSON except `/metrics` (Prometheus text), `/docs` (HTML), QR codes \
(SVG or PNG), inspect pages asked for as HTML, and redirects (empty). Errors are `{\"error\": \"<message>\"}`, with `\"details\": \
{\"<field>\": \"<problem>\"}` on 409 and 422. Datetimes are UTC, written \
`YYYY-MM-DDTHH:MM:SS`. A trailing slash is accepted on every path.

Access: in the default `open` mode no key is needed for anything. In `keys` mode each \
operation lists the API-key scope it needs (`read` < `write` < `admin`; a higher scope \
includes the lower ones), sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`; \
operations without a security requirement are public in both modes.";

#[derive(OpenApi)]
#[openapi(
    info(title = "kurz", description = DESCRIPTION, license(name = "MIT")),
    components(schemas(ErrorBody, crate::http::inspect::Inspected)),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics."),
        (name = "users", description = "Users and CSV bulk import."),
        (name = "urls", description = "Short links and their changes (each one is recorded as an event)."),
        (name = "events", description = "The click and audit history."),
        (name = "stats", description = "Clicks counted by visit class (humans, bots, link previews, prefetches), over time and by referrer, browser, OS, device, country and language, from hourly counters."),
        (name = "redirects", description = "Following and reporting short links."),
        (name = "documentation", description = "This description of the API."),
    )
)]
struct ApiDoc;

/// The API's description, as served and as enforced.
pub struct Document {
    /// `GET /openapi.json`.
    pub spec: Value,
    /// `GET /docs`: the same, as a page.
    pub page: Bytes,
    /// Who may call each route, from the routes' `security` declarations.
    pub access: AccessTable,
}

impl Document {
    /// Collects every route's declaration.
    pub fn build() -> Self {
        let routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(super::links::routes())
            .merge(super::api_routes(0))
            .merge(super::ops::metrics_routes());
        let mut openapi = routes.into_openapi();
        // Plain data always serializes; were it ever to fail, the `null` fails every test of it.
        let declared = serde_json::to_value(&openapi).unwrap_or_default();
        let access = AccessTable::from_spec(&declared);
        rules::apply(&mut openapi, &access);
        let mut spec = serde_json::to_value(&openapi).unwrap_or_default();
        rules::describe_codes(&mut spec);
        let page = Bytes::from(docs::render(&spec));
        Self { spec, page, access }
    }
}
