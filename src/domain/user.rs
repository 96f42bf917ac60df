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
