//! Parsed domain types: once built they are valid, so the layers below never re-check them.
//! The API's views (`User`, `Url`, `Event`) are what clients see; [`Link`] is what a
//! redirect needs, kept apart so private fields have a place that is never serialised to
//! clients; [`visit::decide`] is the one decision of what a visit gets.

pub mod analytics;
pub mod api_key;
pub mod audit;
mod event;
mod link;
pub mod link_settings;
pub mod period;
pub mod rules;
mod shared_text;
mod short_code;
pub mod stats;
mod text;
mod timestamp;
mod url;
mod user;
pub mod visit;

pub use api_key::{ApiKey, ApiKeyUse, NewApiKey, Scope, StoredApiKey};
pub use event::{Event, NewEvent, event_type};
pub use link::Link;
pub use link_settings::{LinkSettings, PasswordHash};
pub use short_code::{ShortCode, ShortCodeError};
pub use text::{Email, TargetUrl, Username};
pub use timestamp::Timestamp;
pub use url::{
    FieldChange, ImportedLink, MAX_TITLE_CHARS, NewUrl, SettingsPatch, Url, UrlPatch, parse_title,
};
pub use user::{ImportedUser, NewUser, User, UserPatch};
pub use visit::{Chosen, End, Facts, Outcome, Visit, VisitDetails, Visited};

/// The limits of the parsed types, where others (the API's description) need them.
pub mod limits {
    pub use super::short_code::{CUSTOM_MIN_LEN as CUSTOM_CODE_MIN, MAX_LEN as CODE};
    pub use super::text::{EMAIL_MAX as EMAIL, TARGET_MAX as TARGET_URL, USERNAME_MAX as USERNAME};
    pub use super::url::MAX_TITLE_CHARS as TITLE;
}
