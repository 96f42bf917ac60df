//! A rollback runs a release on the schema of the release after it: the migrator must accept
//! a database with an applied migration it does not know (migrations are additive, so the
//! older release works on the newer schema) instead of leaving the release not ready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kurz::kurz_command;
use common::services::Database;
use std::path::Path;

/// A version no release has: a migration from the future.
const NEWER_VERSION: i64 = 99_990_101_000_000;

/// `kurz migrate` with only `env` of the database settings; whether it succeeded.
fn migrate(env: &[(&str, &str)]) -> bool {
    let output = kurz_command()
        .arg("migrate")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    }
    output.status.success()
}

#[tokio::test]
async fn an_older_release_migrates_a_sqlite_database_a_newer_one_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    assert!(migrate(&[("KURZ_DATA_DIR", data_dir)]));
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        Path::new(data_dir).join("kurz.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, 'from a newer release', TRUE, X'00', 0)",
    )
    .bind(NEWER_VERSION)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(
        migrate(&[("KURZ_DATA_DIR", data_dir)]),
        "a database with a newer migration is refused"
    );
}

#[tokio::test]
async fn an_older_release_migrates_a_postgres_database_a_newer_one_migrated() {
    let db = Database::create();
    assert!(migrate(&[("DATABASE_URL", &db.url)]));
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer release', TRUE, '\\x00'::bytea, 0)",
    )
    .bind(NEWER_VERSION)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(
        migrate(&[("DATABASE_URL", &db.url)]),
        "a database with a newer migration is refused"
    );
}
