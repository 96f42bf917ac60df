//! Events: the audit and click history.

use super::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// One entry of the audit/click history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub url_id: Option<i64>,
    pub user_id: Option<i64>,
    pub event_type: String,
    pub timestamp: Timestamp,
    /// Always a JSON object (`{}` when empty).
    #[schema(value_type = Object)]
    #[sqlx(json)]
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

impl NewEvent {
    /// The event as stored under `id`.
    pub fn stored_as(self, id: i64) -> Event {
        Event {
            id,
            url_id: self.url_id,
            user_id: self.user_id,
            event_type: self.event_type,
            timestamp: self.timestamp,
            details: self.details,
        }
    }
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
    /// An admin looked at a link's reports and left the link as it is (the web UI's
    /// report queue shows only reports newer than this).
    pub const REPORTS_DISMISSED: &str = "reports_dismissed";
}
