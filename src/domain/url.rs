//! Short links as the API shows them (`Url`), a new one, and a change to one.

use super::link_settings::{LinkSettings, PasswordHash, shown_as_set};
use super::rules::{Rule, Variant};
use super::{ShortCode, TargetUrl, Timestamp};
use serde::Serialize;

/// Longest title accepted.
pub const MAX_TITLE_CHARS: usize = 512;

/// A short link as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Url {
    pub id: i64,
    /// The owner; `null` when there is none (or the owner was deleted).
    pub user_id: Option<i64>,
    /// The path that redirects: `GET /{short_code}`.
    pub short_code: String,
    /// Where the link leads, as the client sent it.
    pub original_url: String,
    pub title: Option<String>,
    /// `false`: the link answers 404 until switched on again.
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Expiry, visit cap, fallback, redirect status, rules and variants: each shown only
    /// when set, so a plain link looks as it always did.
    #[sqlx(json(nullable))]
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub settings: Option<LinkSettings>,
    /// Shown as `"has_password": true` when visits must bring a password; the hash itself
    /// is never serialised.
    #[serde(
        rename = "has_password",
        serialize_with = "shown_as_set",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<bool>)]
    pub password_hash: Option<PasswordHash>,
}

impl Url {
    /// What a redirect needs of this url.
    pub fn link(&self) -> super::Link {
        super::Link {
            id: self.id,
            user_id: self.user_id,
            short_code: self.short_code.clone(),
            target: self.original_url.clone(),
            is_active: self.is_active,
            settings: self.settings.clone(),
            password_hash: self.password_hash.clone(),
        }
    }
}

/// A title as clients may set it.
pub fn parse_title(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("must be at most {MAX_TITLE_CHARS} characters"));
    }
    // PostgreSQL's text cannot hold NUL (a 500 there, accepted on SQLite); no control
    // character belongs in a title shown on pages and in lists.
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(raw.to_owned())
}

/// A url ready to insert; the store writes its `created` event in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUrl {
    /// The owner, if any: a user who must exist.
    pub user_id: Option<i64>,
    /// Generated, or chosen by the client; the store refuses one already taken.
    pub short_code: ShortCode,
    pub original_url: TargetUrl,
    pub title: Option<String>,
    /// `false` creates the link switched off.
    pub is_active: bool,
    pub settings: Option<LinkSettings>,
    pub password_hash: Option<PasswordHash>,
    /// Also its first `updated_at`.
    pub created_at: Timestamp,
    /// The code was generated for this url and never handed out before, so no cache can
    /// hold an answer for it (see `CachedLinks::create_url`). False for custom codes.
    pub fresh_code: bool,
}

impl NewUrl {
    /// The url as stored under `id`.
    pub fn stored_as(&self, id: i64) -> Url {
        Url {
            id,
            user_id: self.user_id,
            short_code: self.short_code.as_str().to_owned(),
            original_url: self.original_url.as_str().to_owned(),
            title: self.title.clone(),
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.created_at,
            settings: self.settings.clone(),
            password_hash: self.password_hash.clone(),
        }
    }
}

/// A link brought in from another shortener: the url to create, and what its source said of
/// it that kurz has no column for (tags, visit counts, …), kept in its `created` event.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedLink {
    pub url: NewUrl,
    /// `{"source": "shlink", …}`: see [`super::audit::imported_event`].
    pub origin: serde_json::Map<String, serde_json::Value>,
}

/// A validated partial update of a url: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPatch {
    /// `Some(None)` clears the title.
    pub title: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub original_url: Option<TargetUrl>,
    /// The settings sent; each field's `Some(None)` (or an empty list) clears it.
    pub settings: SettingsPatch,
    /// `Some(None)` removes the password.
    pub password: Option<Option<PasswordHash>>,
}

/// A change to some of a link's settings: `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub expires_at: Option<Option<Timestamp>>,
    pub max_clicks: Option<Option<i64>>,
    pub fallback_url: Option<Option<String>>,
    pub redirect_type: Option<Option<u16>>,
    pub rules: Option<Vec<Rule>>,
    pub variants: Option<Vec<Variant>>,
}

impl SettingsPatch {
    /// `current` with the patch applied (`None` when nothing is left set).
    pub fn applied_to(&self, current: Option<&LinkSettings>) -> Option<LinkSettings> {
        let mut settings = current.cloned().unwrap_or_default();
        if let Some(at) = self.expires_at {
            settings.expires_at = at;
        }
        if let Some(cap) = self.max_clicks {
            settings.max_clicks = cap;
        }
        if let Some(fallback) = &self.fallback_url {
            settings.fallback_url.clone_from(fallback);
        }
        if let Some(status) = self.redirect_type {
            settings.redirect_type = status;
        }
        if let Some(rules) = &self.rules {
            settings.rules.clone_from(rules);
        }
        if let Some(variants) = &self.variants {
            settings.variants.clone_from(variants);
        }
        settings.or_none()
    }
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
        let before = current.settings.clone().unwrap_or_default();
        let after = self
            .settings
            .applied_to(current.settings.as_ref())
            .unwrap_or_default();
        let shown = |value: serde_json::Value| match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        let fields = [
            (
                "expires_at",
                serde_json::json!(before.expires_at),
                serde_json::json!(after.expires_at),
            ),
            (
                "max_clicks",
                serde_json::json!(before.max_clicks),
                serde_json::json!(after.max_clicks),
            ),
            (
                "fallback_url",
                serde_json::json!(before.fallback_url),
                serde_json::json!(after.fallback_url),
            ),
            (
                "redirect_type",
                serde_json::json!(before.redirect_type),
                serde_json::json!(after.redirect_type),
            ),
            (
                "rules",
                serde_json::json!(before.rules),
                serde_json::json!(after.rules),
            ),
            (
                "variants",
                serde_json::json!(before.variants),
                serde_json::json!(after.variants),
            ),
        ];
        for (field, old, new) in fields {
            if old != new {
                changes.push(FieldChange {
                    field,
                    new_value: shown(new),
                });
            }
        }
        // A password change is recorded without any trace of the password.
        if let Some(password) = &self.password
            && (password.is_some() || current.password_hash.is_some())
        {
            changes.push(FieldChange {
                field: "password",
                new_value: if password.is_some() { "set" } else { "removed" }.into(),
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
        url.settings = self.settings.applied_to(url.settings.as_ref());
        if let Some(password) = &self.password {
            url.password_hash.clone_from(password);
        }
    }
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
            settings: None,
            password_hash: None,
        }
    }

    #[test]
    fn a_patch_reports_only_fields_whose_value_changes() {
        let patch = UrlPatch {
            title: Some(Some("t".into())),
            is_active: Some(false),
            ..UrlPatch::default()
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

    #[test]
    fn titles_are_bounded_in_characters_not_bytes() {
        assert!(parse_title(&"é".repeat(MAX_TITLE_CHARS)).is_ok());
        assert!(parse_title(&"a".repeat(MAX_TITLE_CHARS + 1)).is_err());
    }
}
