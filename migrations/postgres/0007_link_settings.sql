-- A link's lifecycle and routing settings (expiry, visit cap, fallback, redirect status,
-- rules, variants) as one JSON document, and its password's Argon2id hash. Both nullable
-- with no default: adding them rewrites nothing, and the previous release, which does not
-- name them, keeps running on this schema (a plain link has neither).
ALTER TABLE urls ADD COLUMN settings JSONB;
ALTER TABLE urls ADD COLUMN password_hash TEXT;

-- The human visits a capped link has redirected: the one count every replica shares. A
-- visit is only redirected once its increment here succeeded under the cap.
CREATE TABLE link_caps (
    url_id  BIGINT PRIMARY KEY REFERENCES urls (id) ON DELETE CASCADE,
    spent   BIGINT NOT NULL
);
