-- kurz schema, SQLite dialect. Timestamps are TEXT in the wire format
-- (YYYY-MM-DDTHH:MM:SS, UTC) so they sort and compare as text.
-- AUTOINCREMENT: ids of deleted rows are never reused, so the ids kept in
-- events (history) never come to name a different row.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
-- Not UNIQUE: seed files repeat usernames; uniqueness is checked on POST/PUT only.
CREATE INDEX users_username ON users (username);
CREATE INDEX users_email_lower ON users (lower(email));

CREATE TABLE urls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    short_code    TEXT    NOT NULL UNIQUE,
    original_url  TEXT    NOT NULL,
    title         TEXT,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE INDEX urls_user_id ON urls (user_id);

-- No foreign keys: events are history and outlive the rows they name.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    url_id      INTEGER,
    user_id     INTEGER,
    event_type  TEXT    NOT NULL,
    timestamp   TEXT    NOT NULL,
    details     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_url_id ON events (url_id);
CREATE INDEX events_user_id ON events (user_id);
CREATE INDEX events_event_type ON events (event_type);
