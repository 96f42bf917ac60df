-- The number of events, in all and of each type, kept in row_counts (migration 0008) as the
-- urls' is, so that a list of all events, or of one type, reads its X-Total-Count from a few
-- rows instead of counting the table, which grows with it (BENCHMARKS.md, twenty-second
-- round). Statement triggers with transition tables: one change per statement, however many
-- events it writes (a click batch is one statement), each backend in its own shard, and
-- within a statement in the order of their names (the total first), so two backends that
-- share a shard queue on its total rather than lock each other's rows crosswise. A type's
-- rows are made as its first events come (types are the clients' to choose). Updates of
-- events (an import over existing ids) move a count only when they change a type.
INSERT INTO row_counts (name, shard, n) SELECT 'events', shard, 0 FROM generate_series(0, 63) AS shard;

CREATE FUNCTION events_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE row_counts SET n = 0 WHERE name = 'events' OR left(name, 7) = 'events:';
    ELSIF TG_OP = 'INSERT' THEN
        WITH changed AS (SELECT 'events:' || event_type AS name, count(*) AS k FROM added GROUP BY event_type)
        INSERT INTO row_counts (name, shard, n)
        SELECT name, pg_backend_pid() % 64, k FROM (
            SELECT name, k FROM changed
            UNION ALL SELECT 'events', sum(k) FROM changed HAVING count(*) > 0
        ) AS counted ORDER BY name
        ON CONFLICT (name, shard) DO UPDATE SET n = row_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        WITH changed AS (SELECT 'events:' || event_type AS name, -count(*) AS k FROM removed GROUP BY event_type)
        INSERT INTO row_counts (name, shard, n)
        SELECT name, pg_backend_pid() % 64, k FROM (
            SELECT name, k FROM changed
            UNION ALL SELECT 'events', sum(k) FROM changed HAVING count(*) > 0
        ) AS counted ORDER BY name
        ON CONFLICT (name, shard) DO UPDATE SET n = row_counts.n + excluded.n;
    ELSE
        WITH changed AS (
            SELECT name, sum(k) AS k FROM (
                SELECT 'events:' || event_type AS name, 1 AS k FROM added
                UNION ALL SELECT 'events:' || event_type, -1 FROM removed
            ) AS moved GROUP BY name HAVING sum(k) <> 0)
        INSERT INTO row_counts (name, shard, n)
        SELECT name, pg_backend_pid() % 64, k FROM changed ORDER BY name
        ON CONFLICT (name, shard) DO UPDATE SET n = row_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_count_added AFTER INSERT ON events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION events_count_change();
CREATE TRIGGER events_count_removed AFTER DELETE ON events
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION events_count_change();
CREATE TRIGGER events_count_moved AFTER UPDATE ON events
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION events_count_change();
CREATE TRIGGER events_count_truncated AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_count_change();

-- The events already there. The triggers' lock on the table holds off other writers until
-- this migration commits, so none is missed or counted twice.
UPDATE row_counts SET n = (SELECT count(*) FROM events) WHERE name = 'events' AND shard = 0;
INSERT INTO row_counts (name, shard, n) SELECT 'events:' || event_type, 0, count(*) FROM events GROUP BY event_type;
