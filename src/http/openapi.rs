//! The OpenAPI 3.1 description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations.
//!
//! The request types here only document: handlers read bodies field by field (see
//! `extract::Fields`) to report every bad field in one 422, so nothing deserializes into
//! these structs. What all routes share is added by [`SharedRules`] from the same tables the
//! middleware enforces (the access table, the write rate limits, overload shedding), so the
//! description of those rules cannot drift from the code that applies them.

use super::auth::{self, Access};
use axum::http::Method;
use std::collections::BTreeMap;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Header, Ref, RefOr, Required};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

/// The whole API's description, as JSON.
pub fn document() -> serde_json::Value {
    // Plain data always serializes; were it ever to fail, the `null` fails every test of it.
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    camel_case_links(&mut document);
    document
}

/// utoipa 5 writes a link's fields in snake case (`operation_id`); OpenAPI spells them in
/// camel case, and tools ignore the others.
fn camel_case_links(document: &mut serde_json::Value) {
    let operations = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    let responses = operations
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|responses| responses.values_mut());
    let links = responses
        .filter_map(|response| response.get_mut("links"))
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|links| links.values_mut())
        .filter_map(serde_json::Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
}

const DESCRIPTION: &str = "\
A self-hosted URL shortener: users, short links, their click and audit history, and the \
redirects themselves.

Every response body is JSON except `/metrics` (Prometheus text), `/docs` (HTML) and \
redirects (empty). Errors are `{\"error\": \"<message>\"}`, with `\"details\": \
{\"<field>\": \"<problem>\"}` on 409 and 422. Datetimes are UTC, written \
`YYYY-MM-DDTHH:MM:SS`. A trailing slash is accepted on every path.

Access: in the default `open` mode no key is needed for anything. In `keys` mode each \
operation lists the API-key scope it needs (`read` < `write` < `admin`; a higher scope \
includes the lower ones), sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`; \
operations without a security requirement are public in both modes.";

#[derive(OpenApi)]
#[openapi(
    info(title = "kurz", description = DESCRIPTION, license(name = "MIT")),
    paths(
        super::ops::health,
        super::ops::ready,
        super::ops::metrics,
        super::users::list,
        super::users::create,
        super::users::bulk_import,
        super::users::show,
        super::users::update,
        super::users::remove,
        super::users::urls_of,
        super::urls::list,
        super::urls::create,
        super::urls::show,
        super::urls::update,
        super::urls::remove,
        super::events::list,
        super::events::create,
        super::redirect::redirect,
        super::reports::report,
        super::docs::spec,
        super::docs::page,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SharedRules, &OptionalBodies, &Links),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics."),
        (name = "users", description = "Users and CSV bulk import."),
        (name = "urls", description = "Short links and their changes (each one is recorded as an event)."),
        (name = "events", description = "The click and audit history."),
        (name = "redirects", description = "Following and reporting short links."),
        (name = "documentation", description = "This description of the API."),
    )
)]
struct ApiDoc;

/// The body of every error answer.
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, for a person to read.
    pub error: String,
    /// On 409 and 422: the problem with each offending field, by field name.
    #[schema(required = false)]
    pub details: BTreeMap<String, String>,
}

/// `POST /users`.
#[derive(ToSchema)]
pub struct CreateUser {
    /// 1–64 characters after trimming, no control characters. Unique.
    #[schema(min_length = 1, max_length = 64, examples("alice"))]
    pub username: String,
    /// One `@` with text on both sides, no spaces, at most 254 characters. Unique ignoring case.
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s]+@[^@\s]+$",
        examples("alice@example.com")
    )]
    pub email: String,
}

/// `PUT /users/{id}`: only the fields sent change.
#[derive(ToSchema)]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 64)]
    pub username: Option<String>,
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^@\s]+$")]
    pub email: Option<String>,
}

/// `POST /users/bulk`, as `multipart/form-data`.
#[derive(ToSchema)]
pub struct BulkImportForm {
    /// A CSV with the header `id,username,email,created_at` (columns by name, any order).
    #[schema(
        value_type = String,
        content_media_type = "text/csv",
        examples("id,username,email,created_at\n1,alice,alice@example.com,2025-09-19 22:25:05\n")
    )]
    pub file: Vec<u8>,
    /// Import only the first N data rows: a non-negative integer.
    pub row_count: Option<String>,
}

/// The rows a bulk import processed (both keys carry the same number).
#[derive(ToSchema)]
pub struct BulkImportResult {
    #[schema(minimum = 0)]
    pub imported: i64,
    #[schema(minimum = 0)]
    pub count: i64,
}

/// `POST /urls`.
#[derive(ToSchema)]
pub struct CreateUrl {
    /// An absolute `http` or `https` URL with a host, at most 2048 characters, no spaces or
    /// control characters; stored as sent (after trimming surrounding spaces).
    #[schema(max_length = 2048, examples("https://example.com/a/long/path"))]
    pub original_url: String,
    /// The owner. In `keys` mode a `write` key may only name its own user (the default).
    #[schema(minimum = 1)]
    pub user_id: Option<i64>,
    #[schema(max_length = 512)]
    pub title: Option<String>,
    /// A custom code: 3–32 characters of `[A-Za-z0-9_-]`, not a word reserved for routes.
    /// Without one a 6-character code is generated.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")]
    pub short_code: Option<String>,
}

/// `PUT /urls/{id}`: only the fields sent change; each change is recorded as an `updated`
/// event.
#[derive(ToSchema)]
pub struct UpdateUrl {
    /// `null` clears the title.
    #[schema(max_length = 512)]
    pub title: Option<String>,
    /// `false` makes the link answer 404.
    #[schema(nullable = false)]
    pub is_active: Option<bool>,
    #[schema(max_length = 2048, nullable = false)]
    pub original_url: Option<String>,
}

/// `POST /events`.
#[derive(ToSchema)]
pub struct CreateEvent {
    /// 1–64 characters after trimming.
    #[schema(min_length = 1, max_length = 64, examples("share"))]
    pub event_type: String,
    #[schema(minimum = 1)]
    pub url_id: Option<i64>,
    #[schema(minimum = 1)]
    pub user_id: Option<i64>,
    /// Any JSON object; absent or `null` is stored as `{}`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// `POST /urls/{code}/report`; the body is optional.
#[derive(ToSchema)]
pub struct ReportLink {
    /// Why the link is abusive, at most 1000 characters.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// The answer to every accepted report, whatever it changed.
#[derive(ToSchema)]
pub struct ReportReceipt {
    #[schema(examples("received"))]
    pub status: String,
    pub short_code: String,
}

/// Liveness.
#[derive(ToSchema)]
pub struct Health {
    #[schema(examples("ok"))]
    pub status: String,
}

/// Readiness: whether this replica should receive traffic.
#[derive(ToSchema)]
pub struct Readiness {
    /// `ok`, `unavailable` (the database is unreachable or not migrated yet) or `draining`
    /// (shutting down).
    #[schema(pattern = "^(ok|unavailable|draining)$")]
    pub status: String,
    #[schema(pattern = "^(ok|unreachable|migrating)$")]
    pub database: String,
    /// `off` without Redis; `degraded` while Redis is configured but unreachable (kurz keeps
    /// serving).
    #[schema(pattern = "^(ok|degraded|off)$")]
    pub cache: String,
}

/// `page` (1-based) and `per_page` (1..=100) paginate; out-of-range numbers are clamped and
/// a page past the end is empty. Without either, a list returns every matching row up to
/// `KURZ_LIST_CAP`. Text that is not an integer is a 422.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// The page, from 1 (values below are read as 1).
    pub page: Option<i64>,
    /// Rows per page, clamped into 1..=100 (20 when only `page` is given).
    pub per_page: Option<i64>,
}

/// Filters of `GET /users`, from the query string or a JSON object body.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilters {
    /// Exact username.
    pub username: Option<String>,
    /// Email, ignoring case.
    pub email: Option<String>,
}

/// Filters of `GET /urls`, from the query string or a JSON object body.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UrlFilters {
    pub user_id: Option<i64>,
    /// Also `1`/`0`, `yes`/`no`, in any case.
    pub is_active: Option<bool>,
    pub short_code: Option<String>,
}

/// Filters of `GET /users/{id}/urls`, from the query string or a JSON object body.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserUrlFilters {
    /// Also `1`/`0`, `yes`/`no`, in any case.
    pub is_active: Option<bool>,
}

/// Filters of `GET /events`, from the query string or a JSON object body.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilters {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    /// e.g. `click`, `created`, `updated`, `deleted`, `report`.
    pub event_type: Option<String>,
}

/// What every route shares, added from the tables that enforce it.
struct SharedRules;

impl Modify for SharedRules {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        alias_redirect(&mut api.paths.paths);
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <key>` (`keys` mode only)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                auth::API_KEY_HEADER,
                "`X-API-Key: <key>` (`keys` mode only).",
            ))),
        );
        for (name, response) in shared_responses() {
            components
                .responses
                .insert(name.to_owned(), response.into());
        }
        for (path, item) in &mut api.paths.paths {
            for (method, operation) in operations(item) {
                apply_shared_rules(path, &method, operation);
            }
        }
    }
}

/// The redirect handler's two routes: the same behaviour, so the second operation is a copy
/// of the first with its own id.
const REDIRECT: &str = "/{code}";
const REDIRECT_UNDER_URLS: &str = "/urls/{code}/redirect";

fn alias_redirect(paths: &mut utoipa::openapi::path::PathsMap<String, PathItem>) {
    let Some(mut item) = paths.get(REDIRECT).cloned() else {
        return;
    };
    if let Some(get) = item.get.as_mut() {
        get.operation_id = Some("followLinkUnderUrls".to_owned());
    }
    paths.insert(REDIRECT_UNDER_URLS.to_owned(), item);
}

fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::HEAD, item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|op| (method, op)))
    .collect()
}

fn apply_shared_rules(path: &str, method: &Method, operation: &mut Operation) {
    let note = match auth::access(method, Some(path)) {
        Access::Public => "Public: no API key is needed in any mode.".to_owned(),
        Access::Needs(scope) => {
            let scopes = [scope.to_string()];
            operation.security = Some(vec![
                SecurityRequirement::new("bearerAuth", scopes.clone()),
                SecurityRequirement::new("apiKey", scopes),
            ]);
            add_shared(operation, "401", "Unauthorized");
            add_shared(operation, "403", "Forbidden");
            format!(
                "In `keys` mode this needs an API key with scope `{scope}` or higher; in the \
                 default `open` mode no key is needed."
            )
        }
    };
    let description = match operation.description.take() {
        Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
        _ => note,
    };
    operation.description = Some(description);
    if operation.request_body.is_some() {
        add_shared(operation, "413", "PayloadTooLarge");
    }
    // The write rate limits (see `rate_limit`) draw on creates and changes alike.
    if matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        add_shared(operation, "429", "TooManyRequests");
    }
    add_shared(operation, "503", "Unavailable");
}

fn add_shared(operation: &mut Operation, status: &str, name: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(ErrorBody::name())))
            .build(),
    )
}

fn shared_responses() -> [(&'static str, Response); 5] {
    let seconds = Header::builder()
        .schema(i64::schema())
        .description(Some("Whole seconds to wait before trying again."))
        .build();
    [
        (
            "Unauthorized",
            error_response(
                "`keys` mode: no API key, an unknown, revoked or expired one, or an \
                 `Authorization` scheme other than Bearer.",
            )
            .header(
                "WWW-Authenticate",
                Header::builder().schema(String::schema()).build(),
            )
            .build(),
        ),
        (
            "Forbidden",
            error_response(
                "`keys` mode: the key's scope is too low, or a `write` key acts for \
                 another user.",
            )
            .build(),
        ),
        (
            "PayloadTooLarge",
            error_response(
                "The body is larger than the route accepts (1 MiB of JSON; \
                 `KURZ_MAX_UPLOAD_BYTES` for the CSV upload).",
            )
            .build(),
        ),
        (
            "TooManyRequests",
            error_response("This client sent more writes than its rate allows.")
                .header("Retry-After", seconds)
                .build(),
        ),
        (
            "Unavailable",
            error_response(
                "The database is unreachable, the replica is over its in-flight bound, or \
                 the request timed out. Safe to retry.",
            )
            .build(),
        ),
    ]
}

/// An optional body is optional by being absent: `null` is not an object, hence a 400. The
/// derive describes an `Option<T>` body as "`T` or `null`"; this keeps the `T`.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for item in api.paths.paths.values_mut() {
            for (_, operation) in operations(item) {
                let Some(body) = operation.request_body.as_mut() else {
                    continue;
                };
                if matches!(body.required, Some(Required::True)) {
                    continue;
                }
                for content in body.content.values_mut() {
                    if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                        let mut rest = one_of.items.iter().filter(|item| !is_null(item));
                        if let (Some(only), None) = (rest.next(), rest.next()) {
                            content.schema = Some(only.clone());
                        }
                    }
                }
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(object))
        if object.schema_type == SchemaType::Type(Type::Null))
}

/// What a created user or url leads to, so a client (or a fuzzer) can follow it from its
/// creation to the operations on it.
struct Links;

impl Modify for Links {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let paths = &mut api.paths.paths;
        let by_id = |operation_id| (operation_id, ("id", "$response.body#/id"));
        let by_code = |operation_id| (operation_id, ("code", "$response.body#/short_code"));
        let user = ["getUser", "updateUser", "listUserUrls", "deleteUser"].map(by_id);
        link(paths, "/users", &user);
        let url = ["getUrl", "updateUrl", "deleteUrl"].map(by_id);
        let code = ["followLink", "followLinkUnderUrls", "reportLink"].map(by_code);
        link(paths, "/urls", &[url.as_slice(), code.as_slice()].concat());
    }
}

/// Adds links from the 201 of `POST path` to each `(operation id, (parameter, value))`.
fn link(
    paths: &mut utoipa::openapi::path::PathsMap<String, PathItem>,
    path: &str,
    targets: &[(&str, (&str, &str))],
) {
    let created = paths
        .get_mut(path)
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.responses.responses.get_mut("201"));
    let Some(RefOr::T(created)) = created else {
        return;
    };
    for (operation_id, (parameter, value)) in targets {
        let link = LinkBuilder::new()
            .operation_id(*operation_id)
            .parameter(*parameter, *value)
            .build();
        created
            .links
            .insert((*operation_id).to_owned(), RefOr::T(link));
    }
}
