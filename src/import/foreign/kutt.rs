//! Kutt's links as its API returns them (`GET /api/v2/links`): a page
//! `{"total", "data": [link, …]}`, an array of links, or several pages one after another
//! (each saved page appended to one file). A link:
//! `{"id", "address", "target", "description", "banned", "password", "expire_in",
//! "visit_count", "domain", "link", "created_at", "updated_at"}`.

use super::Foreign;
use super::formats::foreign;
use crate::domain::Timestamp;
use crate::import::rows::{cell, column_index, file_error};
use crate::import::{ImportError, Row};
use serde_json::{Value, json};
use std::io::Read;

/// The fields of a Kutt link that kurz reads.
const FIELDS: &[&str] = &[
    "id",
    "address",
    "target",
    "description",
    "banned",
    "password",
    "expire_in",
    "visit_count",
    "domain",
    "link",
    "created_at",
];

/// Hands every link of the file to `each` as a row (numbered from 1 in file order).
pub fn each_link(
    input: impl Read,
    each: &mut dyn FnMut(&Row<'_>) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    let columns = column_index(FIELDS.iter().copied());
    let mut record = csv::StringRecord::new();
    let mut number = 0;
    let values = serde_json::Deserializer::from_reader(input).into_iter::<Value>();
    for value in values {
        let value = value.map_err(|e| file_error(format!("not Kutt's JSON: {e}")))?;
        let links = match value {
            Value::Object(mut page) if page.contains_key("data") => page.remove("data"),
            other => Some(other),
        };
        let links = match links {
            Some(Value::Array(links)) => links,
            Some(link @ Value::Object(_)) => vec![link],
            _ => {
                return Err(file_error(
                    "not Kutt's JSON: expected links, an array of links or pages of them",
                ));
            }
        };
        for link in links {
            number += 1;
            record.clear();
            for field in FIELDS {
                record.push_field(&link.get(*field).map(cell).unwrap_or_default());
            }
            each(&Row::new(number, &record, &columns))?;
        }
    }
    Ok(number)
}

/// One link: `address` → short_code, `target` → original_url, `description` → title. A
/// banned, expired or password-protected link is imported switched off: Kutt's API does not
/// give the password, and kurz must not open what was closed.
pub fn link(row: &Row<'_>) -> Result<Foreign, ImportError> {
    let flag = |field: &str| row.text(field) == "True";
    let origin = json!({
        "source": "kutt",
        "id": row.text("id"),
        "domain": row.text("domain"),
        "link": row.text("link"),
        "visit_count": row.text("visit_count").parse::<u64>().ok(),
        "expire_in": row.text("expire_in"),
        "banned": flag("banned").then_some(true),
        "password": flag("password").then_some(true),
    });
    let columns = ("address", "target", "description", "created_at");
    let mut link = foreign(row, columns, None, origin)?;
    let expired = match row.text("expire_in") {
        "" => false,
        _ => row.parse("expire_in", super::foreign_time)? <= Timestamp::now(),
    };
    link.link.url.is_active = !(flag("banned") || flag("password") || expired);
    Ok(link)
}
