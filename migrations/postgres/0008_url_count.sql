-- The number of urls, kept by every insert and delete in the same transaction, so that a list
-- of all urls reads its X-Total-Count from a few rows instead of counting the table: at
-- 60,000 urls a count took ~2 ms of PostgreSQL's CPU per list page, and through the stack
-- lists were the slowest class of the quest mix (BENCHMARKS.md, 2026-12-01, third round).
-- A list reads the sum in its own snapshot, so the total is exactly what count(*) would say.
-- Each backend adds to its own shard (pid modulo 64), so concurrent creates rarely wait for
-- one another's row. Statement triggers with transition tables: one update per statement,
-- however many rows (imports, moves). SQLite needs none of this: its count(*) of a table is
-- a walk of B-tree pages, microseconds.
CREATE TABLE row_counts (
    name  TEXT NOT NULL,
    shard INT NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (name, shard)
);
-- The shards exist from the start: a change is a plain update of one row (an upsert cost a
-- create twice as much).
INSERT INTO row_counts (name, shard, n) SELECT 'urls', shard, 0 FROM generate_series(0, 63) AS shard;

CREATE FUNCTION urls_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE row_counts SET n = 0 WHERE name = 'urls';
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE row_counts SET n = n + changed.k FROM (SELECT count(*) AS k FROM added) AS changed
        WHERE changed.k > 0 AND name = 'urls' AND shard = pg_backend_pid() % 64;
    ELSE
        UPDATE row_counts SET n = n - changed.k FROM (SELECT count(*) AS k FROM removed) AS changed
        WHERE changed.k > 0 AND name = 'urls' AND shard = pg_backend_pid() % 64;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER urls_count_added AFTER INSERT ON urls
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION urls_count_change();
CREATE TRIGGER urls_count_removed AFTER DELETE ON urls
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION urls_count_change();
CREATE TRIGGER urls_count_truncated AFTER TRUNCATE ON urls
    FOR EACH STATEMENT EXECUTE FUNCTION urls_count_change();

-- The urls already there. The triggers' lock on the table holds off other writers until this
-- migration commits, so none is missed or counted twice.
UPDATE row_counts SET n = (SELECT count(*) FROM urls) WHERE name = 'urls' AND shard = 0;
