//! Each source's columns, field by field (documented in docs/DEPLOY.md). Column names are
//! compared as [`column_name`] makes them (`Long URL` → `long_url`), so a header's case and
//! spacing do not matter.

use super::{Foreign, Source, foreign_time};
use crate::domain::{ImportedLink, NewUrl, ShortCode, TargetUrl, Timestamp, parse_title};
use crate::import::rows::{check_columns, column_index, column_name, csv_rows, file_error};
use crate::import::{ImportError, Row};
use serde_json::{Map, Value, json};
use std::io::Read;

/// kurz's fields a generic CSV can fill (`--map column=field`).
pub const FIELDS: &[&str] = &[
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
];

/// The columns a source's CSV must have, and other names its exports give them.
fn columns(
    source: Source,
) -> (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
) {
    match source {
        Source::Shlink => (&["shortcode", "longurl"], &[]),
        Source::Bitly => (
            &["link", "long_url"],
            &[
                ("bitlink", "link"),
                ("date_created", "created_at"),
                ("created", "created_at"),
            ],
        ),
        Source::Yourls => (&["keyword", "url"], &[]),
        Source::Csv | Source::Kutt => (&["short_code", "original_url"], &[]),
    }
}

/// Reads a CSV source row by row: the header's columns renamed by the source's other names
/// and by `map`, then checked.
pub fn each_row(
    source: Source,
    input: impl Read,
    map: &[(String, String)],
    each: &mut dyn FnMut(&Row<'_>) -> Result<(), ImportError>,
) -> Result<usize, ImportError> {
    let (required, aliases) = columns(source);
    csv_rows(
        input,
        |header| {
            let mut index = column_index(header.iter());
            let renames = aliases
                .iter()
                .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()));
            for (from, to) in renames.chain(map_renames(map)?) {
                if let Some(at) = index.get(&from).copied() {
                    index.entry(to).or_insert(at);
                } else if map.iter().any(|(column, _)| column_name(column) == from) {
                    return Err(file_error(format!(
                        "--map names the column {from:?}, which the header does not have"
                    )));
                }
            }
            check_columns(&index, required)?;
            Ok(index)
        },
        each,
    )
}

/// `--map` pairs as column renames, refusing fields kurz does not have.
fn map_renames(map: &[(String, String)]) -> Result<Vec<(String, String)>, ImportError> {
    map.iter()
        .map(|(column, field)| {
            if FIELDS.contains(&field.as_str()) {
                Ok((column_name(column), field.clone()))
            } else {
                Err(file_error(format!(
                    "--map: {field:?} is not a field; fields are {}",
                    FIELDS.join(", ")
                )))
            }
        })
        .collect()
}

/// The links one row describes.
pub fn link(source: Source, row: &Row<'_>) -> Result<Vec<Foreign>, ImportError> {
    match source {
        Source::Shlink => shlink(row).map(|link| vec![link]),
        Source::Bitly => bitly(row),
        Source::Yourls => yourls(row).map(|link| vec![link]),
        Source::Kutt => super::kutt::link(row).map(|link| vec![link]),
        Source::Csv => generic(row).map(|link| vec![link]),
    }
}

/// An active link of the common fields, with `origin` to keep: the columns of the code,
/// target, title and creation time (the code is `code_column`'s text unless `code` says).
pub(super) fn foreign(
    row: &Row<'_>,
    (code_column, target, title, created): (&str, &str, &str, &str),
    code: Option<&str>,
    origin: Value,
) -> Result<Foreign, ImportError> {
    let code = code.unwrap_or_else(|| row.text(code_column));
    let mut origin = match origin {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    origin.retain(|_, v| !v.is_null() && v != "");
    let url = NewUrl {
        user_id: None,
        short_code: ShortCode::parse(code)
            .map_err(|e| row.fail(format!("{code_column} '{code}' {e}")))?,
        original_url: row.parse(target, TargetUrl::parse)?,
        title: row
            .optional_text(title)
            .map(|_| row.parse(title, parse_title))
            .transpose()?,
        is_active: true,
        settings: None,
        password_hash: None,
        created_at: match row.text(created) {
            "" => Timestamp::now(),
            _ => row.parse(created, foreign_time)?,
        },
        fresh_code: false,
    };
    Ok(Foreign {
        row: row.number(),
        link: ImportedLink { url, origin },
    })
}

/// A count column as a number when it is one.
fn count(row: &Row<'_>, column: &str) -> Value {
    let raw = row.text(column);
    raw.parse::<u64>().map_or_else(|_| json!(raw), |n| json!(n))
}

/// Shlink's web client export: `createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits`
/// (tags joined with `|`).
fn shlink(row: &Row<'_>) -> Result<Foreign, ImportError> {
    let tags: Vec<&str> = row
        .text("tags")
        .split('|')
        .filter(|t| !t.is_empty())
        .collect();
    let origin = json!({
        "source": "shlink",
        "domain": row.text("domain"),
        "short_url": row.text("shorturl"),
        "tags": if tags.is_empty() { Value::Null } else { json!(tags) },
        "visits": count(row, "visits"),
    });
    foreign(
        row,
        ("shortcode", "longurl", "title", "createdat"),
        None,
        origin,
    )
}

/// The code of a short URL: its path (`https://bit.ly/3abc` or `bit.ly/3abc` → `3abc`).
fn path_of(short_url: &str) -> &str {
    let rest = short_url
        .split_once("://")
        .map_or(short_url, |(_, rest)| rest);
    rest.split_once('/')
        .map_or("", |(_, path)| path)
        .trim_matches('/')
}

/// Bitly's links export: `link` (or `Bitlink`), `long_url`, `title`, `created_at` (or
/// `Date Created`), `tags`, `archived`, `custom_bitlinks`. Every custom back-half becomes a
/// link of its own to the same target, so each address that was shared keeps working.
fn bitly(row: &Row<'_>) -> Result<Vec<Foreign>, ImportError> {
    let bitlink = row.text("link");
    let custom = row.text("custom_bitlinks");
    let origin = json!({
        "source": "bitly",
        "bitlink": bitlink,
        "tags": row.text("tags"),
        "archived": row.text("archived"),
        "custom_bitlinks": custom,
    });
    let main = path_of(bitlink);
    if main.is_empty() {
        return Err(row.fail(format!("link '{bitlink}' has no back-half")));
    }
    let others = custom.split([',', '|', ' ']).map(path_of);
    let mut links: Vec<Foreign> = Vec::new();
    for code in std::iter::once(main).chain(others.filter(|c| !c.is_empty())) {
        let columns = ("link", "long_url", "title", "created_at");
        let link = foreign(row, columns, Some(code), origin.clone())?;
        if !links
            .iter()
            .any(|l| l.link.url.short_code == link.link.url.short_code)
        {
            links.push(link);
        }
    }
    Ok(links)
}

/// YOURLS's `yourls_url` table: `keyword,url,title,timestamp,ip,clicks`. The creator's IP
/// address is not kept; `NULL` (how SQL exports write a missing title) is no title.
fn yourls(row: &Row<'_>) -> Result<Foreign, ImportError> {
    let origin = json!({ "source": "yourls", "clicks": count(row, "clicks") });
    let mut link = foreign(row, ("keyword", "url", "title", "timestamp"), None, origin)?;
    if link.link.url.title.as_deref() == Some("NULL") {
        link.link.url.title = None;
    }
    Ok(link)
}

/// Any CSV: `short_code`, `original_url`, and optional `title`, `is_active`, `created_at`.
fn generic(row: &Row<'_>) -> Result<Foreign, ImportError> {
    let mut link = foreign(
        row,
        ("short_code", "original_url", "title", "created_at"),
        None,
        json!({ "source": "csv" }),
    )?;
    if row.has("is_active") && !row.text("is_active").is_empty() {
        link.link.url.is_active = row.parse("is_active", crate::import::rows::parse_bool)?;
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_urls_path_is_its_code() {
        for (url, code) in [
            ("https://bit.ly/3abcDEF", "3abcDEF"),
            ("bit.ly/my-name", "my-name"),
            ("https://go.example/x/", "x"),
            ("bit.ly", ""),
        ] {
            assert_eq!(path_of(url), code, "{url}");
        }
    }

    #[test]
    fn map_refuses_unknown_fields() {
        let map = [("Slug".to_owned(), "slug".to_owned())];
        assert!(map_renames(&map).is_err());
        let map = [("Slug".to_owned(), "short_code".to_owned())];
        assert_eq!(
            map_renames(&map).ok(),
            Some(vec![("slug".to_owned(), "short_code".to_owned())])
        );
    }
}
