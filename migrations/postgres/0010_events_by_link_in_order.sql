-- The events of one link in id order, straight from an index: a page of GET /events?url_id=N
-- reads its rows in order and stops, where the index by link alone made PostgreSQL fetch all
-- of that link's events and sort them under the plan for any link that its prepared
-- statements settle on. A link with 100,000 of 1,000,000 events: a page took 26-28 ms, now
-- 5.6 ms, most of it the link's count (BENCHMARKS.md, twenty-third round). This index
-- serves every lookup by link the old one did, and no statement names either, so the old one
-- goes in the same release. Inserting events costs more: 9-18 % more time for a batch of
-- inserts, and about 33 bytes more index an event.
--
-- Built under a lock that holds event writes back (0.4-0.5 s per million events here), and
-- the old index dropped under one that holds reads back too, briefly, at the end. On a large
-- table an operator builds it beforehand without the locks, as DEPLOY.md says, and this
-- migration then keeps that one.

-- A concurrent build that failed leaves an invalid index of this name: it goes, so that the
-- old index is never dropped for one that serves no lookup.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('events_url_id_id') AND NOT indisvalid) THEN
        DROP INDEX events_url_id_id;
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS events_url_id_id ON events (url_id, id);
DROP INDEX IF EXISTS events_url_id;
