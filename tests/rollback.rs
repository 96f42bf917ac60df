//! A rollback runs a release on the schema of the release after it: the migrator must accept
//! a database with an applied migration it does not know (migrations are additive, so the
//! older release works on the newer schema) instead of leaving the release not ready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::kurz::kurz_command;
use common::services::Database;

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

/// Records [`NEWER_VERSION`] as applied, as the newer release's migrator would have; its
/// checksum is a byte literal of the database's dialect.
fn record_newer_migration(checksum: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({NEWER_VERSION}, 'from a newer release', TRUE, {checksum}, 0)"
    ))
}

/// Migrates with `env`, lets the newer release's migration be recorded, migrates again.
async fn migrates_again_after<F: std::future::Future<Output = ()>>(
    env: &[(&str, &str)],
    newer_release: impl FnOnce() -> F,
) {
    assert!(migrate(env));
    newer_release().await;
    assert!(migrate(env), "a database with a newer migration is refused");
}

#[tokio::test]
async fn an_older_release_migrates_a_sqlite_database_a_newer_one_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("kurz.db").display());
    migrates_again_after(
        &[("KURZ_DATA_DIR", dir.path().to_str().unwrap())],
        || async {
            let pool = sqlx::SqlitePool::connect(&store).await.unwrap();
            let sql = record_newer_migration("X'00'");
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        },
    )
    .await;
}

#[tokio::test]
async fn an_older_release_migrates_a_postgres_database_a_newer_one_migrated() {
    let db = Database::create();
    migrates_again_after(&[("DATABASE_URL", &db.url)], || async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let sql = record_newer_migration("'\\x00'::bytea");
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    })
    .await;
}
