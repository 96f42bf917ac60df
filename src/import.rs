//! CSV import of the seed files, shared by `kurz import` and `POST /users/bulk`.
//! Every row is checked before anything is written, so a bad file changes nothing;
//! errors name the data row (1 = the first row after the header).

use crate::domain::{Email, Event, ImportedUser, ShortCode, TargetUrl, Timestamp, Url, Username};
use crate::store::Stores;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Why a CSV file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{}", match .row { Some(row) => format!("row {row}: {}", .message), None => .message.clone() })]
pub struct ImportError {
    /// The data row at fault, 1-based; `None` for the header or the file as a whole.
    pub row: Option<usize>,
    pub message: String,
}

fn file_error(message: impl Into<String>) -> ImportError {
    ImportError {
        row: None,
        message: message.into(),
    }
}

/// One data row, with its columns found by header name (column order does not matter).
struct Row<'a> {
    number: usize,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn fail(&self, message: String) -> ImportError {
        ImportError {
            row: Some(self.number),
            message,
        }
    }

    fn text(&self, column: &str) -> &str {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .unwrap_or("")
            .trim()
    }

    fn optional_text(&self, column: &str) -> Option<String> {
        Some(self.text(column))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn parse<T>(
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

/// Reads up to `limit` data rows, checking the header has `required` columns.
fn read_rows<T>(
    input: impl Read,
    required: &[&str],
    limit: Option<usize>,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, ImportError>,
) -> Result<Vec<T>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| file_error(format!("unreadable CSV header: {e}")))?;
    let columns: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                name.trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase(),
                i,
            )
        })
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(file_error(format!(
            "the CSV header must name the columns {}; missing: {}",
            required.join(","),
            missing.join(",")
        )));
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let limit = limit.unwrap_or(usize::MAX);
    while rows.len() < limit {
        let number = rows.len() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => rows.push(parse(&Row {
                number,
                record: &record,
                columns: &columns,
            })?),
            Err(e) => {
                return Err(ImportError {
                    row: Some(number),
                    message: format!("malformed CSV: {e}"),
                });
            }
        }
    }
    Ok(rows)
}

/// `username,email`, with optional `id` and `created_at` columns (a row may leave either
/// empty: see [`ImportedUser`]). Repeated usernames are accepted (real seed files have them).
pub fn parse_users(
    input: impl Read,
    limit: Option<usize>,
) -> Result<Vec<ImportedUser>, ImportError> {
    read_rows(input, &["username", "email"], limit, |row| {
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
    })
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Ok(true),
        "false" | "0" | "f" | "no" => Ok(false),
        _ => Err(format!("'{raw}' is not True or False")),
    }
}

/// `id,user_id,short_code,original_url,title,is_active,created_at,updated_at`.
pub fn parse_urls(input: impl Read, limit: Option<usize>) -> Result<Vec<Url>, ImportError> {
    let required = [
        "id",
        "user_id",
        "short_code",
        "original_url",
        "title",
        "is_active",
        "created_at",
        "updated_at",
    ];
    read_rows(input, &required, limit, |row| {
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
        })
    })
}

/// `id,url_id,user_id,event_type,timestamp,details` with `details` as JSON text (an object).
pub fn parse_events(input: impl Read, limit: Option<usize>) -> Result<Vec<Event>, ImportError> {
    read_rows(
        input,
        &[
            "id",
            "url_id",
            "user_id",
            "event_type",
            "timestamp",
            "details",
        ],
        limit,
        |row| {
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
        },
    )
}

/// Seed files for `kurz import`; any subset.
#[derive(Debug, Default)]
pub struct SeedFiles<'a> {
    pub users: Option<&'a Path>,
    pub urls: Option<&'a Path>,
    pub events: Option<&'a Path>,
}

/// Rows imported per table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub users: u64,
    pub urls: u64,
    pub events: u64,
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))
}

/// Imports users, then urls, then events (the order their references need). Each file is
/// parsed whole before it is written, in one transaction; rerunning is harmless.
pub async fn import_seed(store: &Stores, files: &SeedFiles<'_>) -> anyhow::Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let context = |path: &Path, e: ImportError| anyhow::anyhow!("{}: {e}", path.display());
    if let Some(path) = files.users {
        let rows = parse_users(open(path)?, None).map_err(|e| context(path, e))?;
        summary.users = store.users.import_users(&rows).await?;
    }
    if let Some(path) = files.urls {
        let rows = parse_urls(open(path)?, None).map_err(|e| context(path, e))?;
        summary.urls = store
            .links
            .import_urls(&rows)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if let Some(path) = files.events {
        let rows = parse_events(open(path)?, None).map_err(|e| context(path, e))?;
        summary.events = store.events.import_events(&rows).await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = "id,username,email,created_at\n1,alice,alice@example.com,2025-01-02 03:04:05\n2,bob,bob@example.com,2025-01-02T03:04:06\n";

    #[test]
    fn users_parse_with_their_ids_and_timestamps() {
        let users = parse_users(USERS.as_bytes(), None).unwrap_or_default();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].id, Some(2));
        assert_eq!(
            users[0].created_at.map(|t| t.to_string()).as_deref(),
            Some("2025-01-02T03:04:05")
        );
    }

    #[test]
    fn ids_and_timestamps_are_optional() {
        let csv = "username,email\nalice,alice@example.com\n";
        let users = parse_users(csv.as_bytes(), None).unwrap_or_default();
        assert_eq!(users.len(), 1);
        assert_eq!((users[0].id, users[0].created_at), (None, None));
        let csv = "id,username,email,created_at\n,alice,alice@example.com,\n7,bob,b@x.io,\n";
        let users = parse_users(csv.as_bytes(), None).unwrap_or_default();
        assert_eq!(
            users.iter().map(|u| u.id).collect::<Vec<_>>(),
            [None, Some(7)]
        );
        assert!(users.iter().all(|u| u.created_at.is_none()));
    }

    #[test]
    fn row_count_limits_the_rows_read() {
        assert_eq!(
            parse_users(USERS.as_bytes(), Some(1)).map(|u| u.len()).ok(),
            Some(1)
        );
    }

    #[test]
    fn bad_rows_are_reported_by_number_and_missing_columns_by_name() {
        let cases = [
            (
                "id,username,email,created_at\n1,a,a@x.io,2025-01-01 00:00:00\n2,b,not-an-email,2025-01-01 00:00:00\n",
                "row 2: email",
            ),
            ("id,username\n1,a\n", "missing: email"),
        ];
        for (csv, problem) in cases {
            let err = parse_users(csv.as_bytes(), None)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(problem)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn urls_read_python_style_booleans() {
        let csv = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n\
                   1,1,abc123,https://example.com,T,False,2025-01-01 00:00:00,2025-01-02 00:00:00\n";
        let urls = parse_urls(csv.as_bytes(), None).unwrap_or_default();
        assert_eq!(urls.first().map(|u| u.is_active), Some(false));
    }

    #[test]
    fn event_details_must_be_an_object() {
        let csv = "id,url_id,user_id,event_type,timestamp,details\n1,1,1,created,2025-01-01 00:00:00,\"[1]\"\n";
        assert!(parse_events(csv.as_bytes(), None).is_err());
    }
}
