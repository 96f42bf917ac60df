//! Users in the embedded store.

use super::{SqliteStore, exists};
use crate::domain::{NewUser, User, UserPatch};
use crate::store::sql::{self, insert_chunks};
use crate::store::{Listing, Page, StoreError, StoreResult, UserFilter, UserStore, retry};
use async_trait::async_trait;
use sqlx::{Sqlite, SqliteConnection};

/// Fails with `Conflict` when another user (not `except_id`) has the username or the email.
/// Runs on the writer, so no other write can slip in between the check and the write.
pub(super) async fn check_unique(
    conn: &mut SqliteConnection,
    username: Option<&str>,
    email: Option<&str>,
    except_id: i64,
) -> StoreResult<()> {
    for (field, sql, value) in [
        ("username", sql::USERNAME_TAKEN, username),
        ("email", sql::EMAIL_TAKEN, email),
    ] {
        let Some(value) = value else { continue };
        let taken: Option<i64> = sqlx::query_scalar(sql)
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

async fn fetch(conn: &mut SqliteConnection, id: i64) -> StoreResult<Option<User>> {
    Ok(sqlx::query_as(sql::USER_BY_ID)
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Whether user `id` exists, for references checked inside a write.
pub(super) async fn user_exists(conn: &mut SqliteConnection, id: i64) -> StoreResult<bool> {
    exists(conn, sql::USER_EXISTS, id).await
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let user = &user;
        retry::write("create_user", move || async move {
            let mut tx = self.begin().await?;
            let (username, email) = (user.username.as_str(), user.email.as_str());
            check_unique(&mut tx, Some(username), Some(email), -1).await?;
            let id: i64 = sqlx::query_scalar(sql::INSERT_USER)
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
            fetch(&mut *self.reader().await?, id).await
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
            let Some(mut user) = fetch(&mut tx, id).await? else {
                return Ok(None);
            };
            let username = patch.username.as_ref().map(|u| u.as_str());
            let email = patch.email.as_ref().map(|e| e.as_str());
            check_unique(&mut tx, username, email, id).await?;
            if let Some(username) = username {
                user.username = username.to_owned();
            }
            if let Some(email) = email {
                user.email = email.to_owned();
            }
            sqlx::query(sql::UPDATE_USER)
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
            let deleted = sqlx::query(sql::DELETE_USER)
                .bind(id)
                .execute(&mut *self.writer().await?)
                .await?;
            Ok(deleted.rows_affected() > 0)
        })
        .await
    }

    async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
        retry::write("import_users", move || async move {
            let mut tx = self.begin().await?;
            for chunk in insert_chunks(rows) {
                sql::upsert_users::<Sqlite>(chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
        .await
    }
}
