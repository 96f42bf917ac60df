-- The events of one link in id order, straight from an index: a page of GET /events?url_id=N
-- reads its rows in order and stops, where the index by link alone made PostgreSQL fetch all
-- of that link's events and sort them under the generic plan that prepared statements settle
-- on. A link with 100,000 of 1,000,000 events: a page took 24-30 ms, now 5.6-6.1 ms, most of
-- it the link's count (BENCHMARKS.md, twenty-third round). This index serves every lookup by
-- link the old one did, so the old one goes. An insert of events costs more: 13-18 % more
-- time for a batch of inserts, and about 33 bytes more index an event.
--
-- Built under a lock that holds event writes back (0.4-0.5 s per million events here);
-- on a large table an operator can build it beforehand without the lock, as DEPLOY.md says
-- (CREATE INDEX CONCURRENTLY events_url_id_id ...), and this migration then keeps that one.
CREATE INDEX IF NOT EXISTS events_url_id_id ON events (url_id, id);
DROP INDEX IF EXISTS events_url_id;
