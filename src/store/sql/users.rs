//! Users, written once for both backends: [`user_store!`] implements `UserStore` for a
//! backend type with the primitives of [`super::helpers`] and its own user-write lock
//! (`lock_user_writes`: PostgreSQL serialises user writes across replicas; SQLite's single
//! writer already does).

macro_rules! user_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::{NewUser, User, UserPatch};
            use $crate::store::retry;
            use $crate::store::sql::{self, Table};
            use $crate::store::{Listing, Page, StoreError, StoreResult, UserFilter, UserStore};

            impl $store {
                /// Fails with `Conflict` when another user (not `except_id`) has the
                /// username or the email. Called holding the user-write lock.
                async fn check_unique(
                    &self,
                    conn: &mut <$db as sqlx::Database>::Connection,
                    username: Option<&str>,
                    email: Option<&str>,
                    except_id: i64,
                ) -> StoreResult<()> {
                    for (field, statement, value) in [
                        ("username", sql::USERNAME_TAKEN, username),
                        ("email", sql::EMAIL_TAKEN, email),
                    ] {
                        let Some(value) = value else { continue };
                        let taken: Option<i64> = self
                            .query_scalar(statement)
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
            }

            #[async_trait::async_trait]
            impl UserStore for $store {
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
                        Ok(user.stored_as(id))
                    })
                    .await
                }

                async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
                    self.by_id("get_user", sql::USER_BY_ID, id).await
                }

                async fn list_users(
                    &self,
                    filter: &UserFilter,
                    page: Page,
                ) -> StoreResult<Listing<User>> {
                    self.list("list_users", ("users", sql::USERS), &filter.columns(), page)
                        .await
                }

                async fn update_user(
                    &self,
                    id: i64,
                    patch: UserPatch,
                ) -> StoreResult<Option<User>> {
                    let patch = &patch;
                    retry::write("update_user", move || async move {
                        let mut tx = self.begin().await?;
                        self.lock_user_writes(&mut tx).await?;
                        let current: Option<User> = self
                            .query_as(sql::USER_BY_ID)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(mut user) = current else {
                            return Ok(None);
                        };
                        let username = patch.username.as_ref().map(|u| u.as_str());
                        let email = patch.email.as_ref().map(|e| e.as_str());
                        self.check_unique(&mut tx, username, email, id).await?;
                        patch.apply(&mut user);
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
                    self.delete_by_id("delete_user", sql::DELETE_USER, id).await
                }

                async fn import_users(&self, rows: &[User]) -> StoreResult<u64> {
                    self.import("import_users", Table::Users, rows, sql::upsert_users::<$db>)
                        .await
                }
            }
        };
    };
}

pub(crate) use user_store;
