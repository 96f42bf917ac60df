//! The columns of each seed file: what a file of a table may have, and what a CSV header
//! must name.

/// A file of one table: every column it can have (the order of a JSON line's fields and of
/// an export's CSV header) and those a CSV header must name.
pub struct Columns {
    pub all: &'static [&'static str],
    pub required: &'static [&'static str],
}

pub const USERS: Columns = Columns {
    all: &["id", "username", "email", "created_at"],
    required: &["username", "email"],
};
const URL_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
    "updated_at",
];
pub const URLS: Columns = Columns {
    all: URL_COLUMNS,
    required: URL_COLUMNS,
};
const EVENT_COLUMNS: &[&str] = &[
    "id",
    "url_id",
    "user_id",
    "event_type",
    "timestamp",
    "details",
];
pub const EVENTS: Columns = Columns {
    all: EVENT_COLUMNS,
    required: EVENT_COLUMNS,
};
