//! Parsed domain types: once built they are valid, so the layers below never re-check them.

pub mod api_key;
pub mod audit;
mod email;
mod short_code;
mod target_url;
mod timestamp;
mod username;

pub use api_key::{ApiKey, ApiKeyUse, NewApiKey, Scope};
pub use email::Email;
pub use short_code::{ShortCode, ShortCodeError};
pub use target_url::TargetUrl;
pub use timestamp::Timestamp;
pub use username::Username;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub created_at: Timestamp,
}

/// A short link as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Url {
    pub id: i64,
    pub user_id: Option<i64>,
    pub short_code: String,
    pub original_url: String,
    pub title: Option<String>,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One entry of the audit/click history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: String,
    pub timestamp: Timestamp,
    /// Always a JSON object (`{}` when empty).
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

/// An event not yet stored (no id).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: String,
    pub timestamp: Timestamp,
    pub details: Map<String, Value>,
}

/// The event types kurz itself writes.
pub mod event_type {
    pub const CLICK: &str = "click";
    pub const CREATED: &str = "created";
    pub const UPDATED: &str = "updated";
    pub const DELETED: &str = "deleted";
    /// A redirect refused because the target's host is on the blocklist.
    pub const BLOCKED: &str = "blocked";
    /// An abuse report about a link.
    pub const REPORT: &str = "report";
}

/// A validated partial update of a url: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPatch {
    /// `Some(None)` clears the title.
    pub title: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub original_url: Option<TargetUrl>,
}

/// One field a [`UrlPatch`] actually changed, as recorded in an `updated` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub new_value: String,
}

impl UrlPatch {
    /// The fields whose new value differs from `current`, in a fixed order.
    /// Store implementations call this inside the update's transaction.
    pub fn changes(&self, current: &Url) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        if let Some(title) = &self.title
            && *title != current.title
        {
            changes.push(FieldChange {
                field: "title",
                new_value: title.clone().unwrap_or_default(),
            });
        }
        if let Some(active) = self.is_active
            && active != current.is_active
        {
            changes.push(FieldChange {
                field: "is_active",
                new_value: active.to_string(),
            });
        }
        if let Some(target) = &self.original_url
            && target.as_str() != current.original_url
        {
            changes.push(FieldChange {
                field: "original_url",
                new_value: target.as_str().to_owned(),
            });
        }
        changes
    }

    /// Applies the patch to `url` (not touching `updated_at`).
    pub fn apply(&self, url: &mut Url) {
        if let Some(title) = &self.title {
            url.title.clone_from(title);
        }
        if let Some(active) = self.is_active {
            url.is_active = active;
        }
        if let Some(target) = &self.original_url {
            url.original_url = target.as_str().to_owned();
        }
    }
}

/// A validated partial update of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
}

/// A user ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub created_at: Timestamp,
}

/// A url ready to insert; the store turns its `created` event into the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUrl {
    pub user_id: Option<i64>,
    pub short_code: ShortCode,
    pub original_url: TargetUrl,
    pub title: Option<String>,
    pub created_at: Timestamp,
    /// The code was generated for this url and never handed out before, so no cache can
    /// hold an answer for it (see `CachedStore::create_url`). False for custom codes.
    pub fresh_code: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url {
            id: 1,
            user_id: Some(2),
            short_code: "abc123".into(),
            original_url: "https://example.com/".into(),
            title: Some("t".into()),
            is_active: true,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_patch_reports_only_fields_whose_value_changes() {
        let patch = UrlPatch {
            title: Some(Some("t".into())),
            is_active: Some(false),
            original_url: None,
        };
        let changes = patch.changes(&url());
        assert_eq!(
            changes,
            vec![FieldChange {
                field: "is_active",
                new_value: "false".into()
            }]
        );
    }

    #[test]
    fn clearing_a_title_is_recorded_as_an_empty_string() {
        let patch = UrlPatch {
            title: Some(None),
            ..UrlPatch::default()
        };
        assert_eq!(patch.changes(&url())[0].new_value, "");
    }
}
