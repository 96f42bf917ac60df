-- Counters of clicks, added to in the same statement as every batch of click events, so a
-- stats read costs one row per hour (and per dimension value), never one per click.
-- Buckets are hours since 1970-01-01 UTC, days are days since then. No foreign keys: like
-- the events and link_clicks, counters outlive deleted links.

-- Clicks per link and hour by visit class; `visitors`: human visitors not seen earlier
-- that day.
CREATE TABLE click_rollups (
    url_id      BIGINT NOT NULL,
    bucket      BIGINT NOT NULL,
    humans      BIGINT NOT NULL DEFAULT 0,
    bots        BIGINT NOT NULL DEFAULT 0,
    previews    BIGINT NOT NULL DEFAULT 0,
    prefetches  BIGINT NOT NULL DEFAULT 0,
    visitors    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (url_id, bucket)
);
CREATE INDEX click_rollups_bucket ON click_rollups (bucket);

-- Human clicks per link, day, dimension (referrer, browser, os, device, country,
-- language) and value: per day, because the stats list a period's values as a whole (per
-- hour, a month of a busy link was tens of thousands of rows to sum; per day, hundreds).
CREATE TABLE click_dimensions (
    url_id     BIGINT NOT NULL,
    day        BIGINT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    clicks     BIGINT NOT NULL,
    PRIMARY KEY (url_id, day, dimension, value)
);
CREATE INDEX click_dimensions_day ON click_dimensions (day);

-- Who was counted as a visitor of a link on a day (a hash under that day's key), kept only
-- for today and yesterday: enough to count each visitor once a day.
CREATE TABLE click_visitors (
    url_id   BIGINT NOT NULL,
    day      BIGINT NOT NULL,
    visitor  TEXT NOT NULL,
    bucket   BIGINT NOT NULL,
    PRIMARY KEY (url_id, day, visitor)
);
CREATE INDEX click_visitors_day ON click_visitors (day);

-- The day's random key visitors are hashed with, the same for every replica; deleted after
-- the next day, so old hashes cannot be tied to an address again.
CREATE TABLE visitor_keys (
    day  BIGINT PRIMARY KEY,
    key  TEXT NOT NULL
);

-- SQLite's `unixepoch`, so that statements rebuilding the counters from the events (after
-- a copy between stores) are the same on both.
CREATE FUNCTION unixepoch(ts TIMESTAMP) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT floor(extract(epoch FROM ts))::bigint $$;
