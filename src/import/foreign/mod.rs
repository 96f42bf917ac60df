//! Links from other shorteners' exports: Shlink (its web client's CSV export), Bitly (its
//! links CSV), YOURLS (its `yourls_url` table as CSV), Kutt (links as its API returns them,
//! JSON) and any CSV whose columns are named as kurz's fields or mapped to them with
//! `--map`. Field by field, the mappings are in docs/DEPLOY.md ("Importing from other
//! shorteners").
//!
//! A file is read whole and checked before anything is written; its links are then written
//! in one transaction ([`crate::store::LinkStore::import_links`]). A short code already
//! taken is never renamed: with the same target it is already there (which makes a rerun
//! harmless), with another target it is a clash, reported with both targets.

mod formats;
mod kutt;

use super::{ImportError, Row};
use crate::domain::{ImportedLink, Timestamp};
use crate::store::{LinkStore, StoreResult};
use serde::Serialize;
use std::io::Read;

/// Whose export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Shlink,
    Bitly,
    Yourls,
    Kutt,
    /// Any CSV: columns named as kurz's fields, or mapped to them.
    Csv,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Self::Shlink => "shlink",
            Self::Bitly => "bitly",
            Self::Yourls => "yourls",
            Self::Kutt => "kutt",
            Self::Csv => "csv",
        }
    }
}

/// One link as read from a foreign file, checked: the url to create (owned by no one, and
/// created now when the source gave no time), and where in the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreign {
    /// The data row (or, for Kutt, the link's place in the file).
    pub row: usize,
    pub link: ImportedLink,
}

/// A file, read and checked.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Data rows (or Kutt links) read.
    pub rows: usize,
    pub links: Vec<Foreign>,
    /// Rows left out with `--skip-bad`, each with its reason.
    pub skipped: Vec<ImportError>,
}

/// Reads a whole file. `map` renames columns to kurz's fields (`--map column=field`, for
/// [`Source::Csv`]); with `skip_bad` a bad row is left out and reported instead of refusing
/// the file.
pub fn read(
    source: Source,
    input: impl Read,
    map: &[(String, String)],
    skip_bad: bool,
) -> Result<Parsed, ImportError> {
    let mut parsed = Parsed::default();
    let mut each = |row: &Row<'_>| {
        parsed.rows = row.number();
        match formats::link(source, row) {
            Ok(links) => parsed.links.extend(links),
            Err(bad) if skip_bad => parsed.skipped.push(bad),
            Err(bad) => return Err(bad),
        }
        Ok(())
    };
    match source {
        Source::Kutt => kutt::each_link(input, &mut each)?,
        _ => formats::each_row(source, input, map, &mut each)?,
    };
    Ok(parsed)
}

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub rows: usize,
    /// Links written.
    pub imported: usize,
    /// Links whose code already led to the same target (an earlier run, or a repeat).
    pub unchanged: usize,
    pub clashes: Vec<Clash>,
    pub skipped: Vec<Skipped>,
    pub dry_run: bool,
}

/// A short code the file wants that kurz cannot give it.
#[derive(Debug, Serialize)]
pub struct Clash {
    pub row: usize,
    pub short_code: String,
    pub target: String,
    /// Where the code leads now; `null` when the code is a route of kurz's own.
    pub existing_target: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub row: Option<usize>,
    pub reason: String,
}

/// Writes the links (owned by `owner`, if given) in one transaction; `dry_run` rolls it back.
pub async fn import(
    links: &dyn LinkStore,
    parsed: Parsed,
    owner: Option<i64>,
    dry_run: bool,
) -> StoreResult<Report> {
    let mut report = Report {
        rows: parsed.rows,
        dry_run,
        skipped: parsed
            .skipped
            .into_iter()
            .map(|bad| Skipped {
                row: bad.row,
                reason: bad.message,
            })
            .collect(),
        ..Report::default()
    };
    // A code that is a route of kurz's own would never redirect: a clash with kurz itself.
    let (routes, wanted): (Vec<Foreign>, Vec<Foreign>) = parsed
        .links
        .into_iter()
        .partition(|foreign| foreign.link.url.short_code.names_a_route());
    let new: Vec<ImportedLink> = wanted
        .iter()
        .map(|foreign| {
            let mut link = foreign.link.clone();
            link.url.user_id = owner;
            link
        })
        .collect();
    let taken = links.import_links(&new, dry_run).await?;
    let clash = |foreign: &Foreign, existing_target| Clash {
        row: foreign.row,
        short_code: foreign.link.url.short_code.as_str().to_owned(),
        target: foreign.link.url.original_url.as_str().to_owned(),
        existing_target,
    };
    for (foreign, taken) in wanted.iter().zip(taken) {
        match taken {
            None => report.imported += 1,
            Some(existing) if existing == foreign.link.url.original_url.as_str() => {
                report.unchanged += 1
            }
            Some(existing) => report.clashes.push(clash(foreign, Some(existing))),
        }
    }
    report
        .clashes
        .extend(routes.iter().map(|link| clash(link, None)));
    report.clashes.sort_by_key(|c| c.row);
    Ok(report)
}

/// A time as other shorteners write it: RFC 3339 or `2025-09-19 22:25:05` (as
/// [`Timestamp::parse`]), an offset without a colon (`+0000`, Bitly), or Unix seconds.
pub(crate) fn foreign_time(raw: &str) -> Result<Timestamp, String> {
    let raw = raw.trim();
    if let Ok(time) = Timestamp::parse(raw) {
        return Ok(time);
    }
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .ok()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .map(|t| Timestamp::from_primitive(time::PrimitiveDateTime::new(t.date(), t.time())))
            .ok_or_else(|| format!("'{raw}' is not a time"));
    }
    // `+0000` → `+00:00`; `+02` (PostgreSQL's text) → `+02:00`.
    let bytes = raw.as_bytes();
    let zone_at = |width: usize| {
        bytes.len() > width
            && matches!(bytes[bytes.len() - width], b'+' | b'-')
            && bytes[bytes.len() - width + 1..]
                .iter()
                .all(u8::is_ascii_digit)
    };
    if zone_at(5) {
        let (head, minutes) = raw.split_at(raw.len() - 2);
        return Timestamp::parse(&format!("{head}:{minutes}"));
    }
    if zone_at(3) {
        return Timestamp::parse(&format!("{raw}:00"));
    }
    Err(format!(
        "'{raw}' is not a time like 2025-09-19T22:25:05Z or 2025-09-19 22:25:05"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_times_in_every_shape_sources_write() {
        let cases = [
            ("2024-03-01T10:20:30+02:00", "2024-03-01T08:20:30"),
            ("2024-03-01T10:20:30+0000", "2024-03-01T10:20:30"),
            ("2024-03-01T10:20:30.123Z", "2024-03-01T10:20:30"),
            ("2024-03-01 10:20:30", "2024-03-01T10:20:30"),
            ("1709288430", "2024-03-01T10:20:30"),
            // A fraction and an offset without a colon: the offset is kept, not cut off.
            ("2024-03-01T10:20:30.123+0200", "2024-03-01T08:20:30"),
            ("2024-03-01 10:20:30.123456+02", "2024-03-01T08:20:30"),
            ("2024-03-01 10:20:30-05", "2024-03-01T15:20:30"),
        ];
        for (raw, utc) in cases {
            assert_eq!(
                foreign_time(raw).map(|t| t.to_string()).as_deref(),
                Ok(utc),
                "{raw}"
            );
        }
        assert!(foreign_time("yesterday").is_err());
        assert!(foreign_time("2024-03-01T10:20:30.123 CET").is_err());
    }
}
