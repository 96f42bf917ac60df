-- Clicks per link, bumped in the same transaction as every batch of click events, so
-- "the most-clicked links" (cache pre-warming) reads one row per clicked link instead of
-- counting the events. No foreign key: like events, counters outlive deleted links. No
-- index on `clicks`: every batch of clicks would update it, and the top N is read once per
-- start, a scan of one row per clicked link.
CREATE TABLE link_clicks (
    url_id  INTEGER PRIMARY KEY,
    clicks  INTEGER NOT NULL
);

INSERT INTO link_clicks (url_id, clicks)
SELECT url_id, count(*) FROM events
WHERE event_type = 'click' AND url_id IS NOT NULL
GROUP BY url_id;
