//! API keys in the embedded store.

use super::SqliteStore;
use crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Timestamp};
use crate::store::sql;
use crate::store::{KeyStore, StoreError, StoreResult, retry};
use async_trait::async_trait;

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        let key = &key;
        let id: i64 = retry::write("create_api_key", move || async move {
            sqlx::query_scalar(sql::INSERT_KEY)
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.secret_hash)
                .bind(key.scope.as_str())
                .bind(key.user_id)
                .bind(key.created_at)
                .bind(key.expires_at)
                .fetch_one(&mut *self.writer().await?)
                .await
                .map_err(|e| StoreError::from_constraint(e, "api key", "user"))
        })
        .await?;
        Ok(key.clone().stored_as(id))
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        retry::read("list_api_keys", move || async move {
            Ok(sqlx::query_as(sql::KEYS)
                .fetch_all(&mut *self.reader().await?)
                .await?)
        })
        .await
    }

    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        retry::write("revoke_api_key", move || async move {
            let done = sqlx::query(sql::REVOKE_KEY)
                .bind(now)
                .bind(id)
                .execute(&mut *self.writer().await?)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        retry::read("find_api_key", move || async move {
            Ok(sqlx::query_as(sql::KEY_BY_HASH)
                .bind(secret_hash)
                .fetch_optional(&mut *self.reader().await?)
                .await?)
        })
        .await
    }

    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        retry::write("record_api_key_use", move || async move {
            let mut tx = self.begin().await?;
            for usage in uses {
                sqlx::query(
                    "UPDATE api_keys SET request_count = request_count + $1, \
                     last_used_at = max(coalesce(last_used_at, ''), $2) WHERE id = $3",
                )
                .bind(usage.requests)
                .bind(usage.last_used_at)
                .bind(usage.id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
