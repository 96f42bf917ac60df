-- The number of events, in all and of each type, kept in `row_counts` (migration 0010) by
-- the writes that add or remove events, in their own transactions, so that a list of all
-- events, or of one type, reads its X-Total-Count from one row instead of counting the
-- table: at 1,000,000 events a page took 1-7 ms, and 49-72 ms of the clicks alone, and grew
-- with the table (BENCHMARKS.md, twenty-second round). Not by triggers, as the urls' count is: a
-- row trigger on `events` costs SQLite's one writer 0.7 µs a click even when its `WHEN`
-- skips the row, and 2 µs when it counts, against 1.3 µs for the insert itself; a click
-- batch adds its counts in one statement. The writes that count (src/store/sqlite): a
-- click batch, a create batch, one event (`events_added`), retention (`forget_clicks`),
-- and a recount after an import, a clear or a move (`events_recounted`). A list reads the
-- rows in its own snapshot, so its total is exactly what count(*) would say.
INSERT INTO row_counts (name, n) SELECT 'events', count(*) FROM events;
INSERT INTO row_counts (name, n) SELECT 'events:' || event_type, count(*) FROM events GROUP BY event_type;
