-- The events' indexes by link and by user move to a file of their own beside the database,
-- kept by an indexer of its own (src/store/sqlite/event_index.rs): a click no longer
-- inserts into them at random places while every other write waits for the one writer.
DROP INDEX events_url_id;
DROP INDEX events_user_id;

-- What the index file is read against. `generation` is drawn again by every import or clear
-- of events (their ids are then not in commit order): the file is read only while it was
-- built for the generation the database has. `forgotten_below` bounds the ids retention has
-- looked at: entries below it may name removed events and are checked one by one.
CREATE TABLE event_marks (
    generation      INTEGER NOT NULL,
    forgotten_below INTEGER NOT NULL
);
INSERT INTO event_marks (generation, forgotten_below) VALUES (random(), 0);
