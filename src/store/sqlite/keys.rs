//! API key rows in the embedded store.

use super::{SqliteStore, ts};
use crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Scope, Timestamp};
use crate::store::{StoreError, StoreResult, acquired};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// Every column but the secret's hash, which never leaves the store.
macro_rules! select_keys {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, prefix, scope, user_id, created_at, expires_at, revoked_at, ",
            "last_used_at, request_count FROM api_keys ",
            $rest
        )
    };
}

fn optional_ts(raw: Option<String>) -> StoreResult<Option<Timestamp>> {
    raw.as_deref().map(ts).transpose()
}

fn key_from_row(row: &SqliteRow) -> StoreResult<ApiKey> {
    let scope: String = row.try_get("scope")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scope: Scope::parse(&scope).map_err(StoreError::Corrupt)?,
        user_id: row.try_get("user_id")?,
        created_at: ts(row.try_get("created_at")?)?,
        expires_at: optional_ts(row.try_get("expires_at")?)?,
        revoked_at: optional_ts(row.try_get("revoked_at")?)?,
        last_used_at: optional_ts(row.try_get("last_used_at")?)?,
        request_count: row.try_get("request_count")?,
    })
}

pub(super) async fn create(store: &SqliteStore, key: NewApiKey) -> StoreResult<ApiKey> {
    let mut conn = acquired("sqlite_writer", store.writer.acquire()).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (name, prefix, secret_hash, scope, user_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.secret_hash)
    .bind(key.scope.as_str())
    .bind(key.user_id)
    .bind(key.created_at.to_string())
    .bind(key.expires_at.map(|at| at.to_string()))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::from_constraint(e, "api key", "user"))?;
    Ok(key.stored_as(id))
}

pub(super) async fn list(store: &SqliteStore) -> StoreResult<Vec<ApiKey>> {
    let mut conn = acquired("sqlite_readers", store.readers.acquire()).await?;
    let rows = sqlx::query(select_keys!("ORDER BY id"))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(key_from_row).collect()
}

pub(super) async fn revoke(store: &SqliteStore, id: i64, now: Timestamp) -> StoreResult<bool> {
    let mut conn = acquired("sqlite_writer", store.writer.acquire()).await?;
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?1) WHERE id = ?2")
            .bind(now.to_string())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn find(store: &SqliteStore, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
    let mut conn = acquired("sqlite_readers", store.readers.acquire()).await?;
    let row = sqlx::query(select_keys!("WHERE secret_hash = ?1"))
        .bind(secret_hash)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub(super) async fn record_use(store: &SqliteStore, uses: &[ApiKeyUse]) -> StoreResult<()> {
    let mut tx = acquired("sqlite_writer", store.writer.begin()).await?;
    for usage in uses {
        sqlx::query(
            "UPDATE api_keys SET request_count = request_count + ?1, \
             last_used_at = max(coalesce(last_used_at, ''), ?2) WHERE id = ?3",
        )
        .bind(usage.requests)
        .bind(usage.last_used_at.to_string())
        .bind(usage.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
