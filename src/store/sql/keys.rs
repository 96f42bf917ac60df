//! API keys, written once for both backends: their statements, and [`key_store!`], which
//! implements `KeyStore` for a backend type with the primitives of [`super::helpers`] and
//! its own way of adding a batch of use counts (`add_uses`).

/// Every column of a key but the secret's hash, which never leaves the store: the keys after
/// id `$1`, oldest first.
pub const AFTER: &str = "SELECT id, name, prefix, scope, user_id, created_at, expires_at, revoked_at, \
     last_used_at, request_count FROM api_keys WHERE id > $1 ORDER BY id";
pub const BY_HASH: &str = "SELECT id, name, prefix, scope, user_id, created_at, expires_at, revoked_at, \
     last_used_at, request_count FROM api_keys WHERE secret_hash = $1";
pub const INSERT: &str = "INSERT INTO api_keys (name, prefix, secret_hash, scope, user_id, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
/// Keeps the first revocation time.
pub const REVOKE: &str =
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 RETURNING id";

macro_rules! key_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Timestamp};
            use $crate::store::sql::{first, keys};
            use $crate::store::{KeyStore, StoreError, StoreResult, retry};

            #[async_trait::async_trait]
            impl KeyStore for $store {
                async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey> {
                    let key = &key;
                    let id: i64 = retry::write("create_api_key", move || async move {
                        let mut tx = self.begin().await?;
                        let id = self
                            .query_scalar(keys::INSERT)
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
                    self.all("list_api_keys", keys::AFTER, 0).await
                }

                async fn revoke_api_key(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
                    self.affects("revoke_api_key", || {
                        self.query_scalar(keys::REVOKE).bind(now).bind(id)
                    })
                    .await
                }

                async fn find_api_key(&self, secret_hash: &str) -> StoreResult<Option<ApiKey>> {
                    self.all("find_api_key", keys::BY_HASH, secret_hash)
                        .await
                        .map(first)
                }

                async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
                    retry::write("record_api_key_use", move || self.add_uses(uses)).await
                }
            }
        };
    };
}

pub(crate) use key_store;
