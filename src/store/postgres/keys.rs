//! API key rows in PostgreSQL.

use super::{PostgresStore, ts};
use crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Scope, Timestamp};
use crate::store::{StoreError, StoreResult, acquired};
use sqlx::Row;
use sqlx::postgres::PgRow;

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

fn key_from_row(row: &PgRow) -> StoreResult<ApiKey> {
    let scope: String = row.try_get("scope")?;
    let optional = |column| -> StoreResult<Option<Timestamp>> {
        let value: Option<time::PrimitiveDateTime> = row.try_get(column)?;
        Ok(value.map(ts))
    };
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scope: Scope::parse(&scope).map_err(StoreError::Corrupt)?,
        user_id: row.try_get("user_id")?,
        created_at: ts(row.try_get("created_at")?),
        expires_at: optional("expires_at")?,
        revoked_at: optional("revoked_at")?,
        last_used_at: optional("last_used_at")?,
        request_count: row.try_get("request_count")?,
    })
}

pub(super) async fn create(store: &PostgresStore, key: NewApiKey) -> StoreResult<ApiKey> {
    let p = store.prepared;
    let mut tx = acquired("postgres", store.pool.begin()).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (name, prefix, secret_hash, scope, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .persistent(p.0)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.secret_hash)
    .bind(key.scope.as_str())
    .bind(key.user_id)
    .bind(key.created_at.as_primitive())
    .bind(key.expires_at.map(|at| at.as_primitive()))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| StoreError::from_constraint(e, "api key", "user"))?;
    tx.commit().await?;
    Ok(key.stored_as(id))
}

pub(super) async fn list(store: &PostgresStore) -> StoreResult<Vec<ApiKey>> {
    let rows = sqlx::query(select_keys!("ORDER BY id"))
        .persistent(store.prepared.0)
        .fetch_all(&mut *store.session().await?)
        .await?;
    rows.iter().map(key_from_row).collect()
}

pub(super) async fn revoke(store: &PostgresStore, id: i64, now: Timestamp) -> StoreResult<bool> {
    let mut tx = acquired("postgres", store.pool.begin()).await?;
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2")
            .persistent(store.prepared.0)
            .bind(now.as_primitive())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn find(store: &PostgresStore, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
    let row = sqlx::query(select_keys!("WHERE secret_hash = $1"))
        .persistent(store.prepared.0)
        .bind(secret_hash)
        .fetch_optional(&mut *store.session().await?)
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

/// One statement for the whole batch: the arrays are unnested side by side.
pub(super) async fn record_use(store: &PostgresStore, uses: &[ApiKeyUse]) -> StoreResult<()> {
    let ids: Vec<i64> = uses.iter().map(|u| u.id).collect();
    let requests: Vec<i64> = uses.iter().map(|u| u.requests).collect();
    let used: Vec<time::PrimitiveDateTime> =
        uses.iter().map(|u| u.last_used_at.as_primitive()).collect();
    let mut tx = acquired("postgres", store.pool.begin()).await?;
    sqlx::query(
        "UPDATE api_keys k SET request_count = k.request_count + u.requests, \
         last_used_at = GREATEST(k.last_used_at, u.used) \
         FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamp[]) AS u(id, requests, used) \
         WHERE k.id = u.id",
    )
    .persistent(store.prepared.0)
    .bind(&ids)
    .bind(&requests)
    .bind(&used)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
