//! Whether two store addresses name one store: `migrate-store --force` empties its target
//! first, so a target that is the source itself, however differently written, must be
//! refused before anything is cleared.

use crate::config::StoreTarget;
use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// `a` and `b` are one store: one file once links and relative paths are resolved, or one
/// PostgreSQL database (a lock taken through `a` is held when asked through `b`; host
/// names, ports, URL spellings, a pooler in front make no difference to it).
pub async fn same_store(a: &StoreTarget, b: &StoreTarget) -> anyhow::Result<bool> {
    match (a, b) {
        (StoreTarget::Sqlite(a), StoreTarget::Sqlite(b)) => {
            Ok(match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
                (Ok(a), Ok(b)) => a == b,
                // A file that is not there yet is no other store.
                _ => a == b,
            })
        }
        (StoreTarget::Postgres(a), StoreTarget::Postgres(b)) => one_database(a, b).await,
        _ => Ok(false),
    }
}

async fn one_database(a: &str, b: &str) -> anyhow::Result<bool> {
    let key: i64 = rand::random();
    let mut first = PgConnection::connect(a)
        .await
        .context("connecting to the source")?;
    let mut second = PgConnection::connect(b)
        .await
        .context("connecting to the target")?;
    // Transaction-scoped, so that it holds through a pooler in transaction mode too.
    let mut held = first.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *held)
        .await?;
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(&mut second)
        .await?;
    held.rollback().await?;
    first.close().await?;
    second.close().await?;
    Ok(!free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_file_written_two_ways_is_one_store() {
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("a directory: {e}"));
        let file = dir.path().join("kurz.db");
        std::fs::write(&file, b"").unwrap_or_else(|e| panic!("a file: {e}"));
        let roundabout = dir.path().join("sub").join("..").join("kurz.db");
        std::fs::create_dir(dir.path().join("sub")).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (
            StoreTarget::Sqlite(file.clone()),
            StoreTarget::Sqlite(roundabout),
        );
        assert!(same_store(&a, &b).await.unwrap_or(false));
        let other = StoreTarget::Sqlite(dir.path().join("other.db"));
        assert!(!same_store(&a, &other).await.unwrap_or(true));
        let postgres = StoreTarget::Postgres("postgres://127.0.0.1/kurz".into());
        assert!(!same_store(&a, &postgres).await.unwrap_or(true));
    }
}
