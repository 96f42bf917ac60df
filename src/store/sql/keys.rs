//! API keys, written once for both backends: [`key_store!`] implements `KeyStore` for a
//! backend type with the primitives of [`super::helpers`] and its own way of adding a batch
//! of use counts (`add_uses`).

macro_rules! key_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::{ApiKey, ApiKeyUse, NewApiKey, Timestamp};
            use $crate::store::sql;
            use $crate::store::{KeyStore, StoreError, StoreResult, retry};

            #[async_trait::async_trait]
            impl KeyStore for $store {
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
                            .fetch_all(&mut *self.reader().await?)
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
                            .fetch_optional(&mut *self.reader().await?)
                            .await?)
                    })
                    .await
                }

                async fn record_api_key_use(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
                    retry::write("record_api_key_use", move || self.add_uses(uses)).await
                }
            }
        };
    };
}

pub(crate) use key_store;
