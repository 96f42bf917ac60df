//! A batch of API key uses, written SQLite's way (one writer, one transaction).

use super::SqliteStore;
use crate::domain::ApiKeyUse;
use crate::store::StoreResult;

impl SqliteStore {
    /// Adds request counts and moves last-used times forward (never back).
    pub(super) async fn add_uses(&self, uses: &[ApiKeyUse]) -> StoreResult<()> {
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
    }
}
