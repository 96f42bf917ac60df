//! Users, written once for both backends: their statements, and [`user_store!`], which
//! implements `UserStore` for a backend type with the primitives of [`super::helpers`] and
//! its own user-write lock (`lock_user_writes`: PostgreSQL serialises user writes across
//! replicas; SQLite's single writer already does).

pub const BY_ID: &str = "SELECT id, username, email, created_at FROM users WHERE id = $1";
pub const ALL: &str = "SELECT id, username, email, created_at FROM users";
pub const USERNAME_TAKEN: &str = "SELECT id FROM users WHERE username = $1 AND id <> $2 LIMIT 1";
pub const EMAIL_TAKEN: &str =
    "SELECT id FROM users WHERE lower(email) = lower($1) AND id <> $2 LIMIT 1";
pub const INSERT: &str =
    "INSERT INTO users (username, email, created_at) VALUES ($1, $2, $3) RETURNING id";
pub const UPDATE: &str = "UPDATE users SET username = $1, email = $2 WHERE id = $3";
/// The user's urls keep existing with `user_id` null (`ON DELETE SET NULL`), their keys go
/// (`ON DELETE CASCADE`).
pub const DELETE: &str = "DELETE FROM users WHERE id = $1 RETURNING id";
/// An imported row without an id updates the oldest user with its username.
pub const UPDATE_BY_NAME: &str = "UPDATE users SET email = $2, created_at = COALESCE($3, created_at) \
     WHERE id = (SELECT min(id) FROM users WHERE username = $1) RETURNING id";
pub const EXISTS: &str = "SELECT id FROM users WHERE id = $1";

macro_rules! user_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::{ImportedUser, NewUser, Timestamp, User, UserPatch};
            use $crate::store::retry;
            use $crate::store::sql::{self, Table, first, users};
            use $crate::store::{Listing, Page, StoreError, StoreResult, UserFilter, UserStore};

            impl $store {
                /// Fails with `Conflict` when another user (not `except_id`) has the
                /// username or the email. Called holding the user-write lock.
                async fn check_unique(
                    &self,
                    conn: &mut <$db as sqlx::Database>::Connection,
                    patch: &UserPatch,
                    except_id: i64,
                ) -> StoreResult<()> {
                    let taken = [
                        (
                            "username",
                            users::USERNAME_TAKEN,
                            patch.username.as_ref().map(|u| u.as_str()),
                        ),
                        (
                            "email",
                            users::EMAIL_TAKEN,
                            patch.email.as_ref().map(|e| e.as_str()),
                        ),
                    ];
                    for (field, statement, value) in taken {
                        let Some(value) = value else { continue };
                        let found: Option<i64> = self
                            .query_scalar(statement)
                            .bind(value)
                            .bind(except_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                        if found.is_some() {
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
                    let patch = &UserPatch::from(user);
                    retry::write("create_user", move || async move {
                        let mut tx = self.begin().await?;
                        self.lock_user_writes(&mut tx).await?;
                        self.check_unique(&mut tx, patch, -1).await?;
                        let id: i64 = self
                            .query_scalar(users::INSERT)
                            .bind(user.username.as_str())
                            .bind(user.email.as_str())
                            .bind(user.created_at)
                            .fetch_one(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok(user.stored_as(id))
                    })
                    .await
                }

                async fn get_user(&self, id: i64) -> StoreResult<Option<User>> {
                    self.all("get_user", users::BY_ID, id).await.map(first)
                }

                async fn list_users(
                    &self,
                    filter: &UserFilter,
                    page: Page,
                ) -> StoreResult<Listing<User>> {
                    self.list("list_users", ("users", users::ALL), &filter.columns(), page)
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
                        let Some(mut user) =
                            self.current::<User>(&mut tx, users::BY_ID, id).await?
                        else {
                            return Ok(None);
                        };
                        self.check_unique(&mut tx, patch, id).await?;
                        patch.apply(&mut user);
                        self.query(users::UPDATE)
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
                    self.affects("delete_user", || self.query_scalar(users::DELETE).bind(id))
                        .await
                }

                async fn import_users(&self, rows: &[ImportedUser]) -> StoreResult<u64> {
                    let now = Timestamp::now();
                    let keyed: Vec<User> = rows
                        .iter()
                        .filter_map(|row| {
                            Some(User {
                                id: row.id?,
                                username: row.username.clone(),
                                email: row.email.clone(),
                                created_at: row.created_at.unwrap_or(now),
                            })
                        })
                        .collect();
                    let named: Vec<&ImportedUser> =
                        rows.iter().filter(|r| r.id.is_none()).collect();
                    let (keyed, named) = (&keyed, &named);
                    retry::write("import_users", move || async move {
                        let mut tx = self.begin().await?;
                        self.lock_for_import(&mut tx, Table::Users).await?;
                        self.upsert_all(&mut tx, Table::Users, keyed, sql::upsert_users::<$db>)
                            .await?;
                        // Before the rows without ids take new ones from the sequence.
                        self.move_sequence(&mut tx, Table::Users).await?;
                        for row in named {
                            let updated: Option<i64> = self
                                .query_scalar(users::UPDATE_BY_NAME)
                                .bind(&row.username)
                                .bind(&row.email)
                                .bind(row.created_at)
                                .fetch_optional(&mut *tx)
                                .await?;
                            if updated.is_none() {
                                let _new_id: i64 = self
                                    .query_scalar(users::INSERT)
                                    .bind(&row.username)
                                    .bind(&row.email)
                                    .bind(row.created_at.unwrap_or(now))
                                    .fetch_one(&mut *tx)
                                    .await?;
                            }
                        }
                        tx.commit().await?;
                        Ok(rows.len() as u64)
                    })
                    .await
                }
            }
        };
    };
}

pub(crate) use user_store;
