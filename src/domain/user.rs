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

/// A validated partial update of a user: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
}
