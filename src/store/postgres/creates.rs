//! PostgreSQL's way of writing a batch of creates (see [`crate::store::creates`]): one
//! statement, whose rows travel as arrays that `UNNEST` turns back into rows. A url whose
//! code is taken (by an earlier batch, or by another replica's create committing meanwhile:
//! `ON CONFLICT DO NOTHING` waits for it) or whose owner does not exist inserts nothing; the
//! `created` events are written for the urls inserted. One statement is atomic by itself:
//! no transaction around it, except behind PgBouncer (see [`super::Session`]).
//!
//! One create alone was one statement too; in groups the statement, its commit (the WAL
//! flush every create waited for) and the urls' count trigger are paid once per batch.

use super::connections::Connections;
use crate::domain::{NewEvent, NewUrl, Timestamp};
use crate::store::creates::{Pending, WriteCreates};
use crate::store::sql::users;
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::collections::HashMap;

/// The batch's urls in the order they came, with their events; the ids of those inserted.
const INSERT_URLS: &str = "WITH batch AS ( \
       SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], \
         $6::timestamp[], $7::jsonb[], $8::text[], $9::bigint[], $10::text[], $11::timestamp[], \
         $12::jsonb[]) WITH ORDINALITY \
         AS b(user_id, short_code, original_url, title, is_active, created_at, settings, \
           password_hash, event_user_id, event_type, event_at, details, ord) \
     ), url AS ( \
       INSERT INTO urls (user_id, short_code, original_url, title, is_active, created_at, updated_at, \
         settings, password_hash) \
       SELECT user_id, short_code, original_url, title, is_active, created_at, created_at, \
         settings, password_hash \
       FROM batch b WHERE b.user_id IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = b.user_id) \
       ORDER BY ord \
       ON CONFLICT DO NOTHING \
       RETURNING id, short_code \
     ), created AS ( \
       INSERT INTO events (url_id, user_id, event_type, timestamp, details) \
       SELECT url.id, b.event_user_id, b.event_type, b.event_at, b.details \
       FROM url JOIN batch b USING (short_code) ORDER BY b.ord \
     ) \
     SELECT id, short_code FROM url";

/// The store's connections, shared with the store.
pub struct PostgresCreates(pub Connections);

#[async_trait]
impl WriteCreates for PostgresCreates {
    async fn write(&self, batch: &[Pending]) -> StoreResult<HashMap<String, i64>> {
        let urls: Vec<&NewUrl> = batch.iter().map(|p| &p.url).collect();
        let events: Vec<&NewEvent> = batch.iter().map(|p| &p.event).collect();
        let details: Vec<Json<&Map<String, Value>>> =
            events.iter().map(|e| Json(&e.details)).collect();
        let statement = self
            .0
            .query_as::<(i64, String)>(INSERT_URLS)
            .bind(urls.iter().map(|u| u.user_id).collect::<Vec<_>>())
            .bind(
                urls.iter()
                    .map(|u| u.short_code.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                urls.iter()
                    .map(|u| u.original_url.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(urls.iter().map(|u| u.title.as_deref()).collect::<Vec<_>>())
            .bind(urls.iter().map(|u| u.is_active).collect::<Vec<_>>())
            .bind(
                urls.iter()
                    .map(|u| u.created_at)
                    .collect::<Vec<Timestamp>>(),
            )
            .bind(
                urls.iter()
                    .map(|u| u.settings.as_ref().map(Json))
                    .collect::<Vec<_>>(),
            )
            .bind(
                urls.iter()
                    .map(|u| u.password_hash.as_ref().map(|h| h.as_stored()))
                    .collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                events
                    .iter()
                    .map(|e| e.timestamp)
                    .collect::<Vec<Timestamp>>(),
            )
            .bind(details);
        let mut session = self.0.session().await?;
        let inserted = statement
            .fetch_all(&mut *session)
            .await
            .map_err(|e| StoreError::from_constraint(e, "short_code", "user"))?;
        session.commit().await?;
        Ok(inserted.into_iter().map(|(id, code)| (code, id)).collect())
    }

    async fn owner_exists(&self, owner: i64) -> StoreResult<bool> {
        let mut session = self.0.session().await?;
        let found: Option<(i64,)> = self
            .0
            .query_as(users::EXISTS)
            .bind(owner)
            .fetch_optional(&mut *session)
            .await?;
        Ok(found.is_some())
    }
}
