-- A link's lifecycle and routing settings (expiry, visit cap, fallback, redirect status,
-- rules, variants) as one JSON document, and its password's Argon2id hash. Both nullable:
-- the previous release, which does not name them, keeps running on this schema.
ALTER TABLE urls ADD COLUMN settings TEXT;
ALTER TABLE urls ADD COLUMN password_hash TEXT;

-- The human visits a capped link has redirected. A visit is only redirected once its
-- increment here succeeded under the cap.
CREATE TABLE link_caps (
    url_id  INTEGER PRIMARY KEY REFERENCES urls (id) ON DELETE CASCADE,
    spent   INTEGER NOT NULL
);
