//! Users: the API's view, a new user and a change to one.

use super::{Email, Timestamp, Username};
use serde::Serialize;

/// A user as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: Timestamp,
}

/// A user as a CSV import gives it: `id` and `created_at` may be absent. A row without an
/// id is matched to the user with that username (the oldest, when seeds repeat one) and
/// updates its email, or becomes a new user; a row with one is upserted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// Absent: the user with this username, or a new one with the next id.
    pub id: Option<i64>,
    /// Absent: now for a new user, unchanged for an existing one.
    pub created_at: Option<Timestamp>,
    pub username: String,
    pub email: String,
}

impl From<User> for ImportedUser {
    fn from(user: User) -> Self {
        Self {
            id: Some(user.id),
            username: user.username,
            email: user.email,
            created_at: Some(user.created_at),
        }
    }
}

/// A user ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub created_at: Timestamp,
}

impl NewUser {
    /// The user as stored under `id`.
    pub fn stored_as(&self, id: i64) -> User {
        User {
            id,
            username: self.username.as_str().to_owned(),
            email: self.email.as_str().to_owned(),
            created_at: self.created_at,
        }
    }
}

/// A validated partial update of a user: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
}

impl UserPatch {
    /// Applies the patch to `user`.
    pub fn apply(&self, user: &mut User) {
        if let Some(username) = &self.username {
            user.username = username.as_str().to_owned();
        }
        if let Some(email) = &self.email {
            user.email = email.as_str().to_owned();
        }
    }
}

/// A new user's names, as the change they make (for uniqueness checks).
impl From<&NewUser> for UserPatch {
    fn from(user: &NewUser) -> Self {
        Self {
            username: Some(user.username.clone()),
            email: Some(user.email.clone()),
        }
    }
}
