//! CSV import of the seed files, shared by `kurz import` and `POST /users/bulk`.
//! Every row is checked before anything is written, so a bad file changes nothing;
//! errors name the data row (1 = the first row after the header).

mod columns;
pub mod foreign;
mod rows;

pub use columns::{Columns, EVENTS, URLS, USERS};
pub use rows::{
    ImportError, Row, Shape, cell, each_row, event_row, parse_events, parse_urls, parse_users,
    url_row, user_row,
};

use crate::store::Stores;
use std::path::Path;

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
