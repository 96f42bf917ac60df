//! `Link`: what a redirect needs to know of a short link. It is the value both cache tiers
//! hold and the input of [`super::visit::decide`]; fields a redirect will need but a client
//! must never see (the password hash) belong here, not in the API's `Url` view.

use super::link_settings::{LinkSettings, PasswordHash};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Link {
    pub id: i64,
    /// The owner, recorded in click events.
    pub user_id: Option<i64>,
    pub short_code: String,
    /// Where the link leads (`original_url` in the API).
    pub target: String,
    pub is_active: bool,
    /// Expiry, cap, redirect status, rules and variants; `None` for a plain link.
    #[sqlx(json(nullable))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<LinkSettings>,
    /// Set when visits must bring a password. The hash only, never the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<PasswordHash>,
}

impl Link {
    /// Rough bytes held, for the in-process cache's memory bound.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.short_code.len()
            + self.target.len()
            + self.settings.as_ref().map_or(0, LinkSettings::weight)
            + self.password_hash.as_ref().map_or(0, PasswordHash::weight)
    }
}
