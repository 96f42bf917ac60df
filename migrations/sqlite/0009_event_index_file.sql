-- The events' indexes by link and by user move to a file of their own beside the database,
-- kept by an indexer of its own (src/store/sqlite/event_index.rs): a click no longer
-- inserts into them at random places while every other write waits for the one writer.
DROP INDEX events_url_id;
DROP INDEX events_user_id;

-- Drawn again by every import of events (their ids are the import's own): the index file
-- is read only while it was built for the generation the database has.
CREATE TABLE events_generation (generation INTEGER NOT NULL);
INSERT INTO events_generation (generation) VALUES (random());
