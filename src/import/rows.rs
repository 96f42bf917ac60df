//! Rows of the import files, checked one by one: CSV with a header (columns found by name,
//! in any order), or JSON lines with the same fields. The seed import reads whole files;
//! `kurz import --from kurz` streams them (see [`each_row`]).

use super::columns::{Columns, EVENTS, URLS, USERS};
use crate::domain::{Email, Event, ImportedUser, ShortCode, TargetUrl, Timestamp, Url, Username};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

/// Why a CSV file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{}", match .row { Some(row) => format!("row {row}: {}", .message), None => .message.clone() })]
pub struct ImportError {
    /// The data row at fault, 1-based; `None` for the header or the file as a whole.
    pub row: Option<usize>,
    pub message: String,
}

pub(crate) fn file_error(message: impl Into<String>) -> ImportError {
    ImportError {
        row: None,
        message: message.into(),
    }
}

/// One data row, with its columns found by header name (column order does not matter).
pub struct Row<'a> {
    number: usize,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl<'a> Row<'a> {
    pub(crate) fn new(
        number: usize,
        record: &'a csv::StringRecord,
        columns: &'a HashMap<String, usize>,
    ) -> Self {
        Self {
            number,
            record,
            columns,
        }
    }

    /// This row's number in its file (1 = the first data row).
    pub fn number(&self) -> usize {
        self.number
    }

    /// Whether the file has this column.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// This row's error: `message`, with its row number.
    pub fn fail(&self, message: String) -> ImportError {
        ImportError {
            row: Some(self.number),
            message,
        }
    }

    pub(crate) fn text(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .unwrap_or("")
            .trim()
    }

    pub(crate) fn optional_text(&self, column: &str) -> Option<String> {
        Some(self.text(column))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    pub(crate) fn parse<T>(
        &self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ImportError> {
        parse(self.text(column)).map_err(|problem| self.fail(format!("{column} {problem}")))
    }

    fn id(&self, column: &str) -> Result<i64, ImportError> {
        self.parse(column, |raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| format!("'{raw}' is not a positive integer"))
        })
    }

    fn optional_id(&self, column: &str) -> Result<Option<i64>, ImportError> {
        if self.text(column).is_empty() {
            Ok(None)
        } else {
            self.id(column).map(Some)
        }
    }

    fn timestamp(&self, column: &str) -> Result<Timestamp, ImportError> {
        self.parse(column, Timestamp::parse)
    }

    fn optional_timestamp(&self, column: &str) -> Result<Option<Timestamp>, ImportError> {
        if self.text(column).is_empty() {
            Ok(None)
        } else {
            self.timestamp(column).map(Some)
        }
    }
}

/// How a file's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line, its fields named as the CSV columns.
    JsonLines,
}

/// A header's column name as rows look it up: trimmed, without a byte-order mark, lower
/// case, spaces and dashes as underscores (`Long URL` → `long_url`).
pub(crate) fn column_name(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

/// Each column's position, by [`column_name`].
pub(crate) fn column_index<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    names
        .enumerate()
        .map(|(i, name)| (column_name(name), i))
        .collect()
}

pub(crate) fn check_columns(
    columns: &HashMap<String, usize>,
    required: &[&str],
) -> Result<(), ImportError> {
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(file_error(format!(
        "the CSV header must name the columns {}; missing: {}",
        required.join(","),
        missing.join(",")
    )))
}

/// A JSON value as the text a CSV cell would hold (`null` → empty, objects as JSON).
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// Parses every data row in order and hands each to `each`, keeping none (constant memory
/// whatever the file's size); stops at the first bad row. The number of rows.
pub fn each_row<T>(
    input: impl Read,
    shape: Shape,
    table: &Columns,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, ImportError>,
    mut each: impl FnMut(T) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    match shape {
        Shape::Csv => csv_rows(
            input,
            |header| {
                let columns = column_index(header.iter());
                check_columns(&columns, table.required)?;
                Ok(columns)
            },
            |row| each(parse(row)?),
        ),
        Shape::JsonLines => {
            let (mut number, mut record) = (0, csv::StringRecord::new());
            let columns = column_index(table.all.iter().copied());
            for line in BufReader::new(input).lines() {
                number += 1;
                let fail = |message: String| ImportError {
                    row: Some(number),
                    message,
                };
                let line = line.map_err(|e| fail(format!("unreadable line: {e}")))?;
                let object = match serde_json::from_str(&line) {
                    Ok(Value::Object(object)) => object,
                    _ => return Err(fail("not a JSON object".into())),
                };
                record.clear();
                for name in table.all {
                    record.push_field(&object.get(*name).map(cell).unwrap_or_default());
                }
                each(parse(&Row::new(number, &record, &columns))?)?;
            }
            Ok(number)
        }
    }
}

/// Reads a CSV file with a header row: `columns` turns the header into the index rows look
/// their columns up in (or refuses it), and every data row goes to `each` in order. Stops at
/// the first error. The number of rows.
pub(crate) fn csv_rows(
    input: impl Read,
    columns: impl FnOnce(&csv::StringRecord) -> Result<HashMap<String, usize>, ImportError>,
    mut each: impl FnMut(&Row<'_>) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| file_error(format!("unreadable CSV header: {e}")))?;
    let columns = columns(header)?;
    let mut record = csv::StringRecord::new();
    let mut number = 0;
    loop {
        number += 1;
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(number - 1),
            Ok(true) => each(&Row::new(number, &record, &columns))?,
            Err(e) => {
                return Err(ImportError {
                    row: Some(number),
                    message: format!("malformed CSV: {e}"),
                });
            }
        }
    }
}

/// Reads up to `limit` data rows of a CSV file, checking the header has the required columns.
/// An id given twice is refused: which of the two rows the file meant is not ours to guess
/// (and PostgreSQL refuses one statement that writes a row twice, so a backend would
/// otherwise decide).
fn read_rows<T>(
    input: impl Read,
    table: &Columns,
    limit: Option<usize>,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, ImportError>,
    id: fn(&T) -> Option<i64>,
) -> Result<Vec<T>, ImportError> {
    /// Ends the reading early once `limit` rows are in (not an error the caller sees).
    const ENOUGH: &str = "enough rows";
    let limit = limit.unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    if limit == 0 {
        return Ok(rows);
    }
    let mut ids: HashMap<i64, usize> = HashMap::new();
    let parse = |row: &Row<'_>| {
        let parsed = parse(row)?;
        if let Some(id) = id(&parsed)
            && let Some(first) = ids.insert(id, row.number())
        {
            return Err(row.fail(format!("id {id} is the id of row {first} too")));
        }
        Ok(parsed)
    };
    let read = each_row(input, Shape::Csv, table, parse, |row| {
        rows.push(row);
        if rows.len() >= limit {
            return Err(file_error(ENOUGH));
        }
        Ok(())
    });
    match read {
        Err(err) if err.row.is_none() && err.message == ENOUGH => Ok(rows),
        Err(err) => Err(err),
        Ok(_) => Ok(rows),
    }
}

/// `username,email`, with optional `id` and `created_at` columns (a row may leave either
/// empty: see [`ImportedUser`]). Repeated usernames are accepted (real seed files have them).
pub fn user_row(row: &Row<'_>) -> Result<ImportedUser, ImportError> {
    Ok(ImportedUser {
        id: row.optional_id("id")?,
        username: row.parse("username", |raw| {
            Username::parse(raw).map(|u| u.as_str().to_owned())
        })?,
        email: row.parse("email", |raw| {
            Email::parse(raw).map(|e| e.as_str().to_owned())
        })?,
        created_at: row.optional_timestamp("created_at")?,
    })
}

pub(crate) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Ok(true),
        "false" | "0" | "f" | "no" => Ok(false),
        _ => Err(format!("'{raw}' is not True or False")),
    }
}

/// `id,user_id,short_code,original_url,title,is_active,created_at,updated_at` (no settings).
pub fn url_row(row: &Row<'_>) -> Result<Url, ImportError> {
    Ok(Url {
        id: row.id("id")?,
        user_id: row.optional_id("user_id")?,
        short_code: row.parse("short_code", |raw| {
            ShortCode::parse(raw)
                .map(|c| c.to_string())
                .map_err(|e| e.to_string())
        })?,
        original_url: row.parse("original_url", |raw| {
            TargetUrl::parse(raw).map(|t| t.to_string())
        })?,
        title: row.optional_text("title"),
        is_active: row.parse("is_active", parse_bool)?,
        created_at: row.timestamp("created_at")?,
        updated_at: row.timestamp("updated_at")?,
        settings: None,
        password_hash: None,
    })
}

/// `id,url_id,user_id,event_type,timestamp,details` with `details` as JSON text (an object).
pub fn event_row(row: &Row<'_>) -> Result<Event, ImportError> {
    let details = match row.text("details") {
        "" => serde_json::Map::new(),
        raw => match serde_json::from_str(raw) {
            Ok(Value::Object(map)) => map,
            _ => return Err(row.fail("details must be a JSON object".into())),
        },
    };
    let event_type = row.text("event_type");
    if event_type.is_empty() {
        return Err(row.fail("event_type must not be empty".into()));
    }
    Ok(Event {
        id: row.id("id")?,
        url_id: row.optional_id("url_id")?,
        user_id: row.optional_id("user_id")?,
        event_type: event_type.to_owned(),
        timestamp: row.timestamp("timestamp")?,
        details,
    })
}

/// A users CSV, whole (up to `limit` rows).
pub fn parse_users(
    input: impl Read,
    limit: Option<usize>,
) -> Result<Vec<ImportedUser>, ImportError> {
    read_rows(input, &USERS, limit, user_row, |user| user.id)
}

/// A urls CSV, whole (up to `limit` rows).
pub fn parse_urls(input: impl Read, limit: Option<usize>) -> Result<Vec<Url>, ImportError> {
    read_rows(input, &URLS, limit, url_row, |url| Some(url.id))
}

/// An events CSV, whole (up to `limit` rows).
pub fn parse_events(input: impl Read, limit: Option<usize>) -> Result<Vec<Event>, ImportError> {
    read_rows(input, &EVENTS, limit, event_row, |event| Some(event.id))
}
