//! Users in PostgreSQL.

use super::{PostgresStore, Table};
use crate::domain::{NewUser, User, UserPatch};
use crate::store::sql::{self, insert_chunks};
use crate::store::{Listing, Page, StoreError, StoreResult, UserFilter, UserStore, retry};
use async_trait::async_trait;
use sqlx::{PgConnection, Postgres};

/// Serialises user writes, so the username/email check and the write cannot interleave
/// between replicas. User writes are rare; a single lock keeps them simple and correct.
const USER_WRITE_LOCK: i64 = 0x6b75_727a_0001;

impl PostgresStore {
    /// Holds every other replica's user writes until this transaction ends.
    async fn lock_user_writes(&self, conn: &mut PgConnection) -> StoreResult<()> {
        self.query("SELECT pg_advisory_xact_lock($1)")
            .bind(USER_WRITE_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Fails with `Conflict` when another user (not `except_id`) has the username or the
    /// email. Call it holding the user-write lock.
    async fn check_unique(
        &self,
        conn: &mut PgConnection,
        username: Option<&str>,
        email: Option<&str>,
        except_id: i64,
    ) -> StoreResult<()> {
        for (field, sql, value) in [
            ("username", sql::USERNAME_TAKEN, username),
            ("email", sql::EMAIL_TAKEN, email),
        ] {
            let Some(value) = value else { continue };
            let taken: Option<i64> = self
                .query_scalar(sql)
                .bind(value)
                .bind(except_id)
                .fetch_optional(&mut *conn)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(field));
            }
        }
        Ok(())
    }

    async fn fetch_user(&self, conn: &mut PgConnection, id: i64) -> StoreResult<Option<User>> {
        Ok(self
            .query_as(sql::USER_BY_ID)
            .bind(id)
            .fetch_optional(conn)
            .await?)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let user = &user;
        retry::write("create_user", move || async move {
            let mut tx = self.begin().await?;
            let (username, email) = (user.username.as_str(), user.email.as_str());
            self.lock_user_writes(&mut tx).await?;
            self.check_unique(&mut tx, Some(username), Some(email), -1)
                .await?;
            let id: i64 = self
                .query_scalar(sql::INSERT_USER)
                .bind(username)
                .bind(email)
                .bind(user.created_at)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(User {
                id,
                username: username.to_owned(),
                email: email.to_owned(),
                created_at: user.created_at,
            })
        })
        .await
    }

    async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
        retry::read("get_user", move || async move {
            self.fetch_user(&mut *self.session().await?, id).await
        })
        .await
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Listing<User>> {
        let filters = &filter.columns();
        retry::read("list_users", move || {
            self.list("users", sql::USERS, filters, page)
        })
        .await
    }

    async fn update_user(&self, id: i64, patch: UserPatch) -> StoreResult<Option<User>> {
        let patch = &patch;
        retry::write("update_user", move || async move {
            let mut tx = self.begin().await?;
            self.lock_user_writes(&mut tx).await?;
            let Some(mut user) = self.fetch_user(&mut tx, id).await? else {
                return Ok(None);
            };
            let username = patch.username.as_ref().map(|u| u.as_str());
            let email = patch.email.as_ref().map(|e| e.as_str());
            self.check_unique(&mut tx, username, email, id).await?;
            if let Some(username) = username {
                user.username = username.to_owned();
            }
            if let Some(email) = email {
                user.email = email.to_owned();
            }
            self.query(sql::UPDATE_USER)
                .bind(&user.username)
                .bind(&user.email)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(user))
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        retry::write("delete_user", move || async move {
            let mut session = self.session().await?;
            let deleted = self
                .query(sql::DELETE_USER)
                .bind(id)
                .execute(&mut *session)
                .await?;
            session.commit().await?;
            Ok(deleted.rows_affected() > 0)
        })
        .await
    }

    async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
        retry::write("import_users", move || async move {
            let mut tx = self.begin().await?;
            self.lock_for_import(&mut tx, Table::Users).await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_users::<Postgres>(chunk)
                    .build()
                    .persistent(self.prepared)
                    .execute(&mut *tx)
                    .await?;
            }
            self.move_sequence(&mut tx, Table::Users).await?;
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
