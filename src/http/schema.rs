//! The JSON schemas of request fields, built from the domain's own limits, so the API's
//! description states each limit from the constant the parser enforces. Used by the
//! request types' `#[schema(schema_with = …)]`.

use crate::domain::limits;
use utoipa::openapi::KnownFormat;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

fn string(description: String) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn or_null(kind: Type) -> SchemaType {
    SchemaType::from_iter([kind, Type::Null])
}

pub fn target_url() -> Object {
    let max = limits::TARGET_URL;
    string(format!(
        "An absolute `http` or `https` URL with a host, at most {max} bytes in UTF-8, no spaces \
         or control characters; stored as sent (after trimming surrounding spaces)."
    ))
    // No `maxLength`: JSON Schema counts characters, the bound is in bytes.
    .examples(["https://example.com/a/long/path"])
    .build()
}

pub fn title() -> Object {
    let max = limits::TITLE;
    string(format!("At most {max} characters; `null` for none."))
        .schema_type(or_null(Type::String))
        .max_length(Some(max))
        .build()
}

pub fn custom_code() -> Object {
    let (min, max) = (limits::CUSTOM_CODE_MIN, limits::CODE);
    string(format!(
        "A custom code: {min}–{max} characters of `[A-Za-z0-9_-]`, not a word reserved for \
         routes. Without one a 6-character code is generated."
    ))
    .schema_type(or_null(Type::String))
    .min_length(Some(min))
    .max_length(Some(max))
    .pattern(Some("^[A-Za-z0-9_-]+$"))
    .build()
}

/// A reference to a row by id, or `null`.
fn reference(description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(or_null(Type::Integer))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .description(Some(description))
        .build()
}

pub fn owner() -> Object {
    reference("The owner. In `keys` mode a `write` key may only name its own user (the default).")
}

pub fn url_ref() -> Object {
    reference("The url the event is about.")
}

pub fn user_ref() -> Object {
    reference("The user the event is about. In `keys` mode a `write` key names only its own.")
}

pub fn username() -> Object {
    let max = limits::USERNAME;
    string(format!(
        "1–{max} characters after trimming, no control characters. Unique."
    ))
    .min_length(Some(1))
    .max_length(Some(max))
    .examples(["alice"])
    .build()
}

pub fn email() -> Object {
    let max = limits::EMAIL;
    string(format!(
        "One `@` with text on both sides, no spaces, at most {max} bytes in UTF-8. Unique \
         ignoring case."
    ))
    // No `maxLength`: JSON Schema counts characters, the bound is in bytes.
    .pattern(Some(r"^[^@\s]+@[^@\s]+$"))
    .examples(["alice@example.com"])
    .build()
}

/// A text of at most `max` characters (or `null`).
pub fn text(max: usize, description: String) -> Object {
    string(description)
        .schema_type(or_null(Type::String))
        .max_length(Some(max))
        .build()
}

/// `true` or `false` (never `null`).
pub fn flag(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .description(Some(description))
}
