-- The number of urls, kept by every insert and delete in the same transaction, so that a list
-- of all urls reads its X-Total-Count from a few rows instead of counting the table: at
-- 60,000 urls a count took ~2 ms of PostgreSQL's CPU per list page, and through the stack
-- lists were the slowest class of the quest mix (BENCHMARKS.md, 2026-12-01, third round).
-- A list reads the sum in its own snapshot, so the total is exactly what count(*) would say.
-- Each backend adds to its own shard (pid modulo 16), so concurrent creates rarely wait for
-- one another's row. Statement triggers with transition tables: one update per statement,
-- however many rows (imports, moves). SQLite needs none of this: its count(*) of a table is
-- a walk of B-tree pages, microseconds.
CREATE TABLE row_counts (
    name  TEXT NOT NULL,
    shard INT NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (name, shard)
);

CREATE FUNCTION urls_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM row_counts WHERE name = 'urls';
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO row_counts (name, shard, n)
        SELECT 'urls', pg_backend_pid() % 16, count(*) FROM added HAVING count(*) > 0
        ON CONFLICT (name, shard) DO UPDATE SET n = row_counts.n + excluded.n;
    ELSE
        INSERT INTO row_counts (name, shard, n)
        SELECT 'urls', pg_backend_pid() % 16, -count(*) FROM removed HAVING count(*) > 0
        ON CONFLICT (name, shard) DO UPDATE SET n = row_counts.n + excluded.n;
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
INSERT INTO row_counts (name, shard, n) SELECT 'urls', 0, count(*) FROM urls;
