-- API keys (KURZ_AUTH=keys). Only a SHA-256 of each secret is stored; `prefix` is the
-- start of the secret, enough to recognise a key in listings and logs.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    prefix         TEXT    NOT NULL,
    secret_hash    TEXT    NOT NULL UNIQUE,
    scope          TEXT    NOT NULL,
    -- A user's keys go with the user: a key must never come to act for a stranger.
    user_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at     TEXT    NOT NULL,
    expires_at     TEXT,
    revoked_at     TEXT,
    last_used_at   TEXT,
    request_count  INTEGER NOT NULL DEFAULT 0
);
