//! What every route's description shares, added from the tables that enforce it: the access
//! each route declares (as both ways of presenting a key, with its 401/403), the write rate
//! limits, overload shedding and body limits; what every list, every JSON body and every
//! `{id}` path answers alike (declared here once, not per route); links from a created user
//! or url to the operations on it; and the pattern of a short code, which excludes the API's
//! own words.

use super::ErrorBody;
use crate::http::auth::{self, Access, AccessTable};
use axum::http::Method;
use serde_json::Value;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem, PathsMap};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::ObjectBuilder;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Header, OpenApi, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

/// Adds the shared rules to every operation of `api`.
pub fn apply(api: &mut OpenApi, access: &AccessTable) {
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
            describe_access(access.get(&method, path), operation);
            add_limits(&method, operation);
            add_conventions(path, operation);
            keep_optional_bodies_objects(operation);
        }
    }
    link_created(&mut api.paths.paths);
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

/// The access a route declared, as security requirements (either header) and a sentence.
fn describe_access(access: Access, operation: &mut Operation) {
    let note = match access {
        Access::Public => {
            operation.security = None;
            "Public: no API key is needed in any mode.".to_owned()
        }
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
}

fn add_limits(method: &Method, operation: &mut Operation) {
    if operation.request_body.is_some() {
        add_shared(operation, "413", "PayloadTooLarge");
    }
    // The write rate limits (see `http::rate_limit`) draw on creates and changes alike.
    if matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        add_shared(operation, "429", "TooManyRequests");
    }
    add_shared(operation, "503", "Unavailable");
}

/// What lists, JSON bodies and `{id}` paths answer, wherever a route does not say more.
fn add_conventions(path: &str, operation: &mut Operation) {
    let is_list = query_parameters(operation).any(|p| p.name == "page");
    if is_list {
        describe_list(operation);
    } else if operation.request_body.is_some() {
        add_error(
            operation,
            "400",
            "The body is not a JSON object sent as JSON",
        );
    }
    if let Some(thing) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("s/{id}"))
    {
        let missing = format!("No such {thing} (also for an id that is not a positive integer)");
        add_error(operation, "404", &missing);
    } else if let Some(thing) = path
        .split("s/{id}/")
        .next()
        .filter(|_| path.contains("s/{id}/"))
    {
        let missing = format!("No such {}", thing.trim_start_matches('/'));
        add_error(operation, "404", &missing);
    }
}

/// A list: its count header, its errors, and its filters also taken as a JSON object body
/// (the query parameters' own schemas, so the two cannot differ).
fn describe_list(operation: &mut Operation) {
    if let Some(RefOr::T(found)) = operation.responses.responses.get_mut("200") {
        let total = Header::builder()
            .schema(Some(i64::schema()))
            .description(Some("Rows matching the filters, whatever the page"))
            .build();
        found
            .headers
            .insert("X-Total-Count".to_owned(), RefOr::T(total));
    }
    add_error(
        operation,
        "400",
        "A malformed query string, or a JSON body that is not an object",
    );
    add_error(operation, "422", "A filter or pagination value is invalid");
    let mut filters = ObjectBuilder::new();
    for parameter in query_parameters(operation) {
        if let Some(schema) = &parameter.schema {
            filters = filters.property(&parameter.name, schema.clone());
        }
    }
    let body = RequestBodyBuilder::new()
        .description(Some(
            "The filters (and `page`, `per_page`) as a JSON object, for clients that send them \
             so; the query string wins",
        ))
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(filters.build())).build(),
        )
        .required(Some(Required::False))
        .build();
    operation.request_body = Some(RefOr::T(body));
}

fn query_parameters(operation: &Operation) -> impl Iterator<Item = &Parameter> {
    operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p),
            _ => None,
        })
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(error_response(description).build()));
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
        .schema(Some(i64::schema()))
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
                Header::builder().schema(Some(String::schema())).build(),
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
fn keep_optional_bodies_objects(operation: &mut Operation) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let mut rest = one_of.items.iter().filter(|item| !is_null(item));
            if let (Some(only), None) = (rest.next(), rest.next()) {
                content.schema = Some(only.clone());
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
fn link_created(paths: &mut PathsMap<String, PathItem>) {
    let by_id = |operation_id| (operation_id, ("id", "$response.body#/id"));
    let by_code = |operation_id| (operation_id, ("code", "$response.body#/short_code"));
    let user = ["getUser", "updateUser", "listUserUrls", "deleteUser"].map(by_id);
    link(paths, "/users", &user);
    let url = ["getUrl", "updateUrl", "deleteUrl"].map(by_id);
    let code = ["followLink", "followLinkUnderUrls", "reportLink"].map(by_code);
    link(paths, "/urls", &[url.as_slice(), code.as_slice()].concat());
}

/// Adds links from the 201 of `POST path` to each `(operation id, (parameter, value))`.
fn link(paths: &mut PathsMap<String, PathItem>, path: &str, targets: &[(&str, (&str, &str))]) {
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

/// A short code in a path is any code but the first word of one of the API's own paths:
/// those requests are the route's (the router's static routes win), never a link's.
pub fn describe_codes(spec: &mut Value) {
    let words = route_words(spec);
    let pattern = format!("^(?!({})$)[A-Za-z0-9_-]{{1,32}}$", words.join("|"));
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let parameters = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("parameters"))
        .filter_map(Value::as_array_mut)
        .flatten();
    for parameter in parameters {
        if parameter["name"] == "code" && parameter["in"] == "path" {
            parameter["schema"]["pattern"] = Value::String(pattern.clone());
        }
    }
}

/// The first segment of every path that starts with a fixed word.
pub fn route_words(spec: &Value) -> Vec<String> {
    let mut words: Vec<String> = spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.keys())
        .filter_map(|path| path.trim_start_matches('/').split('/').next())
        // `openapi.json` could never be a code anyway.
        .filter(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .collect();
    words.sort();
    words.dedup();
    words
}
