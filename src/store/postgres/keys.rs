//! API keys in PostgreSQL.

use super::PostgresStore;
use crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Timestamp};
use crate::store::sql;
use crate::store::{KeyStore, StoreError, StoreResult, retry};
use async_trait::async_trait;

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
        let key = &key;
        let id: i64 = retry::write("create_api_key", move || async move {
            let mut tx = self.begin().await?;
            let id = self
                .query_scalar(sql::INSERT_KEY)
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.secret_hash)
                .bind(key.scope.as_str())
                .bind(key.user_id)
                .bind(key.created_at)
                .bind(key.expires_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| StoreError::from_constraint(e, "api key", "user"))?;
            tx.commit().await?;
            Ok(id)
        })
        .await?;
        Ok(key.clone().stored_as(id))
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        retry::read("list_api_keys", move || async move {
            Ok(self
                .query_as(sql::KEYS)
                .fetch_all(&mut *self.session().await?)
                .await?)
        })
        .await
    }

    async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        retry::write("revoke_api_key", move || async move {
            let mut tx = self.begin().await?;
            let done = self
                .query(sql::REVOKE_KEY)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
        retry::read("find_api_key", move || async move {
            Ok(self
                .query_as(sql::KEY_BY_HASH)
                .bind(secret_hash)
                .fetch_optional(&mut *self.session().await?)
                .await?)
        })
        .await
    }

    /// One statement for the whole batch: the arrays are unnested side by side.
    async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
        let ids: Vec<i64> = uses.iter().map(|u| u.id).collect();
        let requests: Vec<i64> = uses.iter().map(|u| u.requests).collect();
        let used: Vec<Timestamp> = uses.iter().map(|u| u.last_used_at).collect();
        retry::write("record_api_key_use", || async {
            let mut tx = self.begin().await?;
            self.query(
                "UPDATE api_keys k SET request_count = k.request_count + u.requests, \
                 last_used_at = GREATEST(k.last_used_at, u.used) \
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamp[]) AS u(id, requests, used) \
                 WHERE k.id = u.id",
            )
            .bind(&ids)
            .bind(&requests)
            .bind(&used)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
